//! Time `n` new users' first logins at once (the special-use mailboxes are created and
//! subscribed), with fsync on as in production.
//! Run by hand: `cargo run --release -p roost-storage --example first_logins -- 100 /tmp/fl`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use roost_storage::{MailboxOptions, SpecialMailbox, Store, StoreConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let base = std::path::PathBuf::from(args.next().unwrap_or_else(|| "/tmp/roost-fl".into()));
    let _ = std::fs::remove_dir_all(&base);
    let special_use = ["Drafts", "Sent", "Trash", "Junk"]
        .iter()
        .map(|name| SpecialMailbox {
            name: name.to_string(),
            attribute: format!("\\{name}"),
        })
        .collect();
    let store = Store::new(StoreConfig {
        mail_path: format!("{}/{{user}}/Maildir", base.display()),
        mailbox: MailboxOptions {
            fsync: true,
            lock_timeout: Duration::from_secs(30),
            stale_lock: Duration::from_secs(120),
        },
        rescan_interval: Duration::from_secs(3600),
        autocreate: true,
        special_use,
        aliases: Vec::new(),
    });
    let t0 = Instant::now();
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let start = Instant::now();
                let user = store.user(&format!("new{i}")).expect("user");
                user.ensure_special_use().expect("first login");
                start.elapsed()
            })
        })
        .collect();
    let mut times: Vec<Duration> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{n} first logins: total {:?}, p50 {:?}, p99 {:?}",
        t0.elapsed(),
        p(0.5),
        p(0.99)
    );
    let _ = std::fs::remove_dir_all(&base);
}
