//! LIST (with LIST-EXTENDED selection and return options, CHILDREN, SPECIAL-USE and
//! LIST-STATUS) and LSUB.

use std::collections::BTreeMap;

use roost_storage::MailboxName;

use super::{CmdError, CmdResult, ImapSession, ok};
use crate::response::{Data, ListEntry, ListExtended, MailboxAttr};
use crate::types::{ListReturn, ListSelect, StatusItem};

/// What is known about one name while building the answer.
#[derive(Default, Clone)]
struct Node {
    exists: bool,
    listed: bool,
    subscribed: bool,
    children: bool,
    special: Option<String>,
}

impl ImapSession {
    /// `reference` + `pattern` in storage form: UTF-8, with INBOX's case normalised.
    fn full_pattern(&self, reference: &str, pattern: &str) -> String {
        let joined = format!("{reference}{pattern}");
        let decoded = if self.utf8_names() {
            joined
        } else {
            // Wildcards are ASCII, so they survive decoding; an undecodable pattern is
            // matched as it was sent.
            roost_storage::maildir::mutf7::decode(&joined).unwrap_or(joined)
        };
        match decoded.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("INBOX") => format!("INBOX{}", &decoded[5..]),
            _ => decoded,
        }
    }

    fn tree(&mut self) -> Result<BTreeMap<String, Node>, CmdError> {
        let store = &self.user()?.store;
        let mut tree: BTreeMap<String, Node> = BTreeMap::new();
        for e in store.list()? {
            let n = tree.entry(e.name.as_str().to_string()).or_default();
            n.exists = e.selectable;
            n.listed = true;
            n.special = e.special_use;
            if let Some(p) = e.name.parent() {
                tree.entry(p.as_str().to_string()).or_default().children = true;
            }
        }
        for s in store.subscriptions()? {
            // Ancestors too, so RECURSIVEMATCH can report a parent of a subscribed child.
            let mut at = s.as_str();
            while let Some((parent, _)) = at.rsplit_once('.') {
                tree.entry(parent.to_string()).or_default();
                at = parent;
            }
            tree.entry(s).or_default().subscribed = true;
        }
        Ok(tree)
    }

    pub(super) fn list(
        &mut self,
        select: Vec<ListSelect>,
        reference: &str,
        patterns: &[String],
        ret: Vec<ListReturn>,
    ) -> CmdResult {
        if patterns.len() == 1 && patterns[0].is_empty() {
            // RFC 9051 6.3.9: the hierarchy delimiter and root of the reference.
            self.data(Data::List(ListEntry {
                attributes: vec![MailboxAttr::NoSelect],
                delimiter: Some('.'),
                mailbox: String::new(),
                extended: Vec::new(),
            }));
            return ok("LIST completed");
        }
        let only_subscribed = select.contains(&ListSelect::Subscribed);
        let recursive = select.contains(&ListSelect::RecursiveMatch);
        if recursive && !only_subscribed && !select.contains(&ListSelect::SpecialUse) {
            // RFC 5258 3: RECURSIVEMATCH alone is meaningless.
            return Err(CmdError::Bad(
                "RECURSIVEMATCH needs another selection option".into(),
            ));
        }
        let only_special = select.contains(&ListSelect::SpecialUse);
        let show_subscribed = only_subscribed || ret.contains(&ListReturn::Subscribed);
        let status: Option<Vec<StatusItem>> = ret.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        let full: Vec<String> = patterns
            .iter()
            .map(|p| self.full_pattern(reference, p))
            .collect();
        let tree = self.tree()?;
        // The selection criteria (RFC 5258 section 3): subscribed and/or special-use; plain
        // LIST lists only mailboxes that exist or have children that do.
        let meets = |n: &Node| {
            (if only_subscribed {
                n.subscribed
            } else {
                n.listed
            }) && (!only_special || n.special.is_some())
        };
        // CHILDINFO can only name SUBSCRIBED (the one criterion with an extended item here).
        let childinfo = recursive && only_subscribed && !only_special;
        let mut entries = Vec::new();
        for (name, node) in &tree {
            if !full.iter().any(|p| wildcard_match(p, name)) {
                continue;
            }
            let (child_meets, child_unlisted) = if childinfo {
                let prefix = format!("{name}.");
                tree.range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .filter(|(_, n)| meets(n))
                    .fold((false, false), |(_, unlisted), (k, _)| {
                        (true, unlisted || !full.iter().any(|p| wildcard_match(p, k)))
                    })
            } else {
                (false, false)
            };
            // A parent that does not meet the criteria itself is returned only for a
            // matching descendant the patterns leave out: "servers SHOULD suppress redundant
            // LIST responses" (RFC 5258 section 3, rule 2; example 9 leaves out baz2).
            if !meets(node) && !child_unlisted {
                continue;
            }
            let mut attrs = Vec::new();
            if !node.listed {
                attrs.push(MailboxAttr::NonExistent);
            } else if !node.exists {
                attrs.push(MailboxAttr::NoSelect);
            }
            if node.listed {
                attrs.push(if node.children {
                    MailboxAttr::HasChildren
                } else {
                    MailboxAttr::HasNoChildren
                });
            }
            if show_subscribed && node.subscribed {
                attrs.push(MailboxAttr::Subscribed);
            }
            // CREATE-SPECIAL-USE may give one mailbox several uses (space separated).
            let uses = node.special.as_deref().unwrap_or_default();
            attrs.extend(uses.split_whitespace().filter_map(special_attr));
            // Whether or not the mailbox itself matches (RFC 9051 6.3.9.1 table).
            let extended = if child_meets {
                vec![ListExtended::ChildInfoSubscribed]
            } else {
                Vec::new()
            };
            entries.push((name.clone(), attrs, node.exists, extended));
        }
        if !only_subscribed && !only_special {
            for (name, attrs) in self.alias_entries(&full) {
                if !tree.contains_key(&name) {
                    entries.push((name, attrs, false, Vec::new()));
                }
            }
        }
        for (name, attrs, exists, extended) in entries {
            self.data(Data::List(ListEntry {
                attributes: attrs,
                delimiter: Some('.'),
                mailbox: self.wire_name(&name),
                extended,
            }));
            if let (Some(items), true) = (&status, exists) {
                let Ok(mb) = MailboxName::new(&name) else {
                    continue;
                };
                // RFC 5819: a mailbox whose STATUS fails is still listed, without STATUS.
                if let Ok(d) = self.status_data(&mb, items) {
                    self.data(d);
                }
            }
        }
        ok("LIST completed")
    }

    pub(super) fn lsub(&mut self, reference: &str, pattern: &str) -> CmdResult {
        let full = self.full_pattern(reference, pattern);
        let tree = self.tree()?;
        let mut out = Vec::new();
        for (name, node) in &tree {
            if node.subscribed && wildcard_match(&full, name) {
                let attrs = if node.exists {
                    Vec::new()
                } else {
                    vec![MailboxAttr::NoSelect]
                };
                out.push((name.clone(), attrs));
            }
        }
        for (name, attrs) in out {
            self.data(Data::Lsub(ListEntry {
                attributes: attrs,
                delimiter: Some('.'),
                mailbox: self.wire_name(&name),
                extended: Vec::new(),
            }));
        }
        ok("LSUB completed")
    }
}

fn special_attr(s: &str) -> Option<MailboxAttr> {
    Some(match s.to_ascii_lowercase().as_str() {
        "\\all" => MailboxAttr::All,
        "\\archive" => MailboxAttr::Archive,
        "\\drafts" => MailboxAttr::Drafts,
        "\\flagged" => MailboxAttr::Flagged,
        "\\junk" => MailboxAttr::Junk,
        "\\sent" => MailboxAttr::Sent,
        "\\trash" => MailboxAttr::Trash,
        _ => return None,
    })
}

/// `*` matches anything, `%` anything but the hierarchy delimiter (RFC 9051 6.3.9).
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with memo over (pattern index, name index): linear-ish and no
    // recursion depth for hostile patterns.
    let mut reach = vec![false; n.len() + 1];
    reach[0] = true;
    for &c in &p {
        let mut next = vec![false; n.len() + 1];
        match c {
            '*' | '%' => {
                let mut on = false;
                for j in 0..=n.len() {
                    if reach[j] {
                        on = true;
                    }
                    next[j] = on;
                    if c == '%' && j < n.len() && n[j] == '.' {
                        on = false;
                    }
                }
            }
            _ => {
                for j in 0..n.len() {
                    if reach[j] && n[j] == c {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[n.len()]
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        for (p, n, want) in [
            ("*", "a.b.c", true),
            ("%", "a", true),
            ("%", "a.b", false),
            ("a.%", "a.b", true),
            ("a.%", "a.b.c", false),
            ("a*", "a.b.c", true),
            ("a%c", "abc", true),
            ("a%c", "a.c", false),
            ("INBOX", "INBOX", true),
            ("", "a", false),
            ("%.%", "a.b", true),
            ("*b", "a.b", true),
        ] {
            assert_eq!(wildcard_match(p, n), want, "{p} {n}");
        }
    }
}
