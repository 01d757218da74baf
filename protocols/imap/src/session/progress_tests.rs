//! INPROGRESS (RFC 9585) for FETCH, STORE, SORT and THREAD, byte for byte through the progress sink: one
//! line per message with a zero delay and interval, none for the FETCHes NOTIFY sends
//! between commands (no command, no tag).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ImapSettings;
use super::ext_tests::{Fx, talk, text};

#[test]
fn fetch_and_store_report_progress_under_their_tag() {
    let fx = Fx::new();
    fx.deliver("INBOX", 3);
    let mut a = fx.session(ImapSettings {
        inprogress_after: Duration::ZERO,
        inprogress_interval: Duration::ZERO,
        ..ImapSettings::default()
    });
    let sent = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&sent);
    a.set_progress_sink(Arc::new(move |line| {
        sink.lock().expect("sink").extend_from_slice(&line)
    }));
    let take =
        || String::from_utf8(std::mem::take(&mut *sent.lock().expect("sink"))).expect("utf8");
    talk(&mut a, b"s SELECT INBOX\r\n");
    take();
    let lines = |tag: &str, total: usize| {
        (0..total)
            .map(|n| format!("* OK [INPROGRESS (\"{tag}\" {n} {total})] Still working\r\n"))
            .collect::<String>()
    };
    assert!(talk(&mut a, b"f FETCH 1:* (FLAGS)\r\n").ends_with("f OK FETCH completed\r\n"));
    assert_eq!(take(), lines("f", 3));
    assert!(talk(&mut a, b"u UID FETCH 2:3 (UID)\r\n").ends_with("u OK UID FETCH completed\r\n"));
    assert_eq!(take(), lines("u", 2));
    assert!(
        talk(&mut a, b"t STORE 1:* +FLAGS (\\Flagged)\r\n").ends_with("t OK STORE completed\r\n")
    );
    assert_eq!(take(), lines("t", 3));
    assert!(
        talk(&mut a, b"o UID SORT (SUBJECT) UTF-8 ALL\r\n")
            .ends_with("o OK UID SORT completed\r\n")
    );
    assert_eq!(take(), lines("o", 3));
    assert!(
        talk(&mut a, b"h THREAD REFERENCES UTF-8 ALL\r\n").ends_with("h OK THREAD completed\r\n")
    );
    assert_eq!(take(), lines("h", 3));
    // Between commands: NOTIFY's MessageNew FETCH is nobody's command.
    talk(
        &mut a,
        b"n NOTIFY SET (selected (MessageNew (UID) MessageExpunge))\r\n",
    );
    take();
    fx.deliver("INBOX", 1);
    assert!(text(a.notify_update()).contains("* 4 FETCH (UID 4)\r\n"));
    assert_eq!(take(), "");
}
