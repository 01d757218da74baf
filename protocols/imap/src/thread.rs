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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadEntry {
    /// The message, None for a dummy.
    pub num: Option<u32>,
    /// Replies, as indexes into [`Threads::nodes`], in thread order.
    pub children: Vec<usize>,
}

/// The result of THREAD: trees kept flat (nodes by index), so that a reply chain as long
/// as the mailbox costs no recursion anywhere, not even when it is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Threads {
    /// Every node.
    pub nodes: Vec<ThreadEntry>,
    /// The top of each thread, in thread order.
    pub roots: Vec<usize>,
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
) -> Result<Threads, SearchError> {
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

/// ORDEREDSUBJECT: sort by (base subject, sent date), cut into runs of one base subject;
/// each run is its first message with the others as its children; runs ordered by the
/// date of their first message.
fn ordered_subject(msgs: &[Msg]) -> Threads {
    let mut rows: Vec<(String, i64, u32, u32)> = msgs
        .iter()
        .map(|m| {
            let base = sort_text(&base_subject(&subject(&m.header)).0);
            (base, m.date, m.uid, m.num)
        })
        .collect();
    rows.sort();
    let mut out = Threads::default();
    let mut tops: Vec<(i64, u32, usize)> = Vec::new();
    let mut prev: Option<&str> = None;
    for (base, date, _, num) in &rows {
        out.nodes.push(ThreadEntry {
            num: Some(*num),
            children: Vec::new(),
        });
        let me = out.nodes.len() - 1;
        match tops.last() {
            Some(&(_, _, top)) if prev == Some(base.as_str()) => out.nodes[top].children.push(me),
            _ => tops.push((*date, *num, me)),
        }
        prev = Some(base.as_str());
    }
    tops.sort_by_key(|&(date, num, _)| (date, num));
    out.roots = tops.into_iter().map(|(_, _, n)| n).collect();
    out
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
    /// Whether `a` is `b` or above it.
    fn is_ancestor(&self, a: usize, mut b: usize) -> bool {
        // Without children `a` is above nothing: the common case of a new message costs
        // no walk, so a long reply chain threads in linear time.
        if a != b && self.nodes[a].children.is_empty() {
            return false;
        }
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
fn references(msgs: &[Msg]) -> Threads {
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
    let mut t = Tree::default();
    let mut tree: Vec<Root> = Vec::new();
    for r in (0..f.nodes.len()).filter(|&c| f.nodes[c].parent.is_none()) {
        let top = t.add(f.nodes[r].msg);
        let mut stack = vec![(r, top)];
        while let Some((c, into)) = stack.pop() {
            for &child in &f.nodes[c].children {
                match f.nodes[child].msg {
                    Some(m) => {
                        let n = t.add(Some(m));
                        t.nodes[into].children.push(n);
                        stack.push((child, n));
                    }
                    None => stack.push((child, into)),
                }
            }
        }
        if t.nodes[top].msg.is_some() || !t.nodes[top].children.is_empty() {
            tree.push(Root::new(top));
        }
    }
    // (4) Sort the top; a dummy with one child gives way to it.
    for r in &mut tree {
        r.settle(&mut t, msgs);
    }
    tree.sort_by_key(|r| r.key);
    // (5) Merge threads of one base subject.
    let mut table: HashMap<String, usize> = HashMap::new();
    let mut parent_of: Vec<Option<usize>> = vec![None; tree.len()];
    for i in 0..tree.len() {
        let node = &t.nodes[tree[i].node];
        let first = match node.msg {
            Some(m) => m,
            None => node
                .children
                .first()
                .and_then(|&c| t.nodes[c].msg)
                .unwrap_or(0),
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
                let hd = t.is_dummy(tree[h].node);
                let cd = t.is_dummy(tree[i].node);
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
    for i in 0..tree.len() {
        if parent_of[i].is_none() || tree[i].ignore {
            continue;
        }
        changed = true;
        let mut top = i;
        while let Some(p) = parent_of[top] {
            top = p;
        }
        let (cur, top_node) = (tree[i].node, tree[top].node);
        if t.is_dummy(cur) {
            // Both dummies: their children become siblings.
            let kids = std::mem::take(&mut t.nodes[cur].children);
            t.nodes[top_node].children.extend(kids);
        } else if t.is_dummy(top_node) || (tree[i].reply && !tree[top].reply) {
            t.nodes[top_node].children.push(cur);
        } else {
            let dummy = t.add(None);
            t.nodes[dummy].children = vec![top_node, cur];
            tree[top].ignore = true;
            parent_of[top] = Some(tree.len());
            parent_of.push(None);
            tree.push(Root::new(dummy));
        }
        tree[i].ignore = true;
    }
    tree.retain(|r| !r.ignore);
    if changed {
        for r in &mut tree {
            r.settle(&mut t, msgs);
        }
        tree.sort_by_key(|r| r.key);
    }
    // (6) Children in date order at every level.
    for n in 0..t.nodes.len() {
        let mut kids = std::mem::take(&mut t.nodes[n].children);
        kids.sort_by_key(|&c| t.date_key(c, msgs));
        t.nodes[n].children = kids;
    }
    Threads {
        nodes: t
            .nodes
            .into_iter()
            .map(|n| ThreadEntry {
                num: n.msg.and_then(|m| msgs.get(m)).map(|m| m.num),
                children: n.children,
            })
            .collect(),
        roots: tree.into_iter().map(|r| r.node).collect(),
    }
}

/// Trees under construction: message indexes into `msgs`, children by node index.
#[derive(Default)]
struct Tree {
    nodes: Vec<TreeNode>,
}

#[derive(Default)]
struct TreeNode {
    msg: Option<usize>,
    children: Vec<usize>,
}

impl Tree {
    fn add(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(TreeNode {
            msg,
            children: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn is_dummy(&self, n: usize) -> bool {
        self.nodes[n].msg.is_none()
    }

    /// Sent date and UID of a message node (dummies sort first; they have none).
    fn date_key(&self, n: usize, msgs: &[Msg]) -> Option<(i64, u32)> {
        self.nodes[n]
            .msg
            .and_then(|m| msgs.get(m))
            .map(|m| (m.date, m.uid))
    }
}

struct Root {
    node: usize,
    /// Sort key: date and UID of the message, or of a dummy's first child.
    key: (i64, u32),
    reply: bool,
    ignore: bool,
}

impl Root {
    fn new(node: usize) -> Root {
        Root {
            node,
            key: (0, 0),
            reply: false,
            ignore: false,
        }
    }

    /// Computes the sort key; a dummy left with one child is replaced by it.
    fn settle(&mut self, t: &mut Tree, msgs: &[Msg]) {
        if t.is_dummy(self.node) {
            let mut kids = std::mem::take(&mut t.nodes[self.node].children);
            kids.sort_by_key(|&c| t.date_key(c, msgs));
            if let [only] = kids[..] {
                self.node = only;
            } else {
                t.nodes[self.node].children = kids;
            }
        }
        let n = &t.nodes[self.node];
        let first = match n.msg {
            Some(_) => Some(self.node),
            None => n.children.first().copied(),
        };
        self.key = first.and_then(|f| t.date_key(f, msgs)).unwrap_or((0, 0));
    }
}

/// `thread-data = "THREAD" [SP 1*thread-list]`, written as Dovecot writes it: a lone
/// child continues its parent's list (`(1 2 3)`), siblings each get their own `(...)`.
/// Iterative, so that no thread is too deep to write.
pub fn write_threads(threads: &Threads, out: &mut Vec<u8>) {
    enum Step {
        List(usize),
        Children(usize),
        Close,
    }
    out.extend_from_slice(b"* THREAD");
    if !threads.roots.is_empty() {
        out.push(b' ');
    }
    let node = |n: usize| threads.nodes.get(n);
    let mut stack: Vec<Step> = threads.roots.iter().rev().map(|&r| Step::List(r)).collect();
    while let Some(step) = stack.pop() {
        match step {
            Step::List(n) => {
                let Some(e) = node(n) else { continue };
                out.push(b'(');
                if let Some(num) = e.num {
                    out.extend_from_slice(num.to_string().as_bytes());
                    if !e.children.is_empty() {
                        out.push(b' ');
                    }
                }
                stack.push(Step::Close);
                stack.push(Step::Children(n));
            }
            Step::Children(n) => {
                let Some(e) = node(n) else { continue };
                if let [only] = e.children[..] {
                    let Some(c) = node(only) else { continue };
                    if let Some(num) = c.num {
                        out.extend_from_slice(num.to_string().as_bytes());
                    }
                    if !c.children.is_empty() {
                        out.push(b' ');
                        stack.push(Step::Children(only));
                    }
                } else {
                    stack.extend(e.children.iter().rev().map(|&c| Step::List(c)));
                }
            }
            Step::Close => out.push(b')'),
        }
    }
}
