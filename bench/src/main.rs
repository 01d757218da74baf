//! `roost-bench`: a load generator for IMAP and POP3 servers, and the side-by-side
//! benchmark of Roost against Dovecot (issue 7).
//!
//! `roost-bench run` drives any server at the given addresses; `roost-bench compare` starts
//! Roost and Dovecot on 127.0.0.1 with the same users and messages, runs every workload on
//! each in turn, repeats, and prints medians and ratios as a Markdown table.

mod client;
mod corpus;
mod pace;
mod servers;
mod stats;
mod workloads;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use servers::{DovecotSetup, RoostSetup, Running, Target, make_maildir};
use stats::{Better, Metric, median};
use workloads::{MIX_MESSAGES, big_user, mix_user, pop_user};

/// Every workload, in the order they run.
const ALL_WORKLOADS: &[&str] = &["mixed", "login", "append", "bigbox", "pop3", "idle"];
/// Password of every benchmark user.
const PASSWORD: &str = "bench-pw";
/// Concurrent clients of the login workload.
const LOGIN_CLIENTS: usize = 10;

#[derive(Parser)]
#[command(
    version,
    about = "IMAP/POP3 load generator; Roost vs Dovecot benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drive one already running server (it must have the users the workloads name).
    Run {
        #[command(flatten)]
        plan: PlanArgs,
        /// IMAP address.
        #[arg(long)]
        imap: Option<SocketAddr>,
        /// IMAP over implicit TLS address.
        #[arg(long)]
        imaps: Option<SocketAddr>,
        /// POP3 address.
        #[arg(long)]
        pop3: Option<SocketAddr>,
        /// The users' password.
        #[arg(long, default_value = PASSWORD)]
        password: String,
        /// Maildir path of a user with `{user}` in it (for delivering to the idle user).
        #[arg(long)]
        maildir: Option<String>,
        /// The server's process id (memory = PSS of it and its descendants).
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Start Roost and Dovecot side by side and compare them.
    Compare {
        #[command(flatten)]
        plan: PlanArgs,
        /// The `roost` binary to start (build it with `cargo build --release`).
        #[arg(long, default_value = "target/release/roost")]
        roost: PathBuf,
        /// Dovecot's master binary.
        #[arg(long, default_value = "/usr/sbin/dovecot")]
        dovecot: PathBuf,
        /// Servers to run, comma separated: roost, dovecot.
        #[arg(long, default_value = "roost,dovecot", value_delimiter = ',')]
        servers: Vec<String>,
        /// Where to put servers and mail (default: a temp dir removed at the end).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct PlanArgs {
    /// Small sizes and one repetition (seconds, not minutes).
    #[arg(long)]
    quick: bool,
    /// Workloads to run, comma separated (default all): mixed, login, append, bigbox, pop3, idle.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Repetitions (default 3, 1 with --quick).
    #[arg(long)]
    reps: Option<usize>,
    /// Seconds each timed loop (mixed, login) runs (default 10, 1 with --quick).
    #[arg(long)]
    secs: Option<f64>,
    /// Concurrent clients of the mixed workload (default 10,100; 4 with --quick).
    #[arg(long, value_delimiter = ',')]
    clients: Vec<usize>,
    /// Open loop for the mixed workload: commands/s offered over all its clients, comma
    /// separated for several runs; latency counts from when each command was due. 0 (and
    /// the default) is a closed loop: each client sends as soon as its previous reply is in.
    #[arg(long, value_delimiter = ',')]
    rate: Vec<f64>,
    /// Large mailbox sizes (default 10000,100000; 200 with --quick).
    #[arg(long, value_delimiter = ',')]
    big: Vec<usize>,
    /// IDLE connection counts (default 1000,10000; 20 with --quick).
    #[arg(long, value_delimiter = ',')]
    idle: Vec<usize>,
    /// Messages the APPEND workload sends (default 300; 30 with --quick).
    #[arg(long)]
    append: Option<usize>,
}

/// The resolved sizes of one benchmark run.
struct Plan {
    workloads: Vec<String>,
    reps: usize,
    duration: Duration,
    clients: Vec<usize>,
    rates: Vec<f64>,
    big: Vec<usize>,
    idle: Vec<usize>,
    append: usize,
}

impl Plan {
    fn from(a: &PlanArgs) -> Result<Plan> {
        let or = |v: &Vec<usize>, full: &[usize], quick: &[usize]| {
            if !v.is_empty() {
                v.clone()
            } else if a.quick {
                quick.to_vec()
            } else {
                full.to_vec()
            }
        };
        let workloads = if a.workloads.is_empty() {
            ALL_WORKLOADS.iter().map(|s| s.to_string()).collect()
        } else {
            a.workloads.clone()
        };
        for w in &workloads {
            if !ALL_WORKLOADS.contains(&w.as_str()) {
                bail!(
                    "unknown workload {w:?}; known: {}",
                    ALL_WORKLOADS.join(", ")
                );
            }
        }
        let secs = a.secs.unwrap_or(if a.quick { 1.0 } else { 10.0 });
        if !(secs > 0.0 && secs <= 3600.0) {
            bail!("--secs must be between 0 and 3600");
        }
        if let Some(r) = a.rate.iter().find(|r| !(r.is_finite() && **r >= 0.0)) {
            bail!("--rate must be commands/s (0 for a closed loop), not {r}");
        }
        // Large mailboxes take minutes to write: only when a workload opens them.
        let uses_big = workloads.iter().any(|w| w == "bigbox" || w == "pop3");
        Ok(Plan {
            reps: a.reps.unwrap_or(if a.quick { 1 } else { 3 }).max(1),
            duration: Duration::from_secs_f64(secs),
            clients: or(&a.clients, &[10, 100], &[4]),
            rates: a.rate.clone(),
            big: if uses_big {
                or(&a.big, &[10_000, 100_000], &[200])
            } else {
                Vec::new()
            },
            idle: or(&a.idle, &[1_000, 10_000], &[20]),
            append: a.append.unwrap_or(if a.quick { 30 } else { 300 }),
            workloads,
        })
    }

    fn has(&self, w: &str) -> bool {
        self.workloads.iter().any(|x| x == w)
    }

    fn mix_users(&self) -> usize {
        self.clients
            .iter()
            .copied()
            .max()
            .unwrap_or(1)
            .max(LOGIN_CLIENTS)
    }

    /// Every user the workloads log in as.
    fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = (0..self.mix_users()).map(mix_user).collect();
        users.push("app".into());
        users.push("idle".into());
        for rep in 0..self.reps {
            for &n in &self.big {
                users.push(big_user(n, rep));
                users.push(pop_user(n, rep));
            }
        }
        users
    }
}

/// Runs one repetition of every planned workload against `t`, printing progress.
async fn run_all(t: &Target, plan: &Plan, rep: usize) -> Vec<Metric> {
    let mut out = Vec::new();
    let mut note = |what: String, r: Result<Vec<Metric>>| match r {
        Ok(m) => {
            for x in &m {
                eprintln!("  {:8} {}: {:.2} {}", t.name, x.name, x.value, x.unit);
            }
            out.extend(m);
        }
        Err(e) => eprintln!("  {:8} {what}: FAILED: {e:#}", t.name),
    };
    for w in &plan.workloads {
        match w.as_str() {
            "mixed" => {
                let rates: Vec<Option<f64>> = if plan.rates.is_empty() {
                    vec![None]
                } else {
                    let open = |r: f64| (r > 0.0).then_some(r);
                    plan.rates.iter().copied().map(open).collect()
                };
                for &c in &plan.clients {
                    for &rate in &rates {
                        let r = workloads::mixed(t, c, plan.mix_users(), plan.duration, rate).await;
                        note(format!("mixed c={c} rate={rate:?}"), r);
                    }
                }
            }
            "login" => {
                for tls in [false, true] {
                    let r = workloads::login(t, LOGIN_CLIENTS, plan.duration, tls).await;
                    note(format!("login tls={tls}"), r);
                }
            }
            "append" => note("append".into(), workloads::append(t, plan.append).await),
            "bigbox" => {
                for &n in &plan.big {
                    note(format!("bigbox {n}"), workloads::bigbox(t, n, rep).await);
                }
            }
            "pop3" => {
                for &n in &plan.big {
                    note(format!("pop3 {n}"), workloads::pop3(t, n, rep).await);
                }
            }
            "idle" => {
                for &n in &plan.idle {
                    note(format!("idle {n}"), workloads::idle(t, n, rep).await);
                }
            }
            _ => {}
        }
    }
    out
}

/// Raise the open-file limit to the hard limit: the idle workload holds thousands of sockets,
/// and servers started from here inherit the limit.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Write the corpus once: `master/mix/<i>` and `master/big<n>/<i>`, later hard-linked into
/// every user's `new/` (cheap, and both servers get byte-identical files).
fn write_master(dir: &Path, plan: &Plan) -> Result<()> {
    let mix = dir.join("mix");
    std::fs::create_dir_all(&mix)?;
    for i in 0..MIX_MESSAGES {
        std::fs::write(mix.join(i.to_string()), corpus::message(i))?;
    }
    for &n in &plan.big {
        let d = dir.join(format!("big{n}"));
        if d.join((n - 1).to_string()).exists() {
            continue;
        }
        std::fs::create_dir_all(&d)?;
        for i in 0..n {
            std::fs::write(d.join(i.to_string()), corpus::message(i))?;
        }
    }
    Ok(())
}

/// Link `count` master files from `src` into `maildir/new` as an MTA would name them.
fn populate(maildir: &Path, src: &Path, count: usize, owner: Option<(u32, u32)>) -> Result<()> {
    make_maildir(maildir, owner)?;
    for i in 0..count {
        let name = format!("{}.M{i}P1.bench", 1_700_000_000 + i);
        let to = maildir.join("new").join(name);
        std::fs::hard_link(src.join(i.to_string()), &to)
            .with_context(|| format!("link {}", to.display()))?;
    }
    Ok(())
}

fn populate_all(
    template: &str,
    master: &Path,
    plan: &Plan,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let at = |u: &str| PathBuf::from(template.replace("{user}", u));
    for i in 0..plan.mix_users() {
        populate(&at(&mix_user(i)), &master.join("mix"), MIX_MESSAGES, owner)?;
    }
    make_maildir(&at("app"), owner)?;
    make_maildir(&at("idle"), owner)?;
    for rep in 0..plan.reps {
        for &n in &plan.big {
            let src = master.join(format!("big{n}"));
            populate(&at(&big_user(n, rep)), &src, n, owner)?;
            populate(&at(&pop_user(n, rep)), &src, n, owner)?;
        }
    }
    Ok(())
}

/// Three significant digits or so, without scientific notation.
fn number(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// Every metric's values over the repetitions, per server, in first-seen order.
#[derive(Default)]
struct Results {
    order: Vec<(String, &'static str, Better)>,
    values: BTreeMap<(String, String), Vec<f64>>,
}

impl Results {
    fn add(&mut self, server: &str, m: &[Metric]) {
        for x in m {
            if !self.order.iter().any(|(n, ..)| n == &x.name) {
                self.order.push((x.name.clone(), x.unit, x.better));
            }
            self.values
                .entry((x.name.clone(), server.to_string()))
                .or_default()
                .push(x.value);
        }
    }

    fn median(&self, metric: &str, server: &str) -> Option<f64> {
        median(self.values.get(&(metric.to_string(), server.to_string()))?)
    }

    /// The Markdown table: medians and Roost/Dovecot.
    fn table(&self, servers: &[String]) -> String {
        let mut s = String::from("| metric | unit |");
        for name in servers {
            s.push_str(&format!(" {name} |"));
        }
        let ratio = servers.len() == 2;
        if ratio {
            s.push_str(&format!(" {}/{} | better |", servers[0], servers[1]));
        }
        s.push_str("\n|---|---|");
        s.push_str(&"---:|".repeat(servers.len() + usize::from(ratio)));
        if ratio {
            s.push_str("---|");
        }
        s.push('\n');
        let fmt = |v: Option<f64>| v.map_or("–".to_string(), number);
        for (name, unit, better) in &self.order {
            s.push_str(&format!("| {name} | {unit} |"));
            let meds: Vec<Option<f64>> = servers.iter().map(|sv| self.median(name, sv)).collect();
            for m in &meds {
                s.push_str(&format!(" {} |", fmt(*m)));
            }
            if ratio {
                let r = match (meds[0], meds[1]) {
                    (Some(a), Some(b)) if b != 0.0 => number(a / b),
                    _ => "–".into(),
                };
                let dir = match better {
                    Better::Higher => "higher",
                    Better::Lower => "lower",
                };
                s.push_str(&format!(" {r} | {dir} |"));
            }
            s.push('\n');
        }
        s
    }
}

async fn compare(
    plan: Plan,
    roost: PathBuf,
    dovecot: PathBuf,
    which: Vec<String>,
    workdir: Option<PathBuf>,
) -> Result<()> {
    for s in &which {
        if s != "roost" && s != "dovecot" {
            bail!("unknown server {s:?}; known: roost, dovecot");
        }
    }
    let tmp;
    let dir = match workdir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => {
            tmp = tempfile::Builder::new().prefix("roost-bench-").tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    eprintln!("workdir {}; writing corpus", dir.display());
    let master = dir.join("master");
    write_master(&master, &plan)?;
    let users = plan.users();
    let mut running: Vec<Running> = Vec::new();
    for s in &which {
        let sdir = dir.join(s);
        if sdir.exists() {
            bail!("{} exists; use a fresh --workdir", sdir.display());
        }
        let r = if s == "roost" {
            let setup = RoostSetup::new(&sdir, &users, PASSWORD)?;
            populate_all(&setup.maildir(), &master, &plan, None)?;
            let roost = std::path::absolute(&roost)?;
            setup.start(&roost, PASSWORD)?
        } else {
            let setup = DovecotSetup::new(&sdir, &users, PASSWORD)?;
            populate_all(&setup.maildir(), &master, &plan, Some(setup.owner))?;
            setup.start(&dovecot, PASSWORD)?
        };
        eprintln!("{} started (pid {:?})", r.target.name, r.target.pid);
        running.push(r);
    }
    let names: Vec<String> = running.iter().map(|r| r.target.name.clone()).collect();
    let mut results = Results::default();
    for rep in 0..plan.reps {
        eprintln!("repetition {}/{}", rep + 1, plan.reps);
        for r in &running {
            let m = run_all(&r.target, &plan, rep).await;
            if m.is_empty() {
                eprintln!("{} log:\n{}", r.target.name, r.log());
            }
            results.add(&r.target.name, &m);
        }
    }
    println!("{}", results.table(&names));
    if results.order.is_empty() {
        bail!("no workload produced a number");
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let nofile = raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Cmd::Run {
            plan,
            imap,
            imaps,
            pop3,
            password,
            maildir,
            pid,
        } => {
            let plan = Plan::from(&plan)?;
            warn_nofile(&plan, nofile);
            let t = Target {
                name: "server".into(),
                imap,
                imaps,
                pop3,
                password,
                maildir,
                pid,
                owner: None,
            };
            let mut results = Results::default();
            for rep in 0..plan.reps {
                let m = rt.block_on(run_all(&t, &plan, rep));
                results.add(&t.name, &m);
            }
            println!("{}", results.table(std::slice::from_ref(&t.name)));
            if results.order.is_empty() {
                bail!("no workload produced a number");
            }
            Ok(())
        }
        Cmd::Compare {
            plan,
            roost,
            dovecot,
            servers,
            workdir,
        } => {
            let plan = Plan::from(&plan)?;
            warn_nofile(&plan, nofile);
            rt.block_on(compare(plan, roost, dovecot, servers, workdir))
        }
    }
}

/// Say so when the idle workload cannot open as many sockets as asked.
fn warn_nofile(plan: &Plan, nofile: u64) {
    let need = plan.idle.iter().copied().max().unwrap_or(0) as u64 + 200;
    if plan.has("idle") && nofile < need {
        eprintln!(
            "warning: open-file limit {nofile} < {need}; the largest idle count will fail \
             (raise it with `ulimit -n {need}` as root)"
        );
    }
}
