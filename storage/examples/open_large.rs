//! Time opening a large Maildir cold (files just dropped into `new/`) and warm (unchanged).
//! Run by hand: `cargo run --release -p roost-storage --example open_large -- 100000 /tmp/big`.
//! Benchmarks against Dovecot live in the benchmark tool; this only checks the engine alone.

use std::time::{Duration, Instant, SystemTime};

use roost_storage::{MailboxName, MailboxOptions, Store, StoreConfig};

mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let base = std::path::PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/tmp/roost-open-large".into()),
    );
    let root = common::maildir_with(&base, n);
    // Age the directories so their mtimes are trusted on the warm open.
    let past = SystemTime::now() - Duration::from_secs(3600);
    for d in ["new", "cur"] {
        std::fs::File::open(root.join(d))
            .unwrap()
            .set_modified(past)
            .unwrap();
    }
    let cfg = StoreConfig {
        mail_path: format!("{}/{{user}}/Maildir", base.display()),
        mailbox: MailboxOptions {
            fsync: false,
            ..MailboxOptions::default()
        },
        rescan_interval: Duration::from_secs(3600),
        autocreate: false,
        special_use: vec![],
        aliases: vec![],
    };
    let inbox = MailboxName::new("INBOX").unwrap();
    for round in ["cold", "warm", "warm"] {
        let store = Store::new(cfg.clone());
        let t = Instant::now();
        let mb = store.user("u").unwrap().open(&inbox).unwrap();
        let snap = mb.snapshot().unwrap();
        let el = t.elapsed();
        println!(
            "{round}: {} messages, open+snapshot {:?}",
            snap.messages.len(),
            el
        );
        for d in ["new", "cur"] {
            std::fs::File::open(root.join(d))
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        drop(mb);
        store.flush_all(true);
    }
}
