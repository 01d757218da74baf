"""CONTEXT=SEARCH / CONTEXT=SORT (RFC 5267) seen by a raw IMAP client while an LMTP
delivery and another client (imaplib) change its selected mailbox.

Usage: imap_context.py HOST PORT LMTP_PORT USER PASSWORD
Prints `step: line` for every line the watching session got, for the Rust test to check.
"""
import imaplib
import smtplib
import socket
import sys

host, port, lmtp_port, user, password = sys.argv[1:]
a = socket.create_connection((host, int(port)), timeout=5)
rd = a.makefile("rb")


def send(line):
    a.sendall(line.encode() + b"\r\n")


def line():
    return rd.readline().decode().rstrip("\r\n")


def until(step, tag):
    while True:
        l = line()
        print(f"{step}: {l}")
        if l.startswith(tag + " "):
            return


def lines(step, n):
    for _ in range(n):
        print(f"{step}: {line()}")


def deliver(subject):
    lmtp = smtplib.LMTP(host, int(lmtp_port))
    lmtp.sendmail("bob@example.org", [user], f"Subject: {subject}\r\n\r\nx\r\n".encode())
    lmtp.quit()


deliver("a")
line()
send(f"l LOGIN {user} {password}")
until("login", "l")
send("e ENABLE IMAP4rev2")
until("enable", "e")
send("s SELECT INBOX")
until("select", "s")
send("t1 UID SEARCH RETURN (ALL UPDATE) UNSEEN")
until("search", "t1")
send("t2 UID SORT RETURN (ALL UPDATE) (REVERSE SUBJECT) UTF-8 ALL")
until("sort", "t2")
send("i IDLE")
lines("idle", 1)
deliver("b")
lines("lmtp", 3)
b = imaplib.IMAP4(host, int(port))
b.login(user, password)
b.select("INBOX")
b.uid("STORE", "1", "+FLAGS.SILENT", "(\\Seen)")
lines("seen", 2)
send("DONE")
until("done", "i")
b.append("INBOX", None, None, b"Subject: c\r\n\r\nx\r\n")
send("n NOOP")
until("append", "n")
b.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)")
b.expunge()
send("n NOOP")
until("expunge", "n")
send('c CANCELUPDATE "t1" "t2"')
until("cancel", "c")
deliver("d")
send("n NOOP")
until("after-cancel", "n")
b.logout()
send("z LOGOUT")
until("logout", "z")
