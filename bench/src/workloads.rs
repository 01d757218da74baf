//! The six workloads of issue 7, each bounded in requests and time, each returning metrics.
//!
//! Users they expect (the `compare` command creates them; another server must have them):
//! `mix0..` (mixed and login, [`MIX_MESSAGES`] messages each), `app` (APPEND), `big{n}r{rep}`
//! and `pop{n}r{rep}` (n messages dropped into `new/`, never opened before), `idle`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{Conn, append_uid, tls_connector};
use crate::corpus::{self, NEEDLE_EVERY, Rng};
use crate::pace::{Pace, Slot};
use crate::servers::{Target, deliver, make_maildir, tree_pss_kib};
use crate::stats::{Metric, percentile};

/// Messages in each mixed-workload user's INBOX before the run.
pub const MIX_MESSAGES: usize = 30;
/// Time RETR-all may take per phase; a slower server is measured on the messages it
/// served in that time (a rate, so the numbers still compare).
const RETR_BUDGET: Duration = Duration::from_secs(20);
/// How long every IDLE connection gets to see a delivery before it counts as missed.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(40);
/// Connections opened at once by the idle workload (Dovecot starts a process for each).
const IDLE_OPEN_CONCURRENCY: usize = 64;

/// Name of the mixed/login user `i`.
pub fn mix_user(i: usize) -> String {
    format!("mix{i}")
}

/// Name of the user with a fresh `n`-message mailbox for IMAP in repetition `rep`.
pub fn big_user(n: usize, rep: usize) -> String {
    format!("big{n}r{rep}")
}

/// Name of the user with a fresh `n`-message mailbox for POP3 in repetition `rep`.
pub fn pop_user(n: usize, rep: usize) -> String {
    format!("pop{n}r{rep}")
}

fn lat_metrics(prefix: &str, mut lat: Vec<Duration>, out: &mut Vec<Metric>) {
    lat.sort();
    if let Some(p) = percentile(&lat, 50.0) {
        out.push(Metric::ms(format!("{prefix} p50"), p));
    }
    if let Some(p) = percentile(&lat, 99.0) {
        out.push(Metric::ms(format!("{prefix} p99"), p));
    }
}

/// Log in once as each of the first `users` mix users, untimed: a server may set up a
/// user's mailboxes at first login (Roost autocreates Drafts, Sent, ...; the Dovecot config
/// here does not), which is a one-time cost and not part of the steady state measured.
async fn warm_up(t: &Target, users: usize) -> Result<()> {
    let addr = t.addr("imap")?;
    for i in 0..users {
        let mut c = Conn::connect(addr).await?;
        c.login(&mix_user(i), &t.password).await?;
        c.logout().await?;
    }
    Ok(())
}

/// Workload 1: `clients` concurrent sessions over `users` users for `duration`, each session
/// login, LIST, STATUS, SELECT, 3x (FETCH flags, FETCH a whole message, STORE), APPEND,
/// STORE \Deleted + EXPUNGE of what it appended, LOGOUT. Closed loop without `rate`;
/// with it, `rate` commands/s offered over all clients (see [`Pace`]).
pub async fn mixed(
    t: &Target,
    clients: usize,
    users: usize,
    duration: Duration,
    rate: Option<f64>,
) -> Result<Vec<Metric>> {
    let addr = t.addr("imap")?;
    warm_up(t, users.min(clients)).await?;
    let start = Instant::now();
    let pace = Arc::new(match rate {
        Some(r) => Pace::open(start, duration, r),
        None => Pace::closed(start + duration),
    });
    // Rows of an open-loop run name the offered rate.
    let name = match rate {
        Some(r) => format!("mixed c={clients} @{r}/s"),
        None => format!("mixed c={clients}"),
    };
    let mut set = JoinSet::new();
    for c in 0..clients {
        let user = mix_user(c % users.max(1));
        let password = t.password.clone();
        let pace = Arc::clone(&pace);
        set.spawn(async move {
            let mut rng = Rng::new(c as u64 + 17);
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while pace.running() {
                let r = mixed_session(addr, &user, &password, &mut rng, &pace, &mut lat).await;
                if let Err(e) = r {
                    errors += 1;
                    if errors == 1 {
                        eprintln!("  mixed: {user}: {e:#}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            (lat, errors)
        });
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    while let Some(r) = set.join_next().await {
        let (l, e) = r?;
        all.extend(l);
        errors += e;
    }
    // Per command, on stderr only: where a tail latency comes from.
    let mut by_verb: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    for (v, d) in &all {
        by_verb.entry(v).or_default().push(*d);
    }
    for (v, mut d) in by_verb {
        d.sort();
        let p = |q| percentile(&d, q).unwrap_or_default().as_secs_f64() * 1000.0;
        eprintln!(
            "    {} {name} {v:<10} n={:<6} p50 {:.2} ms  p99 {:.2} ms",
            t.name,
            d.len(),
            p(50.0),
            p(99.0)
        );
    }
    // Connecting is not a command, but it is where a closed loop of clients can wait
    // instead: a server that is slow to greet keeps fewer clients in the timed commands.
    let (connects, all): (Vec<_>, Vec<_>) = all.into_iter().partition(|(v, _)| v == CONNECT);
    let lat: Vec<Duration> = all.into_iter().map(|(_, d)| d).collect();
    // Only commands sent before the deadline are counted, so divide by the window itself.
    let secs = duration.as_secs_f64();
    let mut out = vec![Metric::higher(
        format!("{name} commands/s"),
        lat.len() as f64 / secs,
        "cmd/s",
    )];
    lat_metrics(&format!("{name} latency"), lat, &mut out);
    lat_metrics(
        &format!("{name} connect+greeting"),
        connects.into_iter().map(|(_, d)| d).collect(),
        &mut out,
    );
    out.push(Metric::lower(
        format!("{name} failed sessions"),
        errors as f64,
        "",
    ));
    Ok(out)
}

/// The command name a latency is filed under (`UID STORE` keeps its `UID`).
fn verb(cmd: &str) -> String {
    let mut words = cmd.split(' ');
    match words.next() {
        Some("UID") => format!("UID {}", words.next().unwrap_or("")),
        Some(w) => w.to_string(),
        None => String::new(),
    }
}

/// The name connect + greeting is filed under (kept out of the per-command figures).
const CONNECT: &str = "(connect)";

/// Files the latency of a command that got `slot` (nothing for one sent after the run).
fn record(lat: &mut Vec<(String, Duration)>, what: String, slot: Slot) {
    if let Some(t0) = slot {
        lat.push((what, t0.elapsed()));
    }
}

async fn mixed_session(
    addr: std::net::SocketAddr,
    user: &str,
    password: &str,
    rng: &mut Rng,
    pace: &Pace,
    lat: &mut Vec<(String, Duration)>,
) -> Result<()> {
    let t0 = Instant::now();
    let mut c = Conn::connect(addr).await?;
    lat.push((CONNECT.into(), t0.elapsed()));
    let slot = pace.slot().await;
    c.login(user, password).await?;
    record(lat, "LOGIN".into(), slot);
    for cmd in [
        "LIST \"\" \"*\"",
        "STATUS INBOX (MESSAGES UNSEEN UIDNEXT)",
        "SELECT INBOX",
    ] {
        let slot = pace.slot().await;
        c.imap(cmd).await?;
        record(lat, verb(cmd), slot);
    }
    for _ in 0..3 {
        // Only the seeded messages are fetched: they are never expunged, so their sequence
        // numbers stay valid whatever other sessions of the same user do.
        let k = 1 + rng.below(MIX_MESSAGES);
        let flag = if rng.below(2) == 0 { '+' } else { '-' };
        for cmd in [
            "FETCH 1:* (FLAGS)".to_string(),
            format!("FETCH {k} (BODY.PEEK[])"),
            format!("STORE {k} {flag}FLAGS (\\Seen)"),
        ] {
            let slot = pace.slot().await;
            c.imap(&cmd).await?;
            record(lat, verb(&cmd), slot);
        }
    }
    let msg = corpus::message(rng.below(300));
    let slot = pace.slot().await;
    let tagged = c.append("INBOX", &msg).await?;
    record(lat, "APPEND".into(), slot);
    let uid = append_uid(&tagged).context("APPEND answered without [APPENDUID]")?;
    for cmd in [
        format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
        "EXPUNGE".to_string(),
        "LOGOUT".to_string(),
    ] {
        let slot = pace.slot().await;
        c.imap(&cmd).await?;
        record(lat, verb(&cmd), slot);
    }
    Ok(())
}

/// Workload 2: `clients` loops of connect, LOGIN, LOGOUT for `duration`; over implicit TLS
/// when `tls`.
pub async fn login(
    t: &Target,
    clients: usize,
    duration: Duration,
    tls: bool,
) -> Result<Vec<Metric>> {
    let addr = t.addr(if tls { "imaps" } else { "imap" })?;
    warm_up(t, clients).await?;
    let connector = tls_connector()?;
    let start = Instant::now();
    let deadline = start + duration;
    let mut set = JoinSet::new();
    for c in 0..clients {
        let user = mix_user(c);
        let password = t.password.clone();
        let connector = connector.clone();
        set.spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let mut conn = if tls {
                    Conn::connect_tls(addr, &connector).await?
                } else {
                    Conn::connect(addr).await?
                };
                conn.login(&user, &password).await?;
                conn.logout().await?;
                lat.push(t0.elapsed());
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = set.join_next().await {
        lat.extend(r??);
    }
    let kind = if tls { "TLS" } else { "plain" };
    let mut out = vec![Metric::higher(
        format!("login {kind} c={clients} logins/s"),
        lat.len() as f64 / start.elapsed().as_secs_f64(),
        "login/s",
    )];
    lat_metrics(&format!("login {kind} c={clients} latency"), lat, &mut out);
    Ok(out)
}

/// Workload 3: APPEND corpus messages `0..count` to user `app`'s INBOX, one session.
pub async fn append(t: &Target, count: usize) -> Result<Vec<Metric>> {
    let mut c = Conn::connect(t.addr("imap")?).await?;
    c.login("app", &t.password).await?;
    let messages: Vec<Vec<u8>> = (0..count).map(corpus::message).collect();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let start = Instant::now();
    for m in &messages {
        c.append("INBOX", m).await?;
    }
    let secs = start.elapsed().as_secs_f64();
    c.logout().await?;
    Ok(vec![
        Metric::higher("append messages/s", count as f64 / secs, "msg/s"),
        Metric::higher("append MB/s", bytes as f64 / secs / 1e6, "MB/s"),
    ])
}

fn search_hits(reply: &crate::client::Reply) -> usize {
    reply
        .untagged
        .iter()
        .filter(|l| l.starts_with(b"* SEARCH"))
        .map(|l| l.split(|&b| b == b' ').count().saturating_sub(2))
        .sum()
}

/// Workload 4: user `big{n}r{rep}`'s mailbox of `n` messages never opened before: SELECT,
/// FETCH 1:* (UID FLAGS RFC822.SIZE), SEARCH header, SEARCH body, FETCH 1:* BODYSTRUCTURE;
/// cold (first session), then warm (second session).
pub async fn bigbox(t: &Target, n: usize, rep: usize) -> Result<Vec<Metric>> {
    let addr = t.addr("imap")?;
    let user = big_user(n, rep);
    let needles = n.div_ceil(NEEDLE_EVERY);
    let mut out = Vec::new();
    for phase in ["cold", "warm"] {
        let mut c = Conn::connect(addr).await?;
        c.login(&user, &t.password).await?;
        let p = format!("bigbox {n} {phase}");
        let t0 = Instant::now();
        c.imap("SELECT INBOX").await?;
        let select = t0.elapsed();
        let fetched = c.imap("FETCH 1:* (UID FLAGS RFC822.SIZE)").await?;
        let open = t0.elapsed();
        if fetched.count(b"FETCH") != n {
            bail!(
                "{user}: FETCH 1:* returned {} of {n}",
                fetched.count(b"FETCH")
            );
        }
        out.push(Metric::ms(format!("{p}: SELECT"), select));
        out.push(Metric::ms(format!("{p}: SELECT + FETCH 1:*"), open));
        let t0 = Instant::now();
        let r = c
            .imap(&format!("SEARCH HEADER SUBJECT {}", corpus::SUBJECT_NEEDLE))
            .await?;
        out.push(Metric::ms(format!("{p}: SEARCH HEADER"), t0.elapsed()));
        if search_hits(&r) != needles {
            bail!(
                "{user}: SEARCH HEADER found {} of {needles}",
                search_hits(&r)
            );
        }
        let t0 = Instant::now();
        let r = c
            .imap(&format!("SEARCH BODY {}", corpus::BODY_NEEDLE))
            .await?;
        out.push(Metric::ms(format!("{p}: SEARCH BODY"), t0.elapsed()));
        if search_hits(&r) != needles {
            bail!("{user}: SEARCH BODY found {} of {needles}", search_hits(&r));
        }
        let t0 = Instant::now();
        let r = c.imap("FETCH 1:* (BODYSTRUCTURE)").await?;
        out.push(Metric::ms(
            format!("{p}: FETCH BODYSTRUCTURE"),
            t0.elapsed(),
        ));
        if r.count(b"BODYSTRUCTURE") != n {
            bail!(
                "{user}: BODYSTRUCTURE for {} of {n}",
                r.count(b"BODYSTRUCTURE")
            );
        }
        c.logout().await?;
    }
    Ok(out)
}

/// Workload 5: POP3 on user `pop{n}r{rep}`'s `n` messages, cold then warm: USER/PASS + STAT
/// + UIDL + LIST, then RETR of every message (bounded by [`RETR_BUDGET`]).
pub async fn pop3(t: &Target, n: usize, rep: usize) -> Result<Vec<Metric>> {
    let addr = t.addr("pop3")?;
    let user = pop_user(n, rep);
    let mut out = Vec::new();
    for phase in ["cold", "warm"] {
        let t0 = Instant::now();
        let mut c = Conn::connect(addr).await?;
        c.pop(&format!("USER {user}")).await?;
        c.pop(&format!("PASS {}", t.password)).await?;
        c.pop("STAT").await?;
        let (uidls, _) = c.pop_multi("UIDL").await?;
        c.pop_multi("LIST").await?;
        out.push(Metric::ms(
            format!("pop3 {n} {phase}: login+STAT+UIDL+LIST"),
            t0.elapsed(),
        ));
        if uidls != n {
            bail!("{user}: UIDL listed {uidls} of {n}");
        }
        let t0 = Instant::now();
        let mut retrieved = 0;
        for i in 1..=n {
            c.pop_multi(&format!("RETR {i}")).await?;
            retrieved = i;
            if t0.elapsed() > RETR_BUDGET {
                eprintln!("  pop3 {n} {phase}: RETR stopped after {i} of {n} ({RETR_BUDGET:?})");
                break;
            }
        }
        out.push(Metric::higher(
            format!("pop3 {n} {phase}: RETR all, messages/s"),
            retrieved as f64 / t0.elapsed().as_secs_f64(),
            "msg/s",
        ));
        c.pop("QUIT").await?;
    }
    Ok(out)
}

/// Workload 6: `n` connections of user `idle` in IDLE on INBOX; server memory per
/// connection (PSS delta) and the delay from one delivery to `* EXISTS` on each.
pub async fn idle(t: &Target, n: usize, rep: usize) -> Result<Vec<Metric>> {
    let addr = t.addr("imap")?;
    let maildir = t
        .maildir_of("idle")
        .context("idle workload needs the server's Maildir path to deliver into")?;
    make_maildir(&maildir, t.owner)?;
    // One login first, so the concurrent ones below find the user's mailboxes set up (a
    // server may create them at first login) and memory is measured for sessions alone.
    let mut c = Conn::connect(addr).await?;
    c.login("idle", &t.password).await?;
    c.logout().await?;
    let before = t.pid.map(tree_pss_kib).transpose()?;
    let gate = Arc::new(Semaphore::new(IDLE_OPEN_CONCURRENCY));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (gate, password) = (Arc::clone(&gate), t.password.clone());
        set.spawn(async move {
            let permit = gate.acquire_owned().await?;
            let mut c = Conn::connect(addr).await?;
            c.login("idle", &password).await?;
            c.imap("SELECT INBOX").await?;
            c.idle().await?;
            drop(permit);
            anyhow::Ok(c)
        });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        conns.push(r??);
    }
    // Let the server settle (Dovecot's processes finish starting, allocators trim).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut out = Vec::new();
    if let (Some(pid), Some(before)) = (t.pid, before) {
        let after = tree_pss_kib(pid)?;
        out.push(Metric::lower(
            format!("idle {n}: server PSS per connection"),
            after.saturating_sub(before) as f64 / n as f64,
            "KiB",
        ));
        out.push(Metric::lower(
            format!("idle {n}: server PSS total"),
            after as f64 / 1024.0,
            "MiB",
        ));
    }
    // Unique per delivery (a Maildir name is the message's identity): per size and repetition.
    let name = format!(
        "{}.M{n}R{rep}P{}.bench-idle",
        1_900_000_000 + rep,
        std::process::id()
    );
    // Every waiter is reading before the delivery, and keeps its connection until all
    // have answered: what is timed is the server's fan-out, not the client spawning 10,000
    // tasks after the delivery or the server tearing down connections already answered.
    let mut set = JoinSet::new();
    for mut c in conns {
        set.spawn(async move {
            let seen = tokio::time::timeout(NOTIFY_TIMEOUT, c.wait_for(b"EXISTS")).await;
            (matches!(seen, Ok(Ok(()))).then(Instant::now), c)
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = Instant::now();
    deliver(&maildir, &name, &corpus::message(rep))?;
    let mut arrivals = Vec::new();
    let mut answered = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        let (at, c) = r?;
        arrivals.extend(at);
        answered.push(c);
    }
    drop(answered);
    let delays: Vec<Duration> = arrivals
        .iter()
        .map(|a| a.saturating_duration_since(t0))
        .collect();
    out.push(Metric::higher(
        format!("idle {n}: notified within {}s", NOTIFY_TIMEOUT.as_secs()),
        100.0 * delays.len() as f64 / n as f64,
        "%",
    ));
    lat_metrics(&format!("idle {n}: delivery -> EXISTS"), delays, &mut out);
    Ok(out)
}
