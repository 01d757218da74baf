//! `GET /metrics` from the real binary, scraped with curl after real IMAP, POP3 and LMTP
//! traffic: exact counter values, a strict check of the exposition format, and
//! docs/operations.md listing exactly the metrics served.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, WAIT, config_yaml, read_line, send};

const USERS: &str = "alice:{PLAIN}secret\nbob:{PLAIN}secret\n";

fn config(data: &std::path::Path) -> String {
    config_yaml(data).replace("lmtp: []", "lmtp: [\"127.0.0.1:0\"]")
        + "auth:\n  failure_delay_ms: 0\n  ban_after_failures: 2\n  ban_allow: []\n\
           metrics:\n  listen: [\"127.0.0.1:0\"]\n"
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-D", "/dev/stderr"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(out.status.success(), "curl {args:?} failed");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scrape(addr: SocketAddr) -> String {
    let (body, headers) = curl(&[&format!("http://{addr}/metrics")]);
    assert!(headers.starts_with("HTTP/1.1 200 OK\r\n"), "{headers}");
    assert!(
        headers.contains("Content-Type: text/plain; version=0.0.4"),
        "{headers}"
    );
    body
}

/// Scrape until `want` holds (counters move a moment after the client saw the reply).
fn scrape_until(addr: SocketAddr, want: &[(&str, f64)]) -> Samples {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = scrape(addr);
        let samples = parse_strictly(&text);
        let missing: Vec<String> = want
            .iter()
            .filter(|(k, v)| samples.values.get(*k) != Some(v))
            .map(|(k, v)| format!("{k} = {v}, got {:?}", samples.values.get(*k)))
            .collect();
        if missing.is_empty() {
            return samples;
        }
        assert!(Instant::now() < deadline, "{missing:#?}\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a scrape holds: each series' value, and each family's type and label names.
struct Samples {
    values: BTreeMap<String, f64>,
    families: BTreeMap<String, (String, BTreeSet<String>)>,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A strict reader of the Prometheus text format 0.0.4 (what promtool checks, for the
/// subset Roost emits): HELP and TYPE before samples, valid names, quoted label values,
/// float values, no duplicate series, histogram series only under a histogram.
fn parse_strictly(text: &str) -> Samples {
    assert!(text.ends_with('\n'), "ends with a newline");
    let mut values = BTreeMap::new();
    let mut families: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "no blank lines");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(is_name(name) && !help.is_empty(), "{line}");
            assert!(helped.insert(name.to_string()), "second HELP: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_name(name), "{line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(helped.contains(name), "HELP before TYPE: {line}");
            let old = families.insert(name.to_string(), (kind.to_string(), BTreeSet::new()));
            assert!(old.is_none(), "second TYPE: {line}");
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        assert!(is_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                let base = name.strip_suffix(s)?;
                (families.get(base).map(|f| f.0.as_str()) == Some("histogram")).then_some(base)
            })
            .unwrap_or(name);
        let (kind, label_names) = families
            .get_mut(family)
            .unwrap_or_else(|| panic!("sample before its TYPE: {line}"));
        if kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter names end in _total: {line}"
            );
        }
        let mut rest = labels;
        while !rest.is_empty() {
            let (label, after) = rest.split_once("=\"").expect("label=\"value\"");
            assert!(is_name(label), "{line}");
            let end = after.find('"').expect("closing quote");
            assert!(!after[..end].contains('\\'), "no escapes needed: {line}");
            if label != "le" {
                label_names.insert(label.to_string());
            }
            rest = after[end + 1..]
                .strip_prefix(',')
                .unwrap_or(&after[end + 1..]);
        }
        assert!(
            values.insert(series.to_string(), value).is_none(),
            "duplicate series: {line}"
        );
    }
    Samples { values, families }
}

struct Client {
    r: BufReader<TcpStream>,
    sent: usize,
    got: usize,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            r: BufReader::new(tcp),
            sent: 0,
            got: 0,
        }
    }

    fn line(&mut self) -> Option<String> {
        let l = read_line(&mut self.r)?;
        self.got += l.len() + 2;
        Some(l)
    }

    /// Send `cmd` and read until a line starting with `end`.
    fn cmd(&mut self, cmd: &str, end: &str) -> Vec<String> {
        send(self.r.get_mut(), cmd);
        self.sent += cmd.len();
        let mut lines = Vec::new();
        loop {
            let l = self
                .line()
                .unwrap_or_else(|| panic!("EOF after {cmd:?}: {lines:?}"));
            let done = l.starts_with(end);
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    fn read_to_eof(&mut self) {
        let mut rest = Vec::new();
        self.r.read_to_end(&mut rest).unwrap();
        self.got += rest.len();
    }
}

#[test]
fn scrape_after_traffic_has_exact_counts_and_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_with_users(tmp.path(), config(&data), USERS, 6);
    let metrics = server.addr("metrics");

    // Before any traffic every series is there, at zero.
    let empty = scrape_until(
        metrics,
        &[
            (
                "roost_logins_total{protocol=\"imap\",mechanism=\"LOGIN\",result=\"ok\"}",
                0.0,
            ),
            ("roost_sessions_open{listener=\"imap\",tls=\"false\"}", 0.0),
        ],
    );

    // IMAP: a failed and a good LOGIN, SELECT, an unknown command; the session stays open.
    let mut imap = Client::connect(server.addr("imap"));
    imap.line();
    imap.cmd("a LOGIN alice wrong\r\n", "a NO");
    imap.cmd("b LOGIN alice secret\r\n", "b OK");
    imap.cmd("c SELECT INBOX\r\n", "c OK");
    imap.cmd("d XYZZY\r\n", "d BAD");

    // POP3 from start to QUIT, counting every byte each way.
    let mut pop3 = Client::connect(server.addr("pop3"));
    pop3.line();
    pop3.cmd("USER bob\r\n", "+OK");
    pop3.cmd("PASS secret\r\n", "+OK");
    pop3.cmd("STAT\r\n", "+OK");
    pop3.cmd("FROB\r\n", "-ERR");
    pop3.cmd("QUIT\r\n", "+OK");
    pop3.read_to_eof();

    // LMTP: one message to one good recipient.
    let mut lmtp = Client::connect(server.addr("lmtp"));
    lmtp.line();
    lmtp.cmd("LHLO test\r\n", "250 ");
    lmtp.cmd("MAIL FROM:<a@example.org>\r\n", "250");
    lmtp.cmd("RCPT TO:<alice>\r\n", "250");
    lmtp.cmd("DATA\r\n", "354");
    lmtp.cmd("Subject: hi\r\n\r\nhello\r\n.\r\n", "250");
    lmtp.cmd("QUIT\r\n", "221");
    lmtp.read_to_eof();

    let samples = scrape_until(
        metrics,
        &[
            (
                "roost_logins_total{protocol=\"imap\",mechanism=\"LOGIN\",result=\"ok\"}",
                1.0,
            ),
            (
                "roost_logins_total{protocol=\"imap\",mechanism=\"LOGIN\",result=\"failed\"}",
                1.0,
            ),
            (
                "roost_logins_total{protocol=\"pop3\",mechanism=\"USER\",result=\"ok\"}",
                1.0,
            ),
            (
                "roost_logins_total{protocol=\"pop3\",mechanism=\"USER\",result=\"failed\"}",
                0.0,
            ),
            (
                "roost_commands_total{protocol=\"imap\",command=\"LOGIN\"}",
                2.0,
            ),
            (
                "roost_commands_total{protocol=\"imap\",command=\"SELECT\"}",
                1.0,
            ),
            (
                "roost_commands_total{protocol=\"imap\",command=\"other\"}",
                1.0,
            ),
            (
                "roost_commands_total{protocol=\"imap\",command=\"FETCH\"}",
                0.0,
            ),
            (
                "roost_command_duration_seconds_count{protocol=\"imap\",command=\"LOGIN\"}",
                2.0,
            ),
            (
                "roost_command_duration_seconds_bucket{protocol=\"imap\",command=\"SELECT\",le=\"+Inf\"}",
                1.0,
            ),
            (
                "roost_commands_total{protocol=\"pop3\",command=\"USER\"}",
                1.0,
            ),
            (
                "roost_commands_total{protocol=\"pop3\",command=\"PASS\"}",
                1.0,
            ),
            (
                "roost_commands_total{protocol=\"pop3\",command=\"STAT\"}",
                1.0,
            ),
            (
                "roost_commands_total{protocol=\"pop3\",command=\"QUIT\"}",
                1.0,
            ),
            (
                "roost_commands_total{protocol=\"pop3\",command=\"other\"}",
                1.0,
            ),
            (
                "roost_bytes_received_total{protocol=\"pop3\"}",
                pop3.sent as f64,
            ),
            ("roost_bytes_sent_total{protocol=\"pop3\"}", pop3.got as f64),
            (
                "roost_bytes_received_total{protocol=\"lmtp\"}",
                lmtp.sent as f64,
            ),
            ("roost_bytes_sent_total{protocol=\"lmtp\"}", lmtp.got as f64),
            (
                "roost_bytes_received_total{protocol=\"imap\"}",
                imap.sent as f64,
            ),
            ("roost_bytes_sent_total{protocol=\"imap\"}", imap.got as f64),
            (
                "roost_deliveries_total{protocol=\"lmtp\",result=\"ok\"}",
                1.0,
            ),
            (
                "roost_deliveries_total{protocol=\"lmtp\",result=\"failed\"}",
                0.0,
            ),
            ("roost_sessions_open{listener=\"imap\",tls=\"false\"}", 1.0),
            ("roost_sessions_open{listener=\"pop3\",tls=\"false\"}", 0.0),
            ("roost_sessions_open{listener=\"lmtp\",tls=\"false\"}", 0.0),
            ("roost_errors_total{protocol=\"imap\",kind=\"io\"}", 0.0),
            ("roost_bans_total", 0.0),
            ("roost_banned_addresses", 0.0),
        ],
    );
    // The same series as before the traffic: nothing a client sent became a label.
    assert_eq!(
        samples.values.keys().collect::<Vec<_>>(),
        empty.values.keys().collect::<Vec<_>>()
    );

    // Anything but GET /metrics gets a clear HTTP answer.
    let (_, headers) = curl(&[&format!("http://{metrics}/other")]);
    assert!(headers.starts_with("HTTP/1.1 404"), "{headers}");
    let (_, headers) = curl(&["-X", "POST", &format!("http://{metrics}/metrics")]);
    assert!(headers.starts_with("HTTP/1.1 405"), "{headers}");

    // Two failed logins in a row (a good one in between resets the count) ban the address.
    let mut pop3 = Client::connect(server.addr("pop3"));
    pop3.line();
    for _ in 0..2 {
        pop3.cmd("USER bob\r\n", "+OK");
        pop3.cmd("PASS wrong\r\n", "-ERR");
    }
    scrape_until(
        metrics,
        &[
            (
                "roost_logins_total{protocol=\"pop3\",mechanism=\"USER\",result=\"failed\"}",
                2.0,
            ),
            ("roost_bans_total", 1.0),
            ("roost_banned_addresses", 1.0),
        ],
    );

    // docs/operations.md lists exactly these metrics, with their types and labels.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let mut documented = BTreeMap::new();
    for row in doc.lines().filter(|l| l.starts_with("| `roost_")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let labels: BTreeSet<String> = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_string())
            .filter(|l| !l.is_empty() && l != "none")
            .collect();
        documented.insert(name, (cells[2].to_string(), labels));
    }
    assert_eq!(
        documented, samples.families,
        "docs/operations.md metrics table"
    );
    drop(imap);
}
