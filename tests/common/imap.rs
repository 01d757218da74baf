//! A raw IMAP client for end-to-end tests: one command at a time over a socket, every
//! answer line kept so tests can compare exact bytes.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::{Server, connect, read_line, send};

/// Every line up to and including the one tagged `tag`; fails the test at EOF.
pub fn answer(s: &mut impl Read, tag: &str) -> Vec<String> {
    let done = format!("{tag} ");
    let mut lines = Vec::new();
    loop {
        let l = read_line(s).unwrap_or_else(|| panic!("EOF before {tag}: {lines:?}"));
        let last = l.starts_with(&done);
        lines.push(l);
        if last {
            return lines;
        }
    }
}

/// Sends `tag text` and returns every line up to and including its tagged answer.
pub fn cmd(s: &mut (impl Read + Write), tag: &str, text: &str) -> Vec<String> {
    send(s, &format!("{tag} {text}\r\n"));
    answer(s, tag)
}

/// [`cmd`] under tag `t`, failing the test unless the tagged answer is OK.
pub fn ok(s: &mut (impl Read + Write), text: &str) -> Vec<String> {
    let r = cmd(s, "t", text);
    assert!(
        r.last().is_some_and(|l| l.starts_with("t OK")),
        "{text}: {r:?}"
    );
    r
}

/// A plain IMAP session on `server`, logged in as `user` with password `secret`.
pub fn login(server: &Server, user: &str) -> TcpStream {
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).expect("greeting");
    let r = cmd(&mut s, "l", &format!("LOGIN {user} secret"));
    assert!(r.last().is_some_and(|l| l.starts_with("l OK")), "{r:?}");
    s
}
