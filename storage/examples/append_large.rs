//! Time delivering into a large mailbox: each new message's UID goes into
//! `dovecot-uidlist`, which lists every message of the mailbox.
//! Run by hand: `cargo run --release -p roost-storage --example append_large -- 100000 200`.
//! Benchmarks against Dovecot live in the benchmark tool; this only checks the engine alone.

use std::time::{Duration, Instant};

use roost_storage::{MailboxName, MailboxOptions, Store, StoreConfig};

mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let appends: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let base = std::path::PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/tmp/roost-append-large".into()),
    );
    let root = common::maildir_with(&base, n);
    let body = common::message_body();
    let cfg = StoreConfig {
        mail_path: format!("{}/{{user}}/Maildir", base.display()),
        // The defaults: every delivery is durable before it is acknowledged.
        mailbox: MailboxOptions::default(),
        rescan_interval: Duration::from_secs(3600),
        autocreate: false,
        special_use: vec![],
        aliases: vec![],
    };
    let inbox = MailboxName::new("INBOX").unwrap();
    let store = Store::new(cfg);
    let mb = store.user("u").unwrap().open(&inbox).unwrap();
    println!("{} messages indexed", mb.snapshot().unwrap().messages.len());
    let uidlist = root.join("dovecot-uidlist");
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!("uidlist {} bytes", size(&uidlist));
    let t = Instant::now();
    for i in 0..appends {
        let msg = format!("From: b@example.org\nSubject: new {i}\n\n{body}");
        mb.deliver(&mut msg.as_bytes(), 1 << 20).unwrap();
    }
    let el = t.elapsed();
    println!(
        "{appends} deliveries in {el:?}: {:.2} ms each; uidlist now {} bytes",
        el.as_secs_f64() * 1000.0 / appends as f64,
        size(&uidlist)
    );
}
