"""Deliver one message over LMTP with Python's smtplib.LMTP; print one reply per line.

Usage: lmtp_send.py HOST PORT FROM RCPT... < message
smtplib's sendmail() reads a single reply after DATA, which is wrong for LMTP (one reply per
accepted recipient, RFC 2033 4.2), so DATA is driven with its lower-level calls.
"""
import re
import smtplib
import sys

host, port, sender, *rcpts = sys.argv[1:]
message = sys.stdin.buffer.read()
lmtp = smtplib.LMTP(host, int(port))
code, _ = lmtp.ehlo_or_helo_if_needed() or (250, b"")
print("LHLO", 250 if lmtp.does_esmtp else code, "SIZE" if lmtp.has_extn("size") else "-")
code, msg = lmtp.mail(sender)
print("MAIL", code)
accepted = []
for r in rcpts:
    code, msg = lmtp.rcpt(r)
    print("RCPT", r, code)
    if code == 250:
        accepted.append(r)
if accepted:
    code, msg = lmtp.docmd("DATA")
    print("DATA", code)
    # smtplib.quotedata() takes str; do the same on bytes: CRLF line ends, dots doubled.
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", message)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    lmtp.send(data + b".\r\n")
    for r in accepted:
        code, msg = lmtp.getreply()
        print("DONE", r, code, msg.decode())
lmtp.quit()
