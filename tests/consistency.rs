//! One mailbox, every path in, under concurrency, against the real binary: IMAP APPEND,
//! LMTP, `roost deliver` and a plain `mv` into `new/` at once; two `roost serve` processes
//! on one data dir; Roost beside a live Dovecot on one Maildir; restarts (SIGTERM and
//! `kill -9`) in the middle of all that. Each ends with the whole-mailbox check of
//! `consist::check_inbox` (IMAP view == POP3 view == files on disk == dovecot-uidlist).

mod common;
mod consist;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, config_yaml_lmtp};
use consist::{
    Imap, ImapMsg, Pop3, USERS, check_inbox, lmtp_deliver, message, number_after, outside_write,
    roost_deliver, start, two_server_dirs,
};

/// How soon a change made through one process must show in another's open session. The
/// design target is well under a second (inotify); the bound leaves room for a loaded CI box.
const SEEN_WITHIN: Duration = Duration::from_secs(3);

fn inbox(data: &Path) -> PathBuf {
    data.join("mail/alice/Maildir")
}

fn never() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

type Sent = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// Everything sent and acknowledged, by `X-Id`.
fn sent() -> Sent {
    Arc::new(Mutex::new(HashMap::new()))
}

fn record(sent: &Sent, id: &str, body: &[u8]) {
    sent.lock().unwrap().insert(id.to_string(), body.to_vec());
}

/// Log in, SELECT INBOX, fetch everything.
fn snapshot(addr: std::net::SocketAddr) -> (u32, Vec<ImapMsg>) {
    let mut c = Imap::login(addr, "alice", "pw").expect("login");
    let validity = c.select("INBOX").expect("select");
    let all = c.fetch_all().expect("fetch");
    c.logout();
    (validity, all)
}

/// Wait until a fresh session sees at least `n` messages (outside writes are picked up by
/// inotify).
fn wait_for_count(addr: std::net::SocketAddr, n: usize) {
    let deadline = Instant::now() + common::WAIT;
    loop {
        let mut c = Imap::login(addr, "alice", "pw").expect("login");
        c.select("INBOX").expect("select");
        let got = c.uids().expect("uids").len();
        c.logout();
        if got >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {got} of {n} messages appeared"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The full check over IMAP, POP3, the files and the uidlist; every acknowledged message
/// present exactly once with its content.
fn full_check(
    addr_imap: std::net::SocketAddr,
    addr_pop3: std::net::SocketAddr,
    data: &Path,
    sent: &Sent,
) -> consist::Census {
    let (_, all) = snapshot(addr_imap);
    let mut pop3 = Pop3::login(addr_pop3, "alice", "pw").expect("pop3 login");
    let expected = sent.lock().unwrap().clone();
    let census = check_inbox(&all, Some(&mut pop3), &inbox(data), &expected);
    let _ = pop3.quit();
    let missing: Vec<&String> = expected
        .keys()
        .filter(|id| !census.imap.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
    census
}

/// Where the writers send: one server's listeners, its config (for `roost deliver`) and
/// the data dir (for `mv`).
struct Target {
    imap: std::net::SocketAddr,
    lmtp: std::net::SocketAddr,
    config: PathBuf,
    data: PathBuf,
}

impl Target {
    fn of(server: &Server, data: &Path) -> Target {
        Target {
            imap: server.addr("imap"),
            lmtp: server.addr("lmtp"),
            config: server.config.clone(),
            data: data.to_path_buf(),
        }
    }
}

/// Writers of every kind into one INBOX at once, each recording what was acknowledged.
/// Returns their threads; each stops after `n` messages or at its first failure.
fn writers(
    target: &Target,
    tag: &str,
    n: usize,
    sent: &Sent,
    uids: &Arc<Mutex<Vec<Vec<u32>>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<()>> {
    let (imap, lmtp, config, data) = (target.imap, target.lmtp, &target.config, &target.data);
    let mut threads = Vec::new();
    for t in 0..3 {
        let (sent, uids, tag) = (Arc::clone(sent), Arc::clone(uids), tag.to_string());
        threads.push(thread::spawn(move || {
            let Ok(mut c) = Imap::login(imap, "alice", "pw") else {
                return;
            };
            let mut mine = Vec::new();
            for i in 0..n {
                let id = format!("{tag}-imap{t}-{i}");
                let body = message(&id, i % 7);
                match c.append("INBOX", "", &body) {
                    Ok(uid) => {
                        record(&sent, &id, &body);
                        mine.push(uid);
                    }
                    Err(_) => break,
                }
            }
            uids.lock().unwrap().push(mine);
        }));
    }
    for t in 0..2 {
        let (sent, tag) = (Arc::clone(sent), tag.to_string());
        threads.push(thread::spawn(move || {
            for i in 0..n {
                let id = format!("{tag}-lmtp{t}-{i}");
                let body = message(&id, i % 5);
                if lmtp_deliver(lmtp, "alice", &body).is_err() {
                    break;
                }
                record(&sent, &id, &body);
            }
        }));
    }
    let (sent2, tag2, md, stop2) = (
        Arc::clone(sent),
        tag.to_string(),
        inbox(data),
        Arc::clone(stop),
    );
    threads.push(thread::spawn(move || {
        for i in 0..n {
            if stop2.load(Ordering::Relaxed) {
                break;
            }
            let id = format!("{tag2}-mv-{i}");
            let body = message(&id, 3);
            let name = format!("1700000000.M{i}P{}.{tag2}mv", std::process::id());
            outside_write(&md, &name, &body).expect("mv into new/");
            record(&sent2, &id, &body);
            thread::sleep(Duration::from_millis(5));
        }
    }));
    let (sent3, tag3, config, stop3) = (
        Arc::clone(sent),
        tag.to_string(),
        config.to_path_buf(),
        Arc::clone(stop),
    );
    threads.push(thread::spawn(move || {
        for i in 0..n.div_ceil(3) {
            if stop3.load(Ordering::Relaxed) {
                break;
            }
            let id = format!("{tag3}-deliver-{i}");
            let body = message(&id, 2);
            roost_deliver(&config, "alice", &body).expect("roost deliver");
            record(&sent3, &id, &body);
        }
    }));
    threads
}

#[test]
fn concurrent_append_lmtp_deliver_and_mv_give_each_message_exactly_one_uid() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = start(tmp.path(), &data);
    let (imap, pop3) = (server.addr("imap"), server.addr("pop3"));
    // The first login creates the Maildir the outside writers drop into.
    let mut watcher = Imap::login(imap, "alice", "pw").unwrap();
    let validity = watcher.select("INBOX").unwrap();

    let sent = sent();
    let uids = Arc::new(Mutex::new(Vec::new()));
    let threads = writers(&Target::of(&server, &data), "w", 15, &sent, &uids, &never());
    // Meanwhile an open session keeps looking: its UID list may only grow at the end.
    let mut seen: Vec<u32> = Vec::new();
    while threads.iter().any(|t| !t.is_finished()) {
        let now = watcher.uids().unwrap();
        assert!(
            now.windows(2).all(|w| w[0] < w[1]),
            "UIDs out of order: {now:?}"
        );
        assert!(
            now.starts_with(&seen),
            "UIDs changed under a session: {seen:?} -> {now:?}"
        );
        seen = now;
        thread::sleep(Duration::from_millis(30));
    }
    for t in threads {
        t.join().unwrap();
    }
    let total = sent.lock().unwrap().len();
    assert_eq!(total, 3 * 15 + 2 * 15 + 15 + 5);
    // Each connection's APPENDUIDs increase; none is given twice.
    let mut all_uids = HashSet::new();
    for mine in uids.lock().unwrap().iter() {
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
        for u in mine {
            assert!(all_uids.insert(*u), "APPENDUID {u} given twice");
        }
    }
    wait_for_count(imap, total);
    let census = full_check(imap, pop3, &data, &sent);
    assert_eq!(census.imap.len(), total);
    let (validity_after, all) = snapshot(imap);
    assert_eq!(validity, validity_after);
    let now: Vec<u32> = all.iter().map(|m| m.uid).collect();
    assert!(now.starts_with(&seen));
    watcher.logout();
}

/// What two servers must agree on: UID, flags and identity of each message, in order.
fn brief(v: Vec<ImapMsg>) -> Vec<(u32, Vec<String>, String)> {
    v.into_iter().map(|m| (m.uid, m.flags, m.id)).collect()
}

/// Wait until `c`'s NOOPs bring an untagged response matching `pred`; how long it took.
fn seen(c: &mut Imap, what: &str, pred: impl Fn(&str) -> bool) -> Duration {
    let t0 = Instant::now();
    assert!(
        c.noop_until(SEEN_WITHIN, pred).unwrap(),
        "{what} not seen within {SEEN_WITHIN:?}"
    );
    let took = t0.elapsed();
    eprintln!("{what}: seen after {took:?}");
    took
}

/// Flags, keywords, expunges and new mail made through `one` show in `other`'s selected
/// session, and the reverse; both keep one UIDVALIDITY.
fn cross_changes(one: &mut Imap, other: &mut Imap, uids: &[u32]) {
    let (u1, u2, u3) = (uids[0], uids[1], uids[2]);
    one.ok(&format!("UID STORE {u1} +FLAGS (\\Flagged)"))
        .unwrap();
    seen(other, "flag", |t| {
        t.contains(" FETCH (") && t.contains("\\Flagged")
    });
    other.ok(&format!("UID STORE {u2} +FLAGS ($Work)")).unwrap();
    seen(one, "keyword", |t| {
        t.contains(" FETCH (") && t.contains("$Work")
    });
    other
        .ok(&format!("UID STORE {u3} +FLAGS (\\Deleted)"))
        .unwrap();
    other.ok("EXPUNGE").unwrap();
    seen(one, "expunge", |t| t.ends_with(" EXPUNGE"));
    one.append("INBOX", "", &message(&format!("cross-new-{u1}"), 1))
        .unwrap();
    seen(other, "new mail", |t| t.ends_with(" EXISTS"));
}

/// Two `roost serve` on one data dir, as two machines on shared storage would run.
#[test]
fn two_servers_on_one_data_dir_never_share_a_uid_and_see_each_others_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, data) = two_server_dirs(tmp.path());
    let a = start(&a_dir, &data);
    // b's own `data/users` is written but unused: its config points at a's data dir.
    let b = start(&b_dir, &data);

    let mut sa = Imap::login(a.addr("imap"), "alice", "pw").unwrap();
    let validity = sa.select("INBOX").unwrap();
    let mut sb = Imap::login(b.addr("imap"), "alice", "pw").unwrap();
    assert_eq!(sb.select("INBOX").unwrap(), validity);

    let sent = sent();
    let uids = Arc::new(Mutex::new(Vec::new()));
    let mut threads = writers(&Target::of(&a, &data), "a", 10, &sent, &uids, &never());
    threads.extend(writers(
        &Target::of(&b, &data),
        "b",
        10,
        &sent,
        &uids,
        &never(),
    ));
    for t in threads {
        t.join().unwrap();
    }
    let total = sent.lock().unwrap().len();
    let mut all_uids = HashSet::new();
    for mine in uids.lock().unwrap().iter() {
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
        for u in mine {
            assert!(all_uids.insert(*u), "APPENDUID {u} given by both servers");
        }
    }
    wait_for_count(a.addr("imap"), total);
    wait_for_count(b.addr("imap"), total);
    let (va, view_a) = snapshot(a.addr("imap"));
    let (vb, view_b) = snapshot(b.addr("imap"));
    assert_eq!((va, vb), (validity, validity));
    let map =
        |v: &[ImapMsg]| -> Vec<(u32, String)> { v.iter().map(|m| (m.uid, m.id.clone())).collect() };
    assert_eq!(map(&view_a), map(&view_b), "the two servers disagree");
    full_check(a.addr("imap"), a.addr("pop3"), &data, &sent);
    full_check(b.addr("imap"), b.addr("pop3"), &data, &sent);

    // Both selected sessions drain what happened, then see each other's changes.
    sa.ok("NOOP").unwrap();
    sb.ok("NOOP").unwrap();
    let list: Vec<u32> = view_a.iter().map(|m| m.uid).collect();
    cross_changes(&mut sa, &mut sb, &list[..3]);
    cross_changes(&mut sb, &mut sa, &list[3..6]);
    let (va, view_a) = snapshot(a.addr("imap"));
    let (vb, view_b) = snapshot(b.addr("imap"));
    assert_eq!((va, vb), (validity, validity));
    // Modseqs are each process's own (see docs/consistency.md); the rest must agree.
    assert_eq!(
        brief(view_a),
        brief(view_b),
        "the two servers disagree after the changes"
    );
    sa.logout();
    sb.logout();
}

/// Roost and a live Dovecot serving one Maildir: UIDs from both never collide, each sees
/// the other's flags, expunges and new mail, UIDVALIDITY stays.
#[test]
fn roost_beside_dovecot_on_one_maildir() {
    let Some(dv) = roost_testkit::DovecotServer::start(&[("alice", "pw")], |_| {}) else {
        return;
    };
    let maildir = dv.maildir("alice");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut yaml = config_yaml_lmtp(&data).replace(
        "storage:\n",
        &format!(
            "mail_path: \"{}/{{user}}/Maildir\"\nstorage:\n",
            maildir.parent().unwrap().parent().unwrap().display()
        ),
    );
    // Dovecot's mail belongs to nobody; as root, Roost must serve it as the same account.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        yaml.push_str("run_as:\n  user: nobody\n");
    }
    let roost = Server::start_with_users(tmp.path(), yaml, USERS, 5);

    let mut sd = Imap::login(dv.imap, "alice", "pw").unwrap();
    let validity = sd.select("INBOX").unwrap();
    let mut sr = Imap::login(roost.addr("imap"), "alice", "pw").unwrap();
    assert_eq!(sr.select("INBOX").unwrap(), validity, "UIDVALIDITY differs");

    // Concurrent APPENDs through both servers.
    let uids = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for (name, addr) in [("dovecot", dv.imap), ("roost", roost.addr("imap"))] {
        for t in 0..2 {
            let uids = Arc::clone(&uids);
            threads.push(thread::spawn(move || {
                let mut c = Imap::login(addr, "alice", "pw").unwrap();
                let mine: Vec<u32> = (0..12)
                    .map(|i| {
                        c.append("INBOX", "", &message(&format!("{name}{t}-{i}"), i))
                            .unwrap()
                    })
                    .collect();
                c.logout();
                uids.lock().unwrap().push(mine);
            }));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    let mut all_uids = HashSet::new();
    for mine in uids.lock().unwrap().iter() {
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
        for u in mine {
            assert!(all_uids.insert(*u), "UID {u} given by both servers");
        }
    }
    let (_, view_d) = snapshot(dv.imap);
    let (vr, view_r) = snapshot(roost.addr("imap"));
    assert_eq!(vr, validity);
    let ids =
        |v: &[ImapMsg]| -> Vec<(u32, String)> { v.iter().map(|m| (m.uid, m.id.clone())).collect() };
    assert_eq!(view_d.len(), 48);
    assert_eq!(ids(&view_d), ids(&view_r), "Dovecot and Roost disagree");
    let mut pop3 = Pop3::login(roost.addr("pop3"), "alice", "pw").unwrap();
    check_inbox(&view_r, Some(&mut pop3), &maildir, &HashMap::new());
    let _ = pop3.quit();

    sd.ok("NOOP").unwrap();
    sr.ok("NOOP").unwrap();
    let list: Vec<u32> = view_r.iter().map(|m| m.uid).collect();
    cross_changes(&mut sr, &mut sd, &list[..3]);
    cross_changes(&mut sd, &mut sr, &list[3..6]);
    let (vd, view_d) = snapshot(dv.imap);
    let (vr, view_r) = snapshot(roost.addr("imap"));
    assert_eq!((vd, vr), (validity, validity));
    assert_eq!(brief(view_d), brief(view_r), "flags or messages differ");
    sd.logout();
    sr.logout();
}

/// What must survive a restart, as a client sees it.
#[derive(Debug, Clone)]
struct Durable {
    validity: u32,
    highest_modseq: u64,
    messages: BTreeMap<u32, ImapMsg>,
    uidls: BTreeMap<String, String>,
    subscribed: Vec<String>,
}

fn durable(server: &Server) -> Durable {
    // POP3 first: its RETRs set \Seen (pop3.retr_sets_seen), which IMAP then reports.
    let mut p = Pop3::login(server.addr("pop3"), "alice", "pw").unwrap();
    let by_number: HashMap<u32, String> = p.uidl().unwrap().into_iter().collect();
    let mut uidls = BTreeMap::new();
    for (n, uidl) in by_number {
        let (id, _) = consist::identify(&p.retr(n).unwrap()).unwrap();
        uidls.insert(id, uidl);
    }
    let _ = p.quit();
    let mut c = Imap::login(server.addr("imap"), "alice", "pw").unwrap();
    let untagged = c.ok("SELECT INBOX (CONDSTORE)").unwrap();
    let find = |key: &str| {
        untagged
            .iter()
            .find_map(|r| number_after(&r.text, key))
            .unwrap()
    };
    let (validity, highest_modseq) = (find("[UIDVALIDITY ") as u32, find("[HIGHESTMODSEQ "));
    let messages = c
        .fetch_all()
        .unwrap()
        .into_iter()
        .map(|m| (m.uid, m))
        .collect::<BTreeMap<_, _>>();
    let subscribed = c.subscribed().unwrap();
    c.logout();
    Durable {
        validity,
        highest_modseq,
        messages,
        uidls,
        subscribed,
    }
}

/// Every message of `before` keeps its UID, content and flags (plus the acknowledged flag
/// changes), its modseq does not go down; UIDVALIDITY, UIDLs and subscriptions are unchanged.
fn assert_survived(before: &Durable, after: &Durable, flagged: &[u32], in_flight: Option<u32>) {
    assert_eq!(after.validity, before.validity, "UIDVALIDITY changed");
    assert!(
        after.highest_modseq >= before.highest_modseq,
        "HIGHESTMODSEQ went down: {} -> {}",
        before.highest_modseq,
        after.highest_modseq
    );
    assert_eq!(after.subscribed, before.subscribed, "subscriptions changed");
    for (uid, old) in &before.messages {
        let new = after
            .messages
            .get(uid)
            .unwrap_or_else(|| panic!("UID {uid} ({}) lost", old.id));
        assert_eq!(
            (&new.id, &new.content),
            (&old.id, &old.content),
            "UID {uid}"
        );
        let mut want = old.flags.clone();
        if flagged.contains(uid) && !want.contains(&"\\Flagged".to_string()) {
            want.push("\\Flagged".to_string());
            want.sort();
        }
        // A STORE cut off by the signal may or may not have happened: both are right.
        let mut also = want.clone();
        if in_flight == Some(*uid) && !also.contains(&"\\Flagged".to_string()) {
            also.push("\\Flagged".to_string());
            also.sort();
        }
        assert!(
            new.flags == want || new.flags == also,
            "flags of UID {uid}: {:?}, want {want:?}",
            new.flags
        );
        assert!(new.modseq >= old.modseq, "modseq of UID {uid} went down");
    }
    for (id, uidl) in &before.uidls {
        assert_eq!(after.uidls.get(id), Some(uidl), "UIDL of {id} changed");
    }
}

#[test]
fn restarts_mid_activity_lose_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = start(tmp.path(), &data);
    // Some state worth keeping: flags, keywords, a folder, subscriptions.
    {
        let mut c = Imap::login(server.addr("imap"), "alice", "pw").unwrap();
        c.select("INBOX").unwrap();
        for i in 0..8 {
            let flags = ["", "\\Seen", "\\Answered $Label1", "\\Draft Custom"][i % 4];
            c.append("INBOX", flags, &message(&format!("base-{i}"), i))
                .unwrap();
        }
        c.ok("UID STORE 1:3 +FLAGS (\\Seen Another)").unwrap();
        c.ok("CREATE Work").unwrap();
        c.ok("SUBSCRIBE Work").unwrap();
        c.ok("UNSUBSCRIBE Trash").ok();
        c.logout();
    }
    let sent = sent();
    for (round, signal) in [(0, libc::SIGTERM), (1, libc::SIGKILL)] {
        let before = durable(&server);
        let stop = Arc::new(AtomicBool::new(false));
        let uids = Arc::new(Mutex::new(Vec::new()));
        let tag = format!("r{round}");
        let mut threads = writers(&Target::of(&server, &data), &tag, 1000, &sent, &uids, &stop);
        // Flag changes during the activity; the acknowledged ones must stay.
        let flagged = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(Mutex::new(None));
        {
            let (flagged, in_flight, stop, addr) = (
                Arc::clone(&flagged),
                Arc::clone(&in_flight),
                Arc::clone(&stop),
                server.addr("imap"),
            );
            let uids: Vec<u32> = before.messages.keys().copied().collect();
            threads.push(thread::spawn(move || {
                let Ok(mut c) = Imap::login(addr, "alice", "pw") else {
                    return;
                };
                if c.select("INBOX").is_err() {
                    return;
                }
                for uid in uids {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    *in_flight.lock().unwrap() = Some(uid);
                    match c.ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Flagged)")) {
                        Ok(_) => {
                            flagged.lock().unwrap().push(uid);
                            *in_flight.lock().unwrap() = None;
                        }
                        Err(_) => break,
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            }));
        }
        thread::sleep(Duration::from_millis(700));
        server.signal(signal);
        server.wait();
        // Outside writers (mv, deliver) go on a little while the server is down.
        thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        server = start(tmp.path(), &data);
        let after = durable(&server);
        let flagged = flagged.lock().unwrap().clone();
        let in_flight = *in_flight.lock().unwrap();
        assert_survived(&before, &after, &flagged, in_flight);
        let total = sent.lock().unwrap().len();
        wait_for_count(server.addr("imap"), total + 8);
        full_check(server.addr("imap"), server.addr("pop3"), &data, &sent);
        eprintln!(
            "round {round}: {total} messages and {} flag changes acknowledged, all kept",
            flagged.len()
        );
    }
}

/// The final check is not vacuous: it fails on a message stored twice and on an
/// acknowledged message that is missing.
#[test]
fn the_check_catches_duplicates_and_losses() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = start(tmp.path(), &data);
    let (imap, pop3) = (server.addr("imap"), server.addr("pop3"));
    let sent = sent();
    {
        let mut c = Imap::login(imap, "alice", "pw").unwrap();
        for id in ["one", "two"] {
            let body = message(id, 2);
            c.append("INBOX", "", &body).unwrap();
            record(&sent, id, &body);
        }
        c.logout();
    }
    full_check(imap, pop3, &data, &sent);

    let lost = self::sent();
    record(&lost, "never-sent", &message("never-sent", 1));
    let missing = std::panic::catch_unwind(|| full_check(imap, pop3, &data, &lost));
    assert!(missing.is_err(), "a missing message went unnoticed");

    let file = consist::message_files(&inbox(&data)).remove(0);
    std::fs::copy(&file, inbox(&data).join("new/1700000000.M1P1.copy")).unwrap();
    wait_for_count(imap, 3);
    let twice = std::panic::catch_unwind(|| full_check(imap, pop3, &data, &sent));
    assert!(twice.is_err(), "a duplicate went unnoticed");
}

/// HIGHESTMODSEQ of INBOX as a fresh session on `addr` sees it.
fn highest_modseq(addr: std::net::SocketAddr) -> u64 {
    let mut c = Imap::login(addr, "alice", "pw").unwrap();
    let untagged = c.ok("SELECT INBOX (CONDSTORE)").unwrap();
    c.logout();
    untagged
        .iter()
        .find_map(|r| number_after(&r.text, "[HIGHESTMODSEQ "))
        .unwrap()
}

/// Two servers share one index file. The one that stops last writes it; the other, started
/// again, must still never report a lower HIGHESTMODSEQ than it did before its restart.
#[test]
fn a_restarted_server_never_goes_below_its_own_modseqs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, data) = two_server_dirs(tmp.path());
    // A clean index both servers will open from, with the same modseqs.
    let mut a = start(&a_dir, &data);
    let mut sa = Imap::login(a.addr("imap"), "alice", "pw").unwrap();
    sa.select("INBOX").unwrap();
    let uid = sa.append("INBOX", "", &message("m", 1)).unwrap();
    sa.logout();
    a.signal(libc::SIGTERM);
    a.wait();
    a = start(&a_dir, &data);
    let mut b = start(&b_dir, &data);
    let mut sa = Imap::login(a.addr("imap"), "alice", "pw").unwrap();
    sa.select("INBOX").unwrap();
    let mut sb = Imap::login(b.addr("imap"), "alice", "pw").unwrap();
    sb.select("INBOX").unwrap();
    // Many changes on A; B only ever sees where they ended.
    for i in 0..40 {
        let op = if i % 2 == 0 { '+' } else { '-' };
        sa.ok(&format!("UID STORE {uid} {op}FLAGS.SILENT (\\Flagged)"))
            .unwrap();
    }
    sb.ok("NOOP").unwrap();
    let before = highest_modseq(a.addr("imap"));
    sa.logout();
    a.signal(libc::SIGTERM);
    a.wait();
    sb.ok(&format!("UID STORE {uid} +FLAGS (\\Seen)")).unwrap();
    sb.logout();
    b.signal(libc::SIGTERM);
    b.wait();
    a = start(&a_dir, &data);
    let after = highest_modseq(a.addr("imap"));
    eprintln!("HIGHESTMODSEQ of A: {before} before, {after} after");
    assert!(
        after >= before,
        "HIGHESTMODSEQ went down after a restart: {before} -> {after}"
    );
    drop(b);
}
