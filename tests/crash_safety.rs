//! `kill -9` against the real `roost deliver` at random instants (mid-write, mid-commit),
//! then the Maildir is checked with the storage engine: nothing partial is ever shown, every
//! acknowledged message is there byte for byte, UIDs are unique, increasing and never reused,
//! and a damaged index is only a cache.
//!
//! The random seed is printed; `ROOST_CRASH_SEED=<n>` replays a run.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{WAIT, config_yaml, roost};
use roost_storage::index::{INDEX_FILE, IndexFile};
use roost_storage::maildir::filename;
use roost_storage::maildir::uidlist::read_uidlist;
use roost_storage::{Snapshot, Store};
use roost_testkit::maildir::file_names;
use roost_testkit::process::spawn_with_input;
use roost_testkit::store::read_message;
use roost_testkit::{StoreBuilder, inbox};

const USER: &str = "crash";
/// Deliveries per run: enough kills to land in every phase, few enough for ~20 s.
const DELIVERIES: usize = 60;
/// Deliveries running at once (the machine has two shared cores).
const PARALLEL: usize = 4;
const MIN_SIZE: usize = 1024;
const MAX_SIZE: usize = 2 << 20;

/// xorshift64*: small, seedable, good enough to pick sizes and delays.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("ROOST_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            .max(1);
        eprintln!("crash_safety seed: ROOST_CRASH_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

struct Env {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    maildir: PathBuf,
    mail_path: String,
}

/// A data dir with fsync on, a short lock timeout (a lock left by a killed process must
/// be broken at once, not waited out) and the user `crash`.
fn env() -> Env {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let config = tmp.path().join("roost.yaml");
    let yaml = config_yaml(&data).replace(
        "storage:\n  fsync: false\n",
        "storage:\n  fsync: true\n  lock_timeout_secs: 5\n",
    );
    assert!(yaml.contains("fsync: true"), "{yaml}");
    std::fs::write(&config, yaml).expect("write config");
    let out = run(&config, &["user", "add", USER, "--password-stdin"], b"pw\n");
    assert_eq!(out.0, Some(0), "user add: {}", out.1);
    let mail_path = format!("{}/mail/{{user}}/Maildir", data.display());
    Env {
        maildir: data.join("mail").join(USER).join("Maildir"),
        mail_path,
        config,
        _tmp: tmp,
    }
}

/// Run `roost ARGS -c CONFIG` to the end with `stdin`; (exit code, stderr).
fn run(config: &Path, args: &[&str], stdin: &[u8]) -> (Option<i32>, String) {
    let child = spawn_with_input(
        roost()
            .args(args)
            .arg("-c")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        stdin,
    );
    let out = child.wait_with_output().expect("wait roost");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A distinct message of exactly `size` bytes; `X-Seq` says which one it is.
fn message(seq: usize, size: usize, rng: &mut Rng) -> Vec<u8> {
    let mut m = format!("From: a@example.org\nSubject: crash {seq}\nX-Seq: {seq}\n\n").into_bytes();
    while m.len() < size {
        let line_len = rng.range(20, 90) as usize;
        for _ in 0..line_len {
            m.push(b'!' + (rng.next() % 90) as u8);
        }
        m.push(b'\n');
    }
    m.truncate(size - 1);
    m.push(b'\n');
    m
}

/// The `X-Seq` of a message we sent.
fn seq_of(bytes: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(&bytes[..bytes.len().min(200)]).ok()?;
    let line = text.lines().find(|l| l.starts_with("X-Seq: "))?;
    line["X-Seq: ".len()..].parse().ok()
}

/// Sizes spread evenly over the orders of magnitude between 1 KB and 2 MB.
fn random_size(rng: &mut Rng) -> usize {
    let (lo, hi) = ((MIN_SIZE as f64).ln(), (MAX_SIZE as f64).ln());
    let x = rng.next() as f64 / u64::MAX as f64;
    ((lo + x * (hi - lo)).exp() as usize).clamp(MIN_SIZE, MAX_SIZE)
}

/// A `roost deliver` being fed its message slowly by a writer thread.
struct Delivery {
    seq: usize,
    child: Child,
    /// Kill -9 this long after the start, if set.
    kill_after: Option<Duration>,
    started: Instant,
    writer: std::thread::JoinHandle<()>,
}

fn start_delivery(config: &Path, seq: usize, msg: Arc<Vec<u8>>, rng: &mut Rng) -> Delivery {
    let mut child = roost()
        .args(["deliver", "--user", USER, "-c"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn roost deliver");
    let mut stdin = child.stdin.take().expect("stdin");
    // 8 to 32 chunks 1 ms apart: every message, small or large, is still being written
    // during most of the 0-50 ms kill window.
    let chunk = msg.len().div_ceil(rng.range(8, 32) as usize);
    let writer = std::thread::spawn(move || {
        for part in msg.chunks(chunk) {
            // A killed reader makes this fail (EPIPE): that is the point.
            if stdin.write_all(part).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    // Half of the deliveries are killed, at 0-50 ms: before, during and after the write.
    let kill_after = rng
        .next()
        .is_multiple_of(2)
        .then(|| Duration::from_millis(rng.range(0, 50)));
    Delivery {
        seq,
        child,
        kill_after,
        started: Instant::now(),
        writer,
    }
}

/// What became of one delivery.
struct Outcome {
    seq: usize,
    killed: bool,
    code: Option<i32>,
    stderr: String,
}

/// Drive a batch to the end: kill on schedule, wait for the rest (bounded by [`WAIT`]).
fn finish_batch(batch: Vec<Delivery>) -> Vec<Outcome> {
    let deadline = Instant::now() + WAIT;
    let mut pending: Vec<(Delivery, bool)> = batch.into_iter().map(|d| (d, false)).collect();
    let mut out = Vec::new();
    while !pending.is_empty() {
        assert!(Instant::now() < deadline, "roost deliver hung");
        let mut still = Vec::new();
        for (mut d, mut killed) in pending {
            if !killed && d.kill_after.is_some_and(|k| d.started.elapsed() >= k) {
                // SIGKILL; a process that already exited but is not reaped ignores it.
                let _ = d.child.kill();
                killed = true;
            }
            match d.child.try_wait().expect("try_wait") {
                Some(status) => {
                    let _ = d.writer.join();
                    let mut stderr = String::new();
                    if let Some(mut e) = d.child.stderr.take() {
                        let _ = e.read_to_string(&mut stderr);
                    }
                    out.push(Outcome {
                        seq: d.seq,
                        killed,
                        code: status.code(),
                        stderr,
                    });
                }
                None => still.push((d, killed)),
            }
        }
        pending = still;
        std::thread::sleep(Duration::from_millis(1));
    }
    out
}

fn store_for(env: &Env) -> Arc<Store> {
    StoreBuilder::for_mail_path(env.mail_path.clone())
        .autocreate(false)
        .build()
}

/// Everything the storage engine and the disk say after the run, checked against what
/// was sent. Returns the snapshot and every UID in the uidlist.
fn check_mailbox(
    env: &Env,
    sent: &HashMap<usize, Arc<Vec<u8>>>,
    acked: &HashSet<usize>,
) -> Snapshot {
    let store = store_for(env);
    let user = store.user(USER).expect("user");
    let mb = user.open(&inbox()).expect("open INBOX");
    mb.sync_now(true).expect("sync");
    let snap = mb.snapshot().expect("snapshot");

    // Every message shown is whole, and one we sent, once.
    let mut shown = HashSet::new();
    for m in &snap.messages {
        let bytes = read_message(&mb, m.uid)
            .unwrap_or_else(|| panic!("uid {} listed but not readable", m.uid));
        let seq = seq_of(&bytes).unwrap_or_else(|| panic!("uid {} is not ours", m.uid));
        assert!(
            sent.get(&seq).is_some_and(|s| **s == bytes),
            "uid {} (message {seq}) is partial or altered: {} bytes",
            m.uid,
            bytes.len()
        );
        assert_eq!(m.size, bytes.len() as u64, "uid {}: size", m.uid);
        assert!(shown.insert(seq), "message {seq} shown twice");
    }
    let mut missing: Vec<&usize> = acked.difference(&shown).collect();
    missing.sort();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");

    // On disk: every file in new/ and cur/ is whole, and has a UID after the sync.
    let (list, _) = read_uidlist(&env.maildir)
        .expect("read uidlist")
        .expect("uidlist exists");
    let uids: Vec<u32> = list.records.iter().map(|r| r.uid).collect();
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "uidlist UIDs not strictly increasing: {uids:?}"
    );
    assert!(uids.last().is_none_or(|&u| u < list.next_uid));
    let by_base: HashMap<&str, u32> = list.records.iter().map(|r| (r.base(), r.uid)).collect();
    let mut files = 0;
    for sub in ["new", "cur"] {
        for name in file_names(&env.maildir.join(sub)) {
            files += 1;
            let bytes = std::fs::read(env.maildir.join(sub).join(&name)).expect("read file");
            let whole = seq_of(&bytes)
                .and_then(|s| sent.get(&s))
                .is_some_and(|s| **s == bytes);
            assert!(whole, "{sub}/{name} is not a whole message we sent");
            assert!(
                by_base.contains_key(filename::parse(&name).base),
                "{sub}/{name} has no UID after a sync"
            );
        }
    }
    assert_eq!(
        files,
        snap.messages.len(),
        "files on disk vs messages shown"
    );
    let shown_uids: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
    assert_eq!(shown_uids, uids, "snapshot vs uidlist");
    // Leftovers in tmp/ are allowed (a kill mid-write), and were never counted above.
    eprintln!(
        "{} shown, {} acknowledged, {} left in tmp/",
        snap.messages.len(),
        acked.len(),
        file_names(&env.maildir.join("tmp")).len()
    );
    drop(mb);
    store.flush_all(true);
    snap
}

#[test]
fn kill_9_never_shows_partial_mail_and_never_reuses_uids() {
    let env = env();
    let mut rng = Rng::seeded();
    let started = Instant::now();
    let mut sent = HashMap::new();
    let mut outcomes = Vec::new();
    let mut seq = 0;
    while seq < DELIVERIES {
        let mut batch = Vec::new();
        for _ in 0..PARALLEL.min(DELIVERIES - seq) {
            let size = random_size(&mut rng);
            let msg = Arc::new(message(seq, size, &mut rng));
            sent.insert(seq, Arc::clone(&msg));
            batch.push(start_delivery(&env.config, seq, msg, &mut rng));
            seq += 1;
        }
        outcomes.extend(finish_batch(batch));
    }
    let mut acked = HashSet::new();
    let mut killed = 0;
    for o in &outcomes {
        if o.code == Some(0) {
            acked.insert(o.seq);
        } else if o.killed && o.code.is_none() {
            killed += 1;
        } else {
            // Not killed (or finished before the kill) yet failed: a real error, e.g.
            // a lock left behind by a killed process that nobody could break.
            let lock = std::fs::read(env.maildir.join("dovecot-uidlist.lock")).unwrap_or_default();
            panic!(
                "delivery {} failed without a kill: {:?}\n{}\nlock file now: {:?}",
                o.seq,
                o.code,
                o.stderr,
                String::from_utf8_lossy(&lock[..lock.len().min(120)])
            );
        }
    }
    eprintln!(
        "{DELIVERIES} deliveries in {:?}: {} acknowledged, {killed} killed",
        started.elapsed(),
        acked.len()
    );
    assert!(killed > 0 && !acked.is_empty(), "the run proved nothing");

    let snap = check_mailbox(&env, &sent, &acked);

    // (b) A UID is never reused: expunge the highest, lose the index, deliver again.
    let next_before = snap.next_uid;
    let top = snap.messages.last().expect("some message survived").uid;
    {
        let store = store_for(&env);
        let mb = store
            .user(USER)
            .expect("user")
            .open(&inbox())
            .expect("open");
        assert_eq!(mb.expunge(&[top]).expect("expunge"), [top]);
        drop(mb);
        store.flush_all(true);
    }
    std::fs::remove_file(env.maildir.join(INDEX_FILE)).expect("remove index");
    let again = message(DELIVERIES, 2000, &mut rng);
    let (code, stderr) = run(&env.config, &["deliver", "--user", USER], &again);
    assert_eq!(code, Some(0), "{stderr}");
    let store = store_for(&env);
    let mb = store
        .user(USER)
        .expect("user")
        .open(&inbox())
        .expect("open");
    let snap = mb.snapshot().expect("snapshot");
    let newest = snap.messages.last().expect("the new message");
    // next_uid was above every UID ever handed out, killed deliveries' included.
    assert!(
        newest.uid >= next_before && newest.uid > top,
        "UID {} reused (next UID was {next_before}, expunged {top})",
        newest.uid
    );
    let bytes = read_message(&mb, newest.uid).expect("present");
    assert_eq!(bytes, again);
}

/// Collects what a `tracing` subscriber writes, to assert on warnings.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn garbage_index_is_rebuilt_by_deliver_and_store() {
    let env = env();
    let mut rng = Rng::seeded();
    let first = message(0, 3000, &mut rng);
    let (code, stderr) = run(&env.config, &["deliver", "--user", USER], &first);
    assert_eq!(code, Some(0), "{stderr}");
    let index = env.maildir.join(INDEX_FILE);
    assert!(index.is_file(), "deliver wrote no index");

    // The binary delivering onto a damaged index.
    std::fs::write(&index, b"\0garbage, not an index\n").expect("damage index");
    let second = message(1, 5000, &mut rng);
    let (code, stderr) = run(&env.config, &["deliver", "--user", USER], &second);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        IndexFile::read(&env.maildir).is_ok_and(|i| i.is_some()),
        "deliver did not replace the damaged index"
    );

    // The engine opening a damaged index: works, and says so in the log.
    std::fs::write(&index, b"garbage again").expect("damage index");
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let store = store_for(&env);
    let snap = tracing::subscriber::with_default(subscriber, || {
        store
            .user(USER)
            .expect("user")
            .open(&inbox())
            .expect("open on a damaged index")
            .snapshot()
            .expect("snapshot")
    });
    let log =
        String::from_utf8_lossy(&log.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    assert!(
        log.contains("WARN") && log.contains("index is damaged"),
        "{log}"
    );
    let uids: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [1, 2]);
    let mut bodies = BTreeMap::new();
    let mb = store
        .user(USER)
        .expect("user")
        .open(&inbox())
        .expect("open");
    for uid in uids {
        bodies.insert(uid, read_message(&mb, uid).expect("present"));
    }
    assert_eq!(bodies[&1], first);
    assert_eq!(bodies[&2], second);
}
