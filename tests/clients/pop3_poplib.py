"""Drive Roost's POP3 with Python's poplib and print what it saw as JSON.

usage: pop3_poplib.py HOST PORT MODE LOGIN USER PASSWORD [CAFILE]
MODE: plain | stls | ssl.  LOGIN: user | apop | plain (AUTH PLAIN via _shortcmd).
Then: CAPA, STAT, LIST, UIDL, RETR of every message (octets as poplib counts them,
which must equal LIST), TOP 1 0, DELE 1, QUIT.
"""
import base64
import json
import poplib
import ssl
import sys

host, port, mode, login, user, password = sys.argv[1:7]
cafile = sys.argv[7] if len(sys.argv) > 7 else None
port = int(port)


def context():
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False  # the generated certificate names "localhost"
    return ctx


if mode == "ssl":
    pop = poplib.POP3_SSL(host, port, context=context(), timeout=20)
else:
    pop = poplib.POP3(host, port, timeout=20)
out = []
say = lambda *a: out.append(" ".join(str(x) for x in a))
say("welcome", pop.getwelcome().decode())
say("capa", *sorted(pop.capa()))
if mode == "stls":
    pop.stls(context=context())
    say("capa-after-stls", *sorted(pop.capa()))

if login == "user":
    pop.user(user)
    say("login", pop.pass_(password).decode())
elif login == "apop":
    say("login", pop.apop(user, password).decode())
elif login == "plain":
    ir = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    say("login", pop._shortcmd("AUTH PLAIN " + ir).decode())
else:
    sys.exit("unknown login " + login)

count, size = pop.stat()
say("stat", count, size)
resp, listing, _ = pop.list()
sizes = {}
for line in listing:
    n, s = line.split()
    sizes[int(n)] = int(s)
    say("list", int(n), int(s))
resp, uidls, _ = pop.uidl()
for line in uidls:
    say("uidl", line.decode())
for n in sorted(sizes):
    resp, lines, octets = pop.retr(n)
    body = b"\r\n".join(lines) + b"\r\n"
    # octets is what poplib counted on the wire minus stuffing: must equal LIST.
    say("retr", n, octets, len(body), body.hex() if len(body) < 200 else "-")
resp, top_lines, _ = pop.top(1, 0)
say("top", *[l.decode("latin-1").replace(" ", "_") for l in top_lines])
say("dele", pop.dele(1).decode())
say("quit", pop.quit().decode())
print("\n".join(out))
