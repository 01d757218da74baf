//! CI smoke: the tool runs every workload against a real Roost for a few seconds and prints
//! a number for each. Never a timed assertion: the numbers only have to exist.

use std::path::PathBuf;
use std::process::Command;

/// The `roost` binary of this workspace's debug build (built here if needed; a no-op when
/// `cargo test --workspace` already built it).
fn roost_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "roost", "--bin", "roost"])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p roost failed");
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_roost-bench"));
    bench.with_file_name("roost")
}

#[test]
fn quick_run_against_roost_prints_a_number_for_every_workload() {
    let roost = roost_binary();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roost-bench"))
        .args(["compare", "--quick", "--servers", "roost", "--secs", "0.5"])
        .args([
            "--clients",
            "2",
            "--big",
            "30",
            "--idle",
            "5",
            "--append",
            "5",
            "--rate",
            "0,200",
        ])
        .arg("--roost")
        .arg(&roost)
        .arg("--workdir")
        .arg(work.path().join("w"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("FAILED"), "{stderr}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    for metric in [
        "mixed c=2 commands/s",
        "mixed c=2 @200/s commands/s",
        "mixed c=2 @200/s latency p99",
        "login plain c=10 logins/s",
        "login TLS c=10 logins/s",
        "append messages/s",
        "bigbox 30 cold: SELECT + FETCH 1:*",
        "bigbox 30 warm: FETCH BODYSTRUCTURE",
        "pop3 30 cold: RETR all, messages/s",
        "idle 5: server PSS per connection",
        "idle 5: delivery -> EXISTS p99",
    ] {
        let row = rows
            .iter()
            .find(|r| r.starts_with(&format!("| {metric} |")))
            .unwrap_or_else(|| panic!("no row {metric:?} in\n{stdout}"));
        let value = row.split('|').nth(3).unwrap().trim();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{metric}: {value:?} is not a number\n{stdout}"));
        assert!(value.is_finite() && value >= 0.0, "{row}");
    }
    let notified = rows
        .iter()
        .find(|r| r.starts_with("| idle 5: notified"))
        .unwrap();
    assert!(
        notified.contains(" 100 "),
        "not every IDLE saw the delivery: {notified}"
    );
}
