//! Known answers for THREAD output and message-ID parsing.

use super::*;

/// A nested tree for writing tables, flattened into [`Threads`] below.
struct N(Option<u32>, Vec<N>);

fn n(num: u32, children: Vec<N>) -> N {
    N(Some(num), children)
}

fn dummy(children: Vec<N>) -> N {
    N(None, children)
}

fn flatten(tops: Vec<N>) -> Threads {
    fn add(t: &mut Threads, node: N) -> usize {
        let children = node.1.into_iter().map(|c| add(t, c)).collect();
        t.nodes.push(ThreadEntry {
            num: node.0,
            children,
        });
        t.nodes.len() - 1
    }
    let mut t = Threads::default();
    for top in tops {
        let r = add(&mut t, top);
        t.roots.push(r);
    }
    t
}

#[test]
fn thread_output_shapes() {
    let cases = [
        (vec![], "* THREAD"),
        (vec![n(1, vec![])], "* THREAD (1)"),
        (
            vec![n(1, vec![n(2, vec![n(3, vec![])])])],
            "* THREAD (1 2 3)",
        ),
        (
            vec![n(1, vec![n(2, vec![]), n(3, vec![n(4, vec![])])])],
            "* THREAD (1 (2)(3 4))",
        ),
        (
            vec![dummy(vec![n(5, vec![]), n(6, vec![])]), n(7, vec![])],
            "* THREAD ((5)(6))(7)",
        ),
        (
            vec![n(1, vec![n(2, vec![n(4, vec![]), n(3, vec![])])])],
            "* THREAD (1 2 (4)(3))",
        ),
    ];
    for (threads, want) in cases {
        let mut out = Vec::new();
        write_threads(&flatten(threads), &mut out);
        assert_eq!(String::from_utf8_lossy(&out), want);
    }
}

#[test]
fn message_id_table() {
    let cases = [
        ("<a@b>", vec!["a@b"]),
        ("<a@b> <c@d>", vec!["a@b", "c@d"]),
        ("  <a@b>\t(comment) <no-at> <c @ d>", vec!["a@b", "c@d"]),
        ("<a@b", vec![]),
        ("<<a@b>", vec!["a@b"]),
        ("", vec![]),
    ];
    for (input, want) in cases {
        assert_eq!(message_ids(input), want, "{input:?}");
    }
}

#[test]
fn a_reply_chain_as_long_as_the_mailbox_needs_no_recursion() {
    let depth = 200_000;
    let mut t = Threads::default();
    for i in 0..depth {
        t.nodes.push(ThreadEntry {
            num: Some(i as u32 + 1),
            children: if i + 1 < depth { vec![i + 1] } else { vec![] },
        });
    }
    t.roots.push(0);
    let mut out = Vec::new();
    write_threads(&t, &mut out);
    let text = String::from_utf8(out).expect("ascii");
    assert!(text.starts_with("* THREAD (1 2 3 "));
    assert!(text.ends_with(" 199999 200000)"));
}

#[test]
fn a_long_reply_chain_threads_quickly_and_without_recursion() {
    let depth = 100_000u32;
    let msgs: Vec<Msg> = (1..=depth)
        .map(|i| Msg {
            num: i,
            uid: i,
            date: i64::from(i),
            header: format!(
                "Message-ID: <{i}@x>\nReferences: <{}@x>\nSubject: Re: chain\n\n",
                i - 1
            )
            .into_bytes(),
        })
        .collect();
    let started = std::time::Instant::now();
    let t = references(&msgs);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // <0@x> is missing: a dummy with one child gives way to message 1.
    assert_eq!(t.roots.len(), 1);
    let mut out = Vec::new();
    write_threads(&t, &mut out);
    assert!(out.starts_with(b"* THREAD (1 2 3 "));
    assert!(out.ends_with(b" 100000)"));
}
