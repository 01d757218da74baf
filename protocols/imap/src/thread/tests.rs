//! Known answers for THREAD output and message-ID parsing.

use super::*;

fn n(num: u32, children: Vec<ThreadNode>) -> ThreadNode {
    ThreadNode {
        num: Some(num),
        children,
    }
}

fn dummy(children: Vec<ThreadNode>) -> ThreadNode {
    ThreadNode {
        num: None,
        children,
    }
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
        write_threads(&threads, &mut out);
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
