"""CREATE-SPECIAL-USE, special-use aliases and METADATA through Python's imaplib.

Usage: imap_special_use.py HOST PORT USER PASSWORD
Prints one `name: result` line per step for the Rust test to check.
"""
import imaplib
import sys

host, port, user, password = sys.argv[1:]
for c in ("SETMETADATA", "GETMETADATA"):
    imaplib.Commands[c] = ("AUTH", "SELECTED")
m = imaplib.IMAP4(host, int(port))
m.login(user, password)
caps = m.capabilities
print("caps:", " ".join(c for c in caps if c in ("CREATE-SPECIAL-USE", "METADATA", "METADATA-SERVER", "NOTIFY")))


def show(name, r):
    typ, data = r
    print(f"{name}: {typ} {[d.decode() if isinstance(d, bytes) else d for d in data]}")


show("create-use", m._simple_command("CREATE", "Outbox", "(USE (\\Sent))"))
show("create-bad-use", m._simple_command("CREATE", "Flags", "(USE (\\Flagged))"))
show("list-outbox", m.list('""', "Outbox"))
show("list-special", m._simple_command("LIST", "(SPECIAL-USE)", '""', "*"))
print("list-special-data:", sorted(d.decode() for d in m.untagged_responses.pop("LIST", [])))
# Outlook looks for "Sent Items": it finds the configured Sent (a real Sent exists).
m.append('"Sent Items"', None, None, b"Subject: via alias\r\n\r\nhi\r\n")
show("status-sent", m.status("Sent", "(MESSAGES)"))
show("status-alias", m.status('"Sent Items"', "(MESSAGES)"))
show("select-alias", m.select('"Sent Items"'))
show("list-alias-exact", m.list('""', '"Sent Items"'))
show("list-all-has-no-alias", m.list('""', "Sent*"))
show("create-alias", m.create('"Sent Items"'))
show("delete-alias", m.delete('"Sent Items"'))
m.close()
print("sent-dir-has:", m.select("Sent")[1])
# METADATA: a server entry and a mailbox entry, read back.
show("setmd-server", m._simple_command("SETMETADATA", '""', '(/private/comment "hello there")'))
show("setmd-box", m._simple_command("SETMETADATA", "Outbox", '(/shared/comment "box note")'))
typ, data = m._simple_command("GETMETADATA", '""', "/private/comment")
print("getmd-server:", typ, m.untagged_responses.pop("METADATA", None))
typ, data = m._simple_command("GETMETADATA", "(DEPTH infinity)", "Outbox", "/private")
print("getmd-specialuse:", typ, m.untagged_responses.pop("METADATA", None))
m.rename("Outbox", "Outbox2")
typ, data = m._simple_command("GETMETADATA", "Outbox2", "(/shared/comment /private/specialuse)")
print("getmd-renamed:", typ, m.untagged_responses.pop("METADATA", None))
m.logout()
