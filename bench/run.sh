#!/usr/bin/env bash
# Roost vs Dovecot, side by side on 127.0.0.1: builds Roost in release, installs Dovecot if
# missing, starts both with the same users ({PLAIN} passwords) and the same messages, runs
# every workload against each in turn, repeats, and prints medians and the Roost/Dovecot
# ratio as a Markdown table (progress goes to stderr).
#
#   bench/run.sh                      # full run: 3 repetitions, 10k/100k mailboxes, 1k/10k IDLE
#   bench/run.sh --quick              # small sizes, one repetition (about a minute)
#   bench/run.sh --workloads mixed,login --reps 5
#   bench/run.sh --big 10000 --idle 1000
#
# Every option is passed to `roost-bench compare` (see `--help`). Needs root: Dovecot's
# master switches users, and the 10,000-connection case needs a high open-file limit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh needs root (Dovecot's master switches users)" >&2
    exit 1
fi

missing=()
for p in dovecot-core dovecot-imapd dovecot-pop3d; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian enables the system-wide dovecot.service on install; the benchmark runs its own
# instance with a generated config and never touches the system one.

# 10,000 IDLE connections: the client, and Roost (one process), each hold one socket per
# connection. Dovecot's processes get their own limit from its master.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10500 ]; then
    echo "note: the open-file limit is $(ulimit -n) and cannot be raised (hard limit" \
        "$(ulimit -Hn)); the 10,000-connection IDLE case needs about 10,500 and will fail:" \
        "raise the hard limit (limits.conf or systemd LimitNOFILE) or pass --idle 1000." >&2
fi

cargo build --release --locked -p roost -p roost-bench >&2

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB," \
    "kernel $(uname -r), $(dovecot --version 2>/dev/null | sed 's/^/Dovecot /')," \
    "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
target/release/roost-bench compare --roost target/release/roost "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
