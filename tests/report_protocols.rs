//! `roost report protocols` against the real binary: logins over POP3 (plain and TLS) and
//! IMAP (ID before and after login) are recorded in `data_dir/logins.json`, and the report
//! prints them in each format, while the server runs and after it stopped.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Server, WAIT, connect, handshake, pinned_config, read_line, roost, send};

const USERS: &str = "popper:{PLAIN}p1\n\
                     dual:{PLAIN}p2\n\
                     imapper:{PLAIN}p3\n\
                     ghost:{PLAIN}p4\n";

fn yaml(data: &Path) -> String {
    format!(
        "data_dir: {}\n\
         listen:\n  imap: [\"127.0.0.1:0\"]\n  imaps: []\n  \
         pop3: [\"127.0.0.1:0\"]\n  pop3s: [\"127.0.0.1:0\"]\n  lmtp: []\n\
         log:\n  level: info\n\
         storage:\n  fsync: false\n\
         auth:\n  login_state_flush_secs: 1\n",
        data.display()
    )
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Sends one tagged IMAP command and returns its tagged answer.
fn imap(s: &mut (impl Read + Write), cmd: &str) -> String {
    send(s, &format!("a {cmd}\r\n"));
    loop {
        let l = read_line(s).expect("connection open");
        if l.starts_with("a ") {
            return l;
        }
    }
}

fn pop3_session(s: &mut (impl Read + Write), user: &str, pass: &str) {
    assert!(read_line(s).unwrap().starts_with("+OK"));
    send(s, &format!("USER {user}\r\nPASS {pass}\r\n"));
    assert!(read_line(s).unwrap().starts_with("+OK"));
    let answer = read_line(s).unwrap();
    assert!(answer.starts_with("+OK"), "{answer}");
    send(s, "QUIT\r\n");
    assert!(read_line(s).unwrap().starts_with("+OK"));
}

fn report(server: &Server, args: &[&str]) -> String {
    let out = roost()
        .args(["report", "protocols", "-c"])
        .arg(&server.config)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Replaces every `YYYY-MM-DD?HH:MM:SS` with `T`s of the same shape, so columns stay
/// aligned and the rest compares exactly.
fn mask_times(text: &str) -> String {
    let shape = "0000-00-00 00:00:00";
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let fits = b.len() - i >= shape.len()
            && shape.bytes().zip(&b[i..]).enumerate().all(|(k, (s, &c))| {
                if k == 10 {
                    c == b' ' || c == b'T'
                } else if s == b'0' {
                    c.is_ascii_digit()
                } else {
                    c == s
                }
            });
        if fits {
            out.push_str(if b[i + 10] == b'T' {
                "DDDD-DD-DDTHH:MM:SS"
            } else {
                "DDDD-DD-DD HH:MM:SS"
            });
            i += shape.len();
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

#[test]
fn logins_are_recorded_and_reported_in_each_format() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start_with_users(tmp.path(), yaml(&data), USERS, 3);
    let started = unix_now();

    // Before any login the report already knows the population.
    assert_eq!(
        report(&server, &[]).lines().next(),
        Some("4 users: 0 pop3 only, 0 both, 0 imap only, 4 never seen")
    );

    // popper: POP3 over implicit TLS.
    let config = pinned_config(server.cert(), rustls::ALL_VERSIONS);
    let mut tls = handshake(connect(server.addr("pop3s")), config).unwrap();
    pop3_session(&mut tls, "popper", "p1");
    // dual: POP3 in the clear, IMAP with ID before LOGIN.
    pop3_session(&mut connect(server.addr("pop3")), "dual", "p2");
    let mut s = connect(server.addr("imap"));
    read_line(&mut s);
    assert!(imap(&mut s, r#"ID ("name" "TestMail" "version" "1.0")"#).starts_with("a OK"));
    assert!(imap(&mut s, "LOGIN dual p2").starts_with("a OK"));
    imap(&mut s, "LOGOUT");
    // imapper: twice; the second time PLAIN, and ID only after logging in.
    let mut s = connect(server.addr("imap"));
    read_line(&mut s);
    assert!(imap(&mut s, "LOGIN imapper p3").starts_with("a OK"));
    imap(&mut s, "LOGOUT");
    let mut s = connect(server.addr("imap"));
    read_line(&mut s);
    // base64("\0imapper\0p3")
    assert!(imap(&mut s, "AUTHENTICATE PLAIN AGltYXBwZXIAcDM=").starts_with("a OK"));
    assert!(imap(&mut s, r#"ID ("name" "Late, Client" "version" "2")"#).starts_with("a OK"));
    imap(&mut s, "LOGOUT");

    // The running server writes the record within its flush interval.
    let deadline = Instant::now() + WAIT;
    let want_table = "\
4 users: 1 pop3 only, 1 both, 1 imap only, 1 never seen

USER     STATUS      PROTOCOL  LAST LOGIN (UTC)     LOGINS  CLIENT          IP         TLS  MECHANISM
dual     both        imap      DDDD-DD-DD HH:MM:SS  1       TestMail 1.0    127.0.0.1  no   LOGIN
dual     both        pop3      DDDD-DD-DD HH:MM:SS  1       127.0.0.1       127.0.0.1  no   USER
ghost    never seen
imapper  imap only   imap      DDDD-DD-DD HH:MM:SS  2       Late, Client 2  127.0.0.1  no   PLAIN
popper   pop3 only   pop3      DDDD-DD-DD HH:MM:SS  1       127.0.0.1       127.0.0.1  yes  USER
";
    loop {
        let table = mask_times(&report(&server, &[]));
        if table == want_table {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "got:\n{table}\nwant:\n{want_table}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // After a clean stop the same, from the file alone.
    server.signal(libc::SIGTERM);
    assert!(server.wait().success());
    let ended = unix_now();
    assert_eq!(mask_times(&report(&server, &[])), want_table);
    assert_eq!(
        mask_times(&report(&server, &["--format", "csv"])),
        "USER,STATUS,PROTOCOL,LAST LOGIN (UTC),LOGINS,CLIENT,IP,TLS,MECHANISM\r\n\
         dual,both,imap,DDDD-DD-DD HH:MM:SS,1,TestMail 1.0,127.0.0.1,no,LOGIN\r\n\
         dual,both,pop3,DDDD-DD-DD HH:MM:SS,1,127.0.0.1,127.0.0.1,no,USER\r\n\
         ghost,never seen,,,,,,,\r\n\
         imapper,imap only,imap,DDDD-DD-DD HH:MM:SS,2,\"Late, Client 2\",127.0.0.1,no,PLAIN\r\n\
         popper,pop3 only,pop3,DDDD-DD-DD HH:MM:SS,1,127.0.0.1,127.0.0.1,yes,USER\r\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&report(&server, &["--format", "json"])).unwrap();
    assert_eq!(
        json["totals"],
        serde_json::json!({"users": 4, "pop3_only": 1, "both": 1, "imap_only": 1, "never_seen": 1})
    );
    assert_eq!(json["since_days"], serde_json::Value::Null);
    let users = json["users"].as_array().unwrap();
    let names: Vec<&str> = users.iter().map(|u| u["user"].as_str().unwrap()).collect();
    assert_eq!(names, ["dual", "ghost", "imapper", "popper"]);
    let imapper = &users[2]["protocols"]["imap"];
    assert_eq!(imapper["logins"], 2);
    assert_eq!(imapper["client"], "Late, Client 2");
    assert_eq!(imapper["clients"], serde_json::json!(["Late, Client 2"]));
    assert_eq!(imapper["mechanism"], "PLAIN");
    assert_eq!(users[3]["protocols"]["pop3"]["tls"], true);
    assert_eq!(users[1]["protocols"], serde_json::json!({}));
    assert_eq!(
        mask_times(imapper["last_login"].as_str().unwrap()),
        "DDDD-DD-DDTHH:MM:SSZ"
    );

    // The record's times are this test's.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("logins.json")).unwrap()).unwrap();
    let last = record["users"]["popper"]["protocols"]["pop3"]["last"]
        .as_i64()
        .unwrap();
    assert!(
        (started..=ended).contains(&last),
        "{started} {last} {ended}"
    );

    // --since counts only recent logins: all of these are within a day.
    assert_eq!(
        report(&server, &["--since", "1"]).lines().next(),
        Some("4 users: 1 pop3 only, 1 both, 1 imap only, 1 not seen in 1 days")
    );
    // A bad format is a usage error.
    let out = roost()
        .args(["report", "protocols", "--format", "xml", "-c"])
        .arg(&server.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
