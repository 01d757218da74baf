"""Drive Roost's IMAP with Python's imaplib and print what it saw, one fact per line.

usage: imap_imaplib.py HOST PORT MODE USER PASSWORD CAFILE
MODE: plain | starttls | ssl.
Then: CAPABILITY, LOGIN, LIST, SELECT INBOX, FETCH 1:* (FLAGS UID RFC822.SIZE), STORE,
SEARCH, COPY, MOVE, EXPUNGE, APPEND (with APPENDUID), STATUS, LOGOUT. Any failure raises.
"""
import imaplib
import re
import ssl
import sys

host, port, mode, user, password, cafile = sys.argv[1:7]
port = int(port)


def context():
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False  # the generated certificate names "localhost"
    return ctx


if mode == "ssl":
    imap = imaplib.IMAP4_SSL(host, port, ssl_context=context(), timeout=20)
else:
    imap = imaplib.IMAP4(host, port, timeout=20)


def say(*a):
    print(" ".join(str(x) for x in a), flush=True)


def ok(resp):
    typ, data = resp
    if typ != "OK":
        raise SystemExit(f"not OK: {typ} {data}")
    return data


say("caps", *sorted(imap.capabilities))
if mode == "starttls":
    ok(imap.starttls(ssl_context=context()))
    say("caps-after-starttls", *sorted(imap.capabilities))
ok(imap.login(user, password))
say("caps-after-login", ok(imap.capability())[0].decode().upper())
names = [l.decode() for l in ok(imap.list())]
say("list", *sorted(n.rsplit(" ", 1)[-1] for n in names))
say("list-attrs", *[n for n in names if "Sent" in n])
ok(imap.create("Archive.2024"))
count = ok(imap.select("INBOX"))[0].decode()
say("exists", count)
fetched = ok(imap.fetch("1:*", "(FLAGS UID RFC822.SIZE)"))
for f in fetched:
    say("fetch", f.decode())
say("store", ok(imap.store("1", "+FLAGS", "(\\Flagged $Label1)"))[0].decode())
say("search-flagged", ok(imap.search(None, "FLAGGED"))[0].decode())
say("uid-search-all", ok(imap.uid("SEARCH", "ALL"))[0].decode())
typ, data = imap.copy("1", "Archive.2024")
say("copy", typ, imap.untagged_responses.get("COPYUID", [b""])[0] if False else "")
ok((typ, data))
ok(imap.uid("MOVE", fetched and re.search(rb"UID (\d+)", fetched[1]).group(1).decode(), "Archive.2024"))
say("after-move", ok(imap.search(None, "ALL"))[0].decode())
ok(imap.store("1", "+FLAGS", "\\Deleted"))
say("expunge", *[x.decode() for x in ok(imap.expunge()) if x])
typ, data = imap.append("Archive.2024", "(\\Seen)", None, b"Subject: appended\r\n\r\nbody\r\n")
ok((typ, data))
say("append", data[0].decode())
status = ok(imap.status("Archive.2024", "(MESSAGES UIDNEXT SIZE)"))[0].decode()
say("status", status)
ok(imap.select("Archive.2024", readonly=True))
say("archive-fetch", *[f.decode() for f in ok(imap.fetch("1:*", "(FLAGS)"))])
typ, data = imap.store("1", "+FLAGS", "\\Deleted")
say("readonly-store", typ)
imap.logout()
say("done")
