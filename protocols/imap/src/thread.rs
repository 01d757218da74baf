//! THREAD (RFC 5256 section 3): ORDEREDSUBJECT and REFERENCES over the result of a search,
//! with the tie-breaks and the output shape of Dovecot 2.3 (so clients see the same trees
//! on either server): dates are sent dates falling back to INTERNALDATE, equal dates order
//! by UID, a dummy parent survives only at the top with two or more children.

use std::collections::HashMap;

use roost_storage::MessageInfo;

use crate::search::{SearchEnv, SearchError};
use crate::sort::{base_subject, read_header, sent_time, sort_text, subject};

#[cfg(test)]
mod tests;

/// `thread-alg` (RFC 5256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadAlgorithm {
    /// `ORDEREDSUBJECT`: groups by base subject, ordered by sent date.
    OrderedSubject,
    /// `REFERENCES`: parent/child links from References/In-Reply-To, then subject merging.
    References,
}

/// One node of a thread tree: a message number (sequence number or UID), or a dummy
/// (None) standing for a missing parent of its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadNode {
    /// The message, None for a dummy.
    pub num: Option<u32>,
    /// Replies, in thread order.
    pub children: Vec<ThreadNode>,
}

/// What threading needs of one message.
struct Msg {
    /// The number reported (sequence number or UID).
    num: u32,
    uid: u32,
    /// Sent date, INTERNALDATE when the Date: header is missing or unreadable.
    date: i64,
    /// The raw header, for Message-ID/References/In-Reply-To and Subject.
    header: Vec<u8>,
}

/// The threads of the messages `seqs` (sequence numbers into `env.messages`), numbered by
/// UID when `uid`, else by sequence number.
pub fn thread(
    env: &SearchEnv<'_>,
    seqs: &[u32],
    algorithm: ThreadAlgorithm,
    uid: bool,
) -> Result<Vec<ThreadNode>, SearchError> {
    let mut msgs = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        let Some(info) = env.messages.get(seq as usize - 1) else {
            continue;
        };
        msgs.push(load(env, seq, info, uid)?);
    }
    Ok(match algorithm {
        ThreadAlgorithm::OrderedSubject => ordered_subject(&msgs),
        ThreadAlgorithm::References => references(&msgs),
    })
}

fn load(env: &SearchEnv<'_>, seq: u32, info: &MessageInfo, uid: bool) -> Result<Msg, SearchError> {
    let header = read_header(env.mailbox, info.uid)?.unwrap_or_default();
    let date = sent_time(&header)
        .filter(|&t| t != 0)
        .unwrap_or(info.internal_date);
    Ok(Msg {
        num: if uid { info.uid } else { seq },
        uid: info.uid,
        date,
        header,
    })
}

fn leaf(num: u32) -> ThreadNode {
    ThreadNode {
        num: Some(num),
        children: Vec::new(),
    }
}

/// ORDEREDSUBJECT: sort by (base subject, sent date), cut into runs of one base subject;
/// each run is its first message with the others as its children; runs ordered by the
/// date of their first message.
fn ordered_subject(msgs: &[Msg]) -> Vec<ThreadNode> {
    let mut rows: Vec<(String, i64, u32, u32)> = msgs
        .iter()
        .map(|m| {
            let base = sort_text(&base_subject(&subject(&m.header)).0);
            (base, m.date, m.uid, m.num)
        })
        .collect();
    rows.sort();
    let mut threads: Vec<(i64, ThreadNode)> = Vec::new();
    let mut prev: Option<&str> = None;
    for (base, date, _, num) in &rows {
        if prev == Some(base.as_str())
            && let Some((_, t)) = threads.last_mut()
        {
            t.children.push(leaf(*num));
        } else {
            threads.push((*date, leaf(*num)));
        }
        prev = Some(base.as_str());
    }
    threads.sort_by_key(|(date, t)| (*date, t.num));
    threads.into_iter().map(|(_, t)| t).collect()
}

/// Message IDs (`<left@right>`, whitespace removed) in a header value, in order.
fn message_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find(['>', '<']) else {
            break;
        };
        let id: String = after[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if after[end..].starts_with('>') && id.contains('@') {
            out.push(id);
        }
        rest = &after[end..];
        if rest.starts_with('>') {
            rest = &rest[1..];
        }
    }
    out
}

fn first_header(header: &[u8], name: &str) -> String {
    roost_mime::header_values(header, name)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// The containers of the REFERENCES algorithm: a message or a dummy, linked by index.
#[derive(Default)]
struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Forest {
    nodes: Vec<Container>,
}

impl Forest {
    fn is_ancestor(&self, a: usize, mut b: usize) -> bool {
        // Whether `a` is `b` or above it.
        loop {
            if a == b {
                return true;
            }
            match self.nodes[b].parent {
                Some(p) => b = p,
                None => return false,
            }
        }
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }
}

/// REFERENCES (RFC 5256 section 3, steps 1-6).
fn references(msgs: &[Msg]) -> Vec<ThreadNode> {
    let mut f = Forest { nodes: Vec::new() };
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut lookup = |f: &mut Forest, id: &str| -> usize {
        *by_id.entry(id.to_string()).or_insert_with(|| {
            f.nodes.push(Container::default());
            f.nodes.len() - 1
        })
    };
    // (1) Links.
    for (i, m) in msgs.iter().enumerate() {
        let own = message_ids(&first_header(&m.header, "Message-ID"))
            .into_iter()
            .next();
        let me = match own {
            Some(id) => {
                let c = lookup(&mut f, &id);
                if f.nodes[c].msg.is_some() {
                    // A duplicate Message-ID: this one is a message of its own.
                    f.nodes.push(Container::default());
                    f.nodes.len() - 1
                } else {
                    c
                }
            }
            None => {
                f.nodes.push(Container::default());
                f.nodes.len() - 1
            }
        };
        f.nodes[me].msg = Some(i);
        let mut refs = message_ids(&first_header(&m.header, "References"));
        if refs.is_empty() {
            refs = message_ids(&first_header(&m.header, "In-Reply-To"));
            refs.truncate(1);
        }
        let refs: Vec<usize> = refs.iter().map(|id| lookup(&mut f, id)).collect();
        for w in refs.windows(2) {
            let (p, c) = (w[0], w[1]);
            if f.nodes[c].parent.is_none() && !f.is_ancestor(c, p) {
                f.link(p, c);
            }
        }
        // The message's parent is its last reference, whatever it was before.
        f.unlink(me);
        if let Some(&p) = refs.last()
            && !f.is_ancestor(me, p)
        {
            f.link(p, me);
        }
    }
    // (2)-(3) Roots; dummies below the top are replaced by their children, which go to
    // the nearest real ancestor or else the top dummy.
    let roots: Vec<usize> = (0..f.nodes.len())
        .filter(|&c| f.nodes[c].parent.is_none())
        .collect();
    let mut tree: Vec<Root> = Vec::new();
    for r in roots {
        let mut children = Vec::new();
        collect_real(&f, r, &mut children);
        let node = Tmp {
            msg: f.nodes[r].msg,
            children,
        };
        if node.msg.is_none() && node.children.is_empty() {
            continue;
        }
        tree.push(Root::new(node));
    }
    // (4) Sort the top; a dummy with one child gives way to it.
    for r in &mut tree {
        r.settle(msgs);
    }
    sort_roots(&mut tree);
    // (5) Merge threads of one base subject.
    let mut table: HashMap<String, usize> = HashMap::new();
    let mut parent_of: Vec<Option<usize>> = vec![None; tree.len()];
    for i in 0..tree.len() {
        let first = match tree[i].node.msg {
            Some(m) => m,
            None => tree[i].node.children[0].msg.unwrap_or(0),
        };
        let (base, reply) = base_subject(&subject(&msgs[first].header));
        let base = sort_text(&base);
        tree[i].reply = reply;
        if base.is_empty() {
            continue;
        }
        match table.get(&base).copied() {
            None => {
                table.insert(base, i);
            }
            Some(h) => {
                let hd = tree[h].node.msg.is_none();
                let cd = tree[i].node.msg.is_none();
                if !hd && (cd || (tree[h].reply && !reply)) {
                    parent_of[h] = Some(i);
                    table.insert(base, i);
                } else {
                    parent_of[i] = Some(h);
                }
            }
        }
    }
    let mut changed = false;
    let count = tree.len();
    for i in 0..count {
        if parent_of[i].is_none() || tree[i].ignore {
            continue;
        }
        changed = true;
        let mut top = i;
        while let Some(p) = parent_of[top] {
            top = p;
        }
        let cur_dummy = tree[i].node.msg.is_none();
        let top_dummy = tree[top].node.msg.is_none();
        let cur = std::mem::take(&mut tree[i].node.children);
        if cur_dummy {
            tree[top].node.children.extend(cur);
            tree[i].ignore = true;
        } else if top_dummy || (tree[i].reply && !tree[top].reply) {
            let node = Tmp {
                msg: tree[i].node.msg,
                children: cur,
            };
            tree[top].node.children.push(node);
            tree[i].ignore = true;
        } else {
            let node_i = Tmp {
                msg: tree[i].node.msg,
                children: cur,
            };
            let node_top = Tmp {
                msg: tree[top].node.msg,
                children: std::mem::take(&mut tree[top].node.children),
            };
            tree[top].ignore = true;
            tree[i].ignore = true;
            parent_of[top] = Some(tree.len());
            parent_of.push(None);
            tree.push(Root::new(Tmp {
                msg: None,
                children: vec![node_top, node_i],
            }));
        }
    }
    tree.retain(|r| !r.ignore);
    if changed {
        for r in &mut tree {
            r.settle(msgs);
        }
        sort_roots(&mut tree);
    }
    // (6) Children in date order at every level.
    tree.into_iter().map(|r| finish(r.node, msgs)).collect()
}

/// A tree under construction: message indexes into `msgs`.
#[derive(Default)]
struct Tmp {
    msg: Option<usize>,
    children: Vec<Tmp>,
}

struct Root {
    node: Tmp,
    /// Sort key: date and UID of the message, or of a dummy's first child.
    key: (i64, u32),
    reply: bool,
    ignore: bool,
}

impl Root {
    fn new(node: Tmp) -> Root {
        Root {
            node,
            key: (0, 0),
            reply: false,
            ignore: false,
        }
    }

    /// Computes the sort key; a dummy left with one child is replaced by it.
    fn settle(&mut self, msgs: &[Msg]) {
        if self.node.msg.is_none() {
            sort_children(&mut self.node.children, msgs);
            if self.node.children.len() == 1
                && let Some(only) = self.node.children.pop()
            {
                self.node = only;
            }
        }
        let m = match self.node.msg {
            Some(m) => m,
            None => self.node.children.first().and_then(|c| c.msg).unwrap_or(0),
        };
        self.key = msgs.get(m).map_or((0, 0), |m| (m.date, m.uid));
    }
}

fn sort_roots(tree: &mut [Root]) {
    tree.sort_by_key(|r| r.key);
}

fn sort_children(children: &mut [Tmp], msgs: &[Msg]) {
    children.sort_by_key(|c| c.msg.and_then(|m| msgs.get(m)).map(|m| (m.date, m.uid)));
}

/// The messages below container `c`, dummies replaced by their own children.
fn collect_real(f: &Forest, c: usize, out: &mut Vec<Tmp>) {
    for &child in &f.nodes[c].children {
        match f.nodes[child].msg {
            Some(m) => {
                let mut children = Vec::new();
                collect_real(f, child, &mut children);
                out.push(Tmp {
                    msg: Some(m),
                    children,
                });
            }
            None => collect_real(f, child, out),
        }
    }
}

fn finish(mut node: Tmp, msgs: &[Msg]) -> ThreadNode {
    sort_children(&mut node.children, msgs);
    ThreadNode {
        num: node.msg.and_then(|m| msgs.get(m)).map(|m| m.num),
        children: node.children.into_iter().map(|c| finish(c, msgs)).collect(),
    }
}

/// `thread-data = "THREAD" [SP 1*thread-list]`, written as Dovecot writes it: a lone
/// child continues its parent's list (`(1 2 3)`), siblings each get their own `(...)`.
pub fn write_threads(threads: &[ThreadNode], out: &mut Vec<u8>) {
    out.extend_from_slice(b"* THREAD");
    if !threads.is_empty() {
        out.push(b' ');
    }
    for t in threads {
        write_list(t, out);
    }
}

/// One `thread-list`: `(` the node, then its descendants `)`.
fn write_list(node: &ThreadNode, out: &mut Vec<u8>) {
    out.push(b'(');
    if let Some(n) = node.num {
        out.extend_from_slice(n.to_string().as_bytes());
        if !node.children.is_empty() {
            out.push(b' ');
        }
    }
    write_children(&node.children, out);
    out.push(b')');
}

fn write_children(children: &[ThreadNode], out: &mut Vec<u8>) {
    if let [only] = children {
        if let Some(n) = only.num {
            out.extend_from_slice(n.to_string().as_bytes());
        }
        if !only.children.is_empty() {
            out.push(b' ');
            write_children(&only.children, out);
        }
        return;
    }
    for c in children {
        write_list(c, out);
    }
}
