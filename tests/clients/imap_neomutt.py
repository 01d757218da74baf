#!/usr/bin/env python3
"""Drive neomutt in a real terminal (a private tmux server) against Roost over IMAPS.

usage: imap_neomutt.py PORT USER PASSWORD CERT_PEM WORKDIR

Opens INBOX, saves the first message to Archive, deletes the next one, syncs with `$`
and quits. Every step waits for text on the screen (never a blind sleep) with one
overall deadline, so a stuck client fails quickly. Prints `screen-after-sync` lines
for the caller; the caller checks the server's state itself.
"""

import os
import shutil
import subprocess
import sys
import time

DEADLINE = time.monotonic() + 30


def main():
    port, user, password, cert, work = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    # neomutt may append accepted certificates to certificate_file: give it a copy.
    certs = os.path.join(work, "certificates")
    shutil.copyfile(cert, certs)
    muttrc = os.path.join(work, "muttrc")
    with open(muttrc, "w") as f:
        f.write(
            f"""set folder = "imaps://{user}@localhost:{port}/"
set spoolfile = "+INBOX"
set imap_user = "{user}"
set imap_pass = "{password}"
set certificate_file = "{certs}"
set ssl_ca_certificates_file = "{cert}"
set ssl_force_tls = yes
set sort = mailbox-order
set confirmappend = no
set confirmcreate = no
set delete = yes
set move = no
set record = ""
set mbox = ""
set header_cache = ""
set message_cachedir = ""
set mail_check_stats = no
set imap_passive = yes
set beep = no
set wait_key = no
set quit = yes
set help = no
set status_format = "STATUS %f Msgs:%m Del:%d"
"""
        )
    sock = os.path.join(work, "tmux.sock")
    tmux = ["tmux", "-S", sock, "-f", "/dev/null"]
    env = dict(os.environ, TERM="xterm", HOME=work, LC_ALL="C.UTF-8")
    subprocess.run(
        tmux
        + ["new-session", "-d", "-x", "160", "-y", "40", "neomutt", "-n", "-F", muttrc],
        check=True,
        env=env,
    )

    def screen():
        out = subprocess.run(
            tmux + ["capture-pane", "-p"], capture_output=True, text=True, env=env
        )
        return out.stdout

    def wait_for(text, what):
        last = ""
        while time.monotonic() < DEADLINE:
            last = screen()
            if text in last:
                return last
            time.sleep(0.1)
        print(f"timeout waiting for {what} ({text!r}); screen:\n{last}", file=sys.stderr)
        subprocess.run(tmux + ["kill-server"], env=env)
        sys.exit(1)

    def keys(*k):
        subprocess.run(tmux + ["send-keys"] + list(k), check=True, env=env)

    try:
        wait_for("Msgs:3", "INBOX opened with 3 messages")
        wait_for("one", "the first subject")
        # Save the first message to Archive: copied there and marked deleted here.
        keys("s")
        wait_for("Save to mailbox", "the save prompt")
        keys("C-u", "=Archive", "Enter")
        wait_for("Del:1", "the saved message marked deleted")
        # The cursor moved on to the second message: delete it.
        keys("d")
        wait_for("Del:2", "the second deletion")
        keys("$")
        s = wait_for("Msgs:1", "the sync")
        for line in s.splitlines():
            if line.strip():
                print("screen-after-sync", line.rstrip())
        keys("q")
        while time.monotonic() < DEADLINE:
            alive = subprocess.run(
                tmux + ["has-session"], capture_output=True, env=env
            ).returncode == 0
            if not alive:
                print("done")
                return
            time.sleep(0.1)
        print("neomutt did not quit; screen:\n" + screen(), file=sys.stderr)
        sys.exit(1)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, env=env)


if __name__ == "__main__":
    main()
