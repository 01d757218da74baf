//! Soak: two `roost serve` on one data dir under every kind of traffic at once (IMAP APPEND,
//! STORE, UID EXPUNGE and COPY, LMTP, `roost deliver`, `mv` into `new/`, POP3 RETR/DELE/QUIT),
//! with random disconnects (mid-literal, mid-session, without QUIT/LOGOUT) and one server
//! restarted now and then (SIGTERM or `kill -9`). At the end every mailbox gets the full
//! check: IMAP view == POP3 view == files on disk == dovecot-uidlist, UIDs unique and
//! increasing, both servers agree, UIDVALIDITY unchanged, everything acknowledged there
//! (minus what was acknowledged deleted), nothing half-sent.
//!
//! `ROOST_SOAK_SECS` sets the length (default 120, what CI runs); `ROOST_TEST_SEED` repeats
//! a run.

mod common;
mod consist;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use common::Server;
use consist::{
    Imap, ImapMsg, Pop3, Rng, check_copies, check_inbox, identify, lmtp_cut, lmtp_deliver, message,
    number_after, outside_write, roost_deliver, start, two_server_dirs,
};

/// The listeners of each server; B's change when it restarts.
#[derive(Clone, Copy)]
struct Addrs {
    imap: SocketAddr,
    pop3: SocketAddr,
    lmtp: SocketAddr,
}

impl Addrs {
    fn of(s: &Server) -> Addrs {
        Addrs {
            imap: s.addr("imap"),
            pop3: s.addr("pop3"),
            lmtp: s.addr("lmtp"),
        }
    }
}

/// What clients were told, by `X-Id`.
#[derive(Default)]
struct Ledger {
    /// Acknowledged deliveries (APPEND OK, LMTP 250, deliver exit 0, mv done).
    delivered: HashMap<String, Vec<u8>>,
    /// Acknowledged deletions (UID EXPUNGE OK, DELE then QUIT +OK).
    deleted: HashSet<String>,
    /// Deletions sent but never answered (the server was killed or the connection dropped
    /// after the EXPUNGE or QUIT went out): they may or may not have happened.
    maybe_deleted: HashSet<String>,
    /// APPENDs cut inside their literal: must never appear.
    cut: HashSet<String>,
    /// Acknowledged copies into `Work` (COPYUID given).
    copied: HashSet<String>,
    /// INBOX UID -> `X-Id` as IMAP showed it: a UID never names another message.
    uid_ids: HashMap<u32, String>,
    /// `X-Id` -> POP3 UIDL as POP3 showed it: a UIDL never changes.
    uidls: HashMap<String, String>,
}

impl Ledger {
    fn saw_uid(&mut self, uid: u32, id: &str) {
        let first = self.uid_ids.entry(uid).or_insert_with(|| id.to_string());
        assert_eq!(first, id, "UID {uid} named two messages");
    }

    fn saw_uidl(&mut self, id: &str, uidl: &str) {
        let first = self
            .uidls
            .entry(id.to_string())
            .or_insert_with(|| uidl.to_string());
        assert_eq!(first, uidl, "UIDL of {id} changed");
    }
}

struct Shared {
    servers: RwLock<Vec<Addrs>>,
    ledger: Mutex<Ledger>,
    stop: AtomicBool,
    next_id: AtomicU64,
    validity: u32,
    config: PathBuf,
    inbox: PathBuf,
}

impl Shared {
    fn pick(&self, rng: &mut Rng) -> Addrs {
        let servers = self.servers.read().unwrap();
        servers[rng.below(servers.len() as u64) as usize]
    }

    /// A server and its slot (0: A, 1: B); B is missing while it restarts.
    fn pick_slot(&self, rng: &mut Rng) -> (usize, Addrs) {
        let servers = self.servers.read().unwrap();
        let slot = rng.below(servers.len() as u64) as usize;
        (slot, servers[slot])
    }

    fn id(&self, kind: &str) -> String {
        format!("{kind}-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    fn delivered(&self, id: &str, body: &[u8]) {
        let mut l = self.ledger.lock().unwrap();
        l.delivered.insert(id.to_string(), body.to_vec());
    }
}

fn pause(rng: &mut Rng, max_ms: u64) {
    thread::sleep(Duration::from_millis(5 + rng.below(max_ms)));
}

/// APPENDs, some cut inside the literal, some sessions dropped without LOGOUT.
fn appender(sh: Arc<Shared>, mut rng: Rng) {
    while sh.running() {
        let Ok(mut c) = Imap::login(sh.pick(&mut rng).imap, "alice", "pw") else {
            pause(&mut rng, 200);
            continue;
        };
        for _ in 0..rng.below(8) + 1 {
            let id = sh.id("append");
            let body = message(&id, rng.below(40) as usize);
            if rng.below(10) == 0 {
                // Half a literal, then gone: nothing of it may ever show up.
                sh.ledger.lock().unwrap().cut.insert(id.clone());
                let mut tcp = c.into_stream();
                let head = format!("x APPEND INBOX {{{}+}}\r\n", body.len());
                let _ = tcp.write_all(head.as_bytes());
                let _ = tcp.write_all(&body[..body.len() / 2]);
                drop(tcp);
                break;
            }
            let flags = ["", "\\Seen", "$Label1 \\Flagged"][rng.below(3) as usize];
            match c.append("INBOX", flags, &body) {
                Ok(_) => sh.delivered(&id, &body),
                Err(_) => break,
            }
            pause(&mut rng, 30);
        }
        pause(&mut rng, 50);
    }
}

fn lmtp_worker(sh: Arc<Shared>, mut rng: Rng) {
    while sh.running() {
        let id = sh.id("lmtp");
        let body = message(&id, rng.below(30) as usize);
        if rng.below(10) == 0 {
            sh.ledger.lock().unwrap().cut.insert(id);
            let _ = lmtp_cut(sh.pick(&mut rng).lmtp, "alice", &body);
            continue;
        }
        if lmtp_deliver(sh.pick(&mut rng).lmtp, "alice", &body).is_ok() {
            sh.delivered(&id, &body);
        }
        pause(&mut rng, 60);
    }
}

/// The MTA-side writers: `roost deliver` and a plain `mv` into `new/`.
fn outside_worker(sh: Arc<Shared>, mut rng: Rng) {
    let mut n = 0;
    while sh.running() {
        n += 1;
        if n % 4 == 0 {
            let id = sh.id("deliver");
            let body = message(&id, 5);
            roost_deliver(&sh.config, "alice", &body).expect("roost deliver");
            sh.delivered(&id, &body);
        } else {
            let id = sh.id("mv");
            let body = message(&id, 3);
            let name = format!("1700000000.M{n}P{}.soak", std::process::id());
            outside_write(&sh.inbox, &name, &body).expect("mv into new/");
            sh.delivered(&id, &body);
        }
        pause(&mut rng, 150);
    }
}

/// The `X-Id` of UID `uid` in the selected mailbox, if it still exists.
fn id_of(c: &mut Imap, uid: u32) -> Option<String> {
    let (untagged, _) = c
        .cmd(&format!(
            "UID FETCH {uid} (BODY.PEEK[HEADER.FIELDS (X-Id)])"
        ))
        .ok()?;
    untagged
        .iter()
        .find_map(|r| identify(r.literals.first()?).map(|(id, _)| id))
}

/// [`id_of`], and remember the pair: a UID must keep naming the same message.
fn checked_id_of(sh: &Shared, c: &mut Imap, uid: u32) -> Option<String> {
    let id = id_of(c, uid)?;
    sh.ledger.lock().unwrap().saw_uid(uid, &id);
    Some(id)
}

/// STORE, UID EXPUNGE and COPY on random messages; sessions dropped at random.
fn mutator(sh: Arc<Shared>, mut rng: Rng) {
    // HIGHESTMODSEQ this thread last saw from A and from B: never lower on a later look,
    // restarts included.
    let mut highest = [0u64; 2];
    while sh.running() {
        let (slot, addrs) = sh.pick_slot(&mut rng);
        let Ok(mut c) = Imap::login(addrs.imap, "alice", "pw") else {
            pause(&mut rng, 200);
            continue;
        };
        let Ok(untagged) = c.ok("SELECT INBOX (CONDSTORE)") else {
            continue;
        };
        let find = |key: &str| untagged.iter().find_map(|r| number_after(&r.text, key));
        assert_eq!(
            find("[UIDVALIDITY ").map(|v| v as u32),
            Some(sh.validity),
            "UIDVALIDITY changed"
        );
        let now = find("[HIGHESTMODSEQ ").expect("HIGHESTMODSEQ");
        assert!(
            now >= highest[slot],
            "HIGHESTMODSEQ of server {slot} went down: {} -> {now}",
            highest[slot]
        );
        highest[slot] = now;
        for _ in 0..rng.below(10) + 1 {
            let Ok(uids) = c.uids() else { break };
            if uids.is_empty() {
                break;
            }
            let uid = uids[rng.below(uids.len() as u64) as usize];
            let r = match rng.below(4) {
                0 => c
                    .ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Flagged $Soak)"))
                    .map(|_| ()),
                1 => c
                    .ok(&format!("UID STORE {uid} -FLAGS.SILENT (\\Seen)"))
                    .map(|_| ()),
                2 => {
                    let Some(id) = checked_id_of(&sh, &mut c, uid) else {
                        continue;
                    };
                    let r = c.ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"));
                    let r = r.and_then(|_| c.ok(&format!("UID EXPUNGE {uid}")));
                    let mut ledger = sh.ledger.lock().unwrap();
                    if r.is_ok() {
                        ledger.deleted.insert(id);
                    } else {
                        // \Deleted may be set; the EXPUNGE may have run before the cut.
                        ledger.maybe_deleted.insert(id);
                    }
                    drop(ledger);
                    r.map(|_| ())
                }
                _ => {
                    let Some(id) = checked_id_of(&sh, &mut c, uid) else {
                        continue;
                    };
                    match c.cmd(&format!("UID COPY {uid} Work")) {
                        Ok((_, done)) if done.contains("[COPYUID ") => {
                            sh.ledger.lock().unwrap().copied.insert(id);
                            Ok(())
                        }
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            };
            if r.is_err() {
                break;
            }
            pause(&mut rng, 40);
        }
        if rng.below(3) == 0 {
            c.cut();
        } else {
            c.logout();
        }
        pause(&mut rng, 50);
    }
}

/// RETR and DELE; QUIT commits the deletion, a dropped session must not.
fn pop3_worker(sh: Arc<Shared>, mut rng: Rng) {
    while sh.running() {
        let Ok(mut p) = Pop3::login(sh.pick(&mut rng).pop3, "alice", "pw") else {
            pause(&mut rng, 200);
            continue;
        };
        let Ok(list) = p.uidl() else { continue };
        let mut dele = Vec::new();
        for _ in 0..rng.below(3) {
            if list.is_empty() {
                break;
            }
            let (n, uidl) = &list[rng.below(list.len() as u64) as usize];
            let n = *n;
            // Another protocol may have expunged it meanwhile: -ERR, and the session goes on.
            let Ok(raw) = p.retr(n) else { continue };
            if let Some((id, _)) = identify(&raw) {
                sh.ledger.lock().unwrap().saw_uidl(&id, uidl);
            }
            if rng.below(3) == 0 && p.ok(&format!("DELE {n}")).is_ok() {
                dele.extend(identify(&raw).map(|(id, _)| id));
            }
        }
        if rng.below(4) == 0 {
            p.cut();
        } else if p.quit().is_ok() {
            sh.ledger.lock().unwrap().deleted.extend(dele);
        } else {
            // QUIT went out: the UPDATE state may have run before the answer was lost.
            sh.ledger.lock().unwrap().maybe_deleted.extend(dele);
        }
        pause(&mut rng, 100);
    }
}

/// Restart server B now and then, alternating SIGTERM and `kill -9`; B is running on return.
fn restarter(sh: Arc<Shared>, mut b: Server, dir: PathBuf, data: PathBuf, mut rng: Rng) -> Server {
    let mut kills = 0;
    loop {
        let wait_until = Instant::now() + Duration::from_millis(8_000 + rng.below(8_000));
        while sh.running() && Instant::now() < wait_until {
            thread::sleep(Duration::from_millis(50));
        }
        if !sh.running() {
            return b;
        }
        let signal = if kills % 2 == 0 {
            libc::SIGTERM
        } else {
            libc::SIGKILL
        };
        kills += 1;
        sh.servers.write().unwrap().truncate(1);
        b.signal(signal);
        b.wait();
        eprintln!("soak: restarted B after signal {signal}");
        thread::sleep(Duration::from_millis(200));
        b = start(&dir, &data);
        sh.servers.write().unwrap().push(Addrs::of(&b));
    }
}

fn view(addr: SocketAddr, mailbox: &str) -> (u32, Vec<ImapMsg>) {
    let mut c = Imap::login(addr, "alice", "pw").expect("login");
    let v = c.select(mailbox).expect("select");
    let all = c.fetch_all().expect("fetch");
    c.logout();
    (v, all)
}

fn brief(v: &[ImapMsg]) -> Vec<(u32, Vec<String>, String)> {
    v.iter()
        .map(|m| (m.uid, m.flags.clone(), m.id.clone()))
        .collect()
}

#[test]
fn soak_everything_at_once_then_check_every_mailbox() {
    let secs: u64 = std::env::var("ROOST_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let mut rng = Rng::from_env();
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, data) = two_server_dirs(tmp.path());
    let a = start(&a_dir, &data);
    let b = start(&b_dir, &data);
    let validity = {
        let mut c = Imap::login(a.addr("imap"), "alice", "pw").unwrap();
        let v = c.select("INBOX").unwrap();
        c.ok("CREATE Work").unwrap();
        c.logout();
        v
    };
    let sh = Arc::new(Shared {
        servers: RwLock::new(vec![Addrs::of(&a), Addrs::of(&b)]),
        ledger: Mutex::new(Ledger::default()),
        stop: AtomicBool::new(false),
        next_id: AtomicU64::new(0),
        validity,
        config: a.config.clone(),
        inbox: data.join("mail/alice/Maildir"),
    });
    let mut workers = Vec::new();
    let spawn = |f: fn(Arc<Shared>, Rng), rng: &mut Rng| {
        let (sh, r) = (Arc::clone(&sh), rng.fork());
        thread::spawn(move || f(sh, r))
    };
    for _ in 0..2 {
        workers.push(spawn(appender, &mut rng));
        workers.push(spawn(mutator, &mut rng));
        workers.push(spawn(pop3_worker, &mut rng));
    }
    workers.push(spawn(lmtp_worker, &mut rng));
    workers.push(spawn(outside_worker, &mut rng));
    let restarts = {
        let (sh, r, d, dd) = (Arc::clone(&sh), rng.fork(), b_dir.clone(), data.clone());
        thread::spawn(move || restarter(sh, b, d, dd, r))
    };

    thread::sleep(Duration::from_secs(secs));
    sh.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a worker failed");
    }
    let b = restarts.join().expect("the restarter failed");

    // Quiet now: wait until both servers show the same INBOX (outside writes picked up).
    let deadline = Instant::now() + common::WAIT;
    let (mut inbox_a, mut inbox_b);
    loop {
        (_, inbox_a) = view(a.addr("imap"), "INBOX");
        (_, inbox_b) = view(b.addr("imap"), "INBOX");
        let on_disk = consist::message_files(&sh.inbox).len();
        if brief(&inbox_a) == brief(&inbox_b) && inbox_a.len() == on_disk {
            break;
        }
        if Instant::now() >= deadline {
            let (a, b) = (brief(&inbox_a), brief(&inbox_b));
            let only_a: Vec<_> = a.iter().filter(|m| !b.contains(m)).collect();
            let only_b: Vec<_> = b.iter().filter(|m| !a.contains(m)).collect();
            panic!(
                "the servers never agreed on INBOX: A shows {}, B {}, {on_disk} files; \
                 only A: {only_a:?}; only B: {only_b:?}",
                a.len(),
                b.len()
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
    let ledger = sh.ledger.lock().unwrap();
    let expected: HashMap<String, Vec<u8>> = ledger
        .delivered
        .iter()
        .filter(|(id, _)| !ledger.deleted.contains(*id) && !ledger.maybe_deleted.contains(*id))
        .map(|(id, b)| (id.clone(), b.clone()))
        .collect();
    for (name, addrs) in [("A", Addrs::of(&a)), ("B", Addrs::of(&b))] {
        let (v, inbox) = view(addrs.imap, "INBOX");
        assert_eq!(v, validity, "UIDVALIDITY of INBOX changed ({name})");
        let mut pop3 = Pop3::login(addrs.pop3, "alice", "pw").unwrap();
        let census = check_inbox(&inbox, Some(&mut pop3), &sh.inbox, &expected);
        pop3.cut();
        let missing: Vec<&String> = expected
            .keys()
            .filter(|id| !census.imap.contains_key(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "acknowledged but missing ({name}): {missing:?}"
        );
        let back: Vec<&String> = ledger
            .deleted
            .iter()
            .filter(|id| census.imap.contains_key(*id))
            .collect();
        assert!(
            back.is_empty(),
            "deleted but still there ({name}): {back:?}"
        );
        let half: Vec<&String> = ledger
            .cut
            .iter()
            .filter(|id| census.imap.contains_key(*id))
            .collect();
        assert!(half.is_empty(), "cut APPENDs stored ({name}): {half:?}");
    }
    // Work: only COPY writes it (the same message may be copied twice), nothing deletes there.
    let (_, work_a) = view(a.addr("imap"), "Work");
    let (_, work_b) = view(b.addr("imap"), "Work");
    assert_eq!(
        brief(&work_a),
        brief(&work_b),
        "the servers disagree on Work"
    );
    let work = check_copies(&work_a, &sh.inbox.join(".Work"));
    let lost: Vec<&String> = ledger
        .copied
        .iter()
        .filter(|id| !work.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged copies missing from Work: {lost:?}"
    );
    eprintln!(
        "soak: {secs}s, {} delivered, {} deleted, {} cut, {} copied; INBOX {} messages, Work {}",
        ledger.delivered.len(),
        ledger.deleted.len(),
        ledger.cut.len(),
        ledger.copied.len(),
        inbox_a.len(),
        work_a.len()
    );
}
