"""NOTIFY seen by a raw IMAP client while another client (imaplib) and an LMTP delivery
change the mailboxes.

Usage: imap_notify.py HOST PORT LMTP_PORT USER PASSWORD
Prints `step: line | seconds` for every untagged line the watching session got after each
trigger, for the Rust test to check.
"""
import imaplib
import smtplib
import socket
import sys
import time

host, port, lmtp_port, user, password = sys.argv[1:]
a = socket.create_connection((host, int(port)), timeout=5)
rd = a.makefile("rb")


def send(line):
    a.sendall(line.encode() + b"\r\n")


def line():
    return rd.readline().decode().rstrip("\r\n")


def until(tag):
    out = []
    while True:
        l = line()
        out.append(l)
        if l.startswith(tag + " "):
            return out


def expect(step, n, start):
    """Read n untagged lines, printing each with the time since the trigger."""
    for _ in range(n):
        l = line()
        print(f"{step}: {l} | {time.monotonic() - start:.2f}")


line()
send(f"a LOGIN {user} {password}")
until("a")
b = imaplib.IMAP4(host, int(port))
b.login(user, password)
b.create("Work")
send("s SELECT Work")
until("s")
send("n NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge)) "
     "(personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))")
for l in until("n"):
    print("notify-set:", l)
send("i IDLE")
print("idle:", line())

t = time.monotonic()
lmtp = smtplib.LMTP(host, int(lmtp_port))
lmtp.sendmail("bob@example.org", [user], b"Subject: hi\r\n\r\nhello\r\n")
lmtp.quit()
expect("lmtp-inbox", 1, t)

t = time.monotonic()
b.create("Foo")
expect("create", 1, t)
t = time.monotonic()
b.rename("Foo", "Bar")
expect("rename", 1, t)
t = time.monotonic()
b.subscribe("Bar")
expect("subscribe", 1, t)
t = time.monotonic()
b.delete("Bar")
expect("delete", 1, t)
t = time.monotonic()
b.append("Work", None, None, b"Subject: to the selected one\r\n\r\nx\r\n")
expect("append-selected", 3, t)
t = time.monotonic()
b.select("INBOX")
b.store("1", "+FLAGS", "\\Seen")
expect("flag-inbox", 1, t)
send("DONE")
print("done:", line())

# The session's own APPEND into a watched mailbox is not echoed back as STATUS.
msg = "Subject: own\r\n\r\nx\r\n"
send(f"o APPEND Junk {{{len(msg)}+}}\r\n{msg}")
print("own-append:", [l.split(" [")[0] for l in until("o")])

# Outside IDLE, between commands, the same.
t = time.monotonic()
b.append("Drafts", None, None, b"Subject: draft\r\n\r\nx\r\n")
expect("between-commands", 1, t)
# The selected mailbox (filter `selected`) reports as things happen, expunges included.
t = time.monotonic()
b.append("Work", None, None, b"Subject: w2\r\n\r\nz\r\n")
expect("selected-new", 3, t)
b.select("Work")
t = time.monotonic()
b.store("1", "+FLAGS.SILENT", "\\Deleted")
b.expunge()
# No FlagChange for `selected`: the \Deleted FETCH is not sent (RFC 5465 5.1).
expect("selected-expunge", 1, t)
send("x NOTIFY NONE")
print("none:", until("x"))
b.append("Drafts", None, None, b"Subject: draft 2\r\n\r\nx\r\n")
send("y NOOP")
print("after-none:", until("y"))
# RFC 5465 3.1: unsupported events get NO with BADEVENT listing the supported ones; 6.1:
# only message events with `selected`.
send("v NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))")
print("badevent:", until("v"))
send("w NOTIFY SET (selected (MailboxName))")
print("selected-mailboxname:", until("w"))
b.logout()
send("z LOGOUT")
until("z")
