"""Byte-level COMPRESS=DEFLATE (RFC 4978) client for Roost, built on Python's zlib with
raw DEFLATE (wbits=-15), independent of the server's flate2. Prints one fact per line.

usage: imap_compress.py HOST PORT TLS(plain|ssl) USER PASSWORD CAFILE MODE [ARG]
MODE:
  session MAILDIR  COMPRESS negotiation, pipelining after COMPRESS, NO [COMPRESSIONACTIVE],
                   SELECT, FETCH of a big (streamed) body, IDLE woken by a new file.
  bomb             a small compressed input that inflates to 100 MiB on one line.
  memory           one command whose inline literals add up past the memory ceiling.
  memory-plain     the same without COMPRESS.
Any protocol surprise raises (non-zero exit).
"""
import os
import socket
import ssl
import sys
import time
import zlib

host, port, tls, user, password, cafile, mode = sys.argv[1:8]
arg = sys.argv[8] if len(sys.argv) > 8 else None


def say(*a):
    print(" ".join(str(x) for x in a), flush=True)


raw = socket.create_connection((host, int(port)), timeout=20)
if tls == "ssl":
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False  # the generated certificate names "localhost"
    raw = ctx.wrap_socket(raw)


class Conn:
    """Reads lines and literals, plain or through a raw-DEFLATE decompressor."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.inflate = None
        self.deflate = None
        self.wire_in = 0

    def start(self, leftover=b""):
        self.inflate = zlib.decompressobj(wbits=-15)
        self.deflate = zlib.compressobj(wbits=-15)
        # Anything read past the OK line is compressed already.
        self.buf = self.inflate.decompress(leftover)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed")
        self.wire_in += len(data)
        if self.inflate is not None:
            data = self.inflate.decompress(data)
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l.decode("utf-8", "replace")

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data, flush=True):
        if self.deflate is not None:
            data = self.deflate.compress(data)
            if flush:
                data += self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def until(self, tag):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            # A literal announced at the end of a line: take its bytes as they are.
            if l.endswith("}") and "{" in l:
                n = int(l[l.rindex("{") + 1 : -1])
                lines.append(self.take(n))
                continue
            if l.startswith(tag + " "):
                return lines

    def closed(self):
        """True when the server closed the connection (after whatever it still sent)."""
        try:
            while True:
                self.fill()
        except (EOFError, ConnectionResetError):
            return True
        except socket.timeout:
            return False


c = Conn(raw)
say("greeting", c.line())
c.send(b"a0 CAPABILITY\r\n")
caps = c.until("a0")
say("caps-before-login", "COMPRESS=DEFLATE" in caps[0])
c.send(f"a1 LOGIN {user} {password}\r\n".encode())
say("login", c.until("a1")[-1])
c.send(b"a2 CAPABILITY\r\n")
say("caps-after-login", "COMPRESS=DEFLATE" in c.until("a2")[0])


def compress_on():
    """COMPRESS with a command pipelined behind it in the same packet."""
    z = zlib.compressobj(wbits=-15)
    behind = z.compress(b"p1 NOOP\r\n") + z.flush(zlib.Z_SYNC_FLUSH)
    c.sock.sendall(b"z1 COMPRESS DEFLATE\r\n" + behind)
    # The OK is the last uncompressed line; read it without over-reading into the stream.
    line = b""
    while not line.endswith(b"\r\n"):
        line += c.sock.recv(1)
    say("compress", line.decode().strip())
    c.start()
    c.deflate = z
    say("pipelined", c.until("p1")[-1])


if mode == "session":
    c.send(b"z0 COMPRESS FOO\r\n")
    say("unknown-mechanism", c.until("z0")[-1])
    compress_on()
    c.send(b"z2 COMPRESS DEFLATE\r\n")
    say("again", c.until("z2")[-1])
    c.send(b"a3 CAPABILITY\r\n")
    say("caps-compressed", "COMPRESS=DEFLATE" in c.until("a3")[0])
    c.send(b"a4 SELECT INBOX\r\n")
    sel = c.until("a4")
    say("select", [l for l in sel if l.endswith("EXISTS")][0], sel[-1])
    before = c.wire_in
    c.send(b"a5 FETCH 1:* (UID BODY.PEEK[])\r\n")
    got = c.until("a5")
    bodies = [x for x in got if isinstance(x, bytes)]
    say("fetch", got[-1], "bodies", len(bodies), "largest", max(len(b) for b in bodies))
    say("fetch-wire", c.wire_in - before)
    c.send(b"a6 IDLE\r\n")
    say("idle", c.line())
    name = os.path.join(arg, "new", "1800000000.M9P9.idle")
    with open(name + ".tmp", "wb") as f:
        f.write(b"Subject: while idling\r\n\r\nhello\r\n")
    os.rename(name + ".tmp", name)
    while True:
        l = c.line()
        if l.endswith("EXISTS"):
            say("idle-update", l)
            break
    c.send(b"DONE\r\n")
    say("idle-done", c.until("a6")[-1])
    c.send(b"a7 LOGOUT\r\n")
    say("logout", c.until("a7")[-1])
elif mode == "bomb":
    compress_on()
    # 100 MiB of one line inflating from about 100 KiB: the server must not hold it.
    z = c.deflate
    wire = 0
    chunk = b"x" * (1024 * 1024)
    for _ in range(100):
        piece = z.compress(chunk)
        wire += len(piece)
        c.sock.sendall(piece)
    tail = z.compress(b"\r\nb1 NOOP\r\n") + z.flush(zlib.Z_SYNC_FLUSH)
    c.sock.sendall(tail)
    say("bomb-wire-bytes", wire + len(tail))
    lines = c.until("b1")
    say("bomb-answer", lines[0])
    say("after-bomb", lines[-1])
    c.send(b"b2 LOGOUT\r\n")
    say("logout", c.until("b2")[-1])
elif mode in ("memory", "memory-plain"):
    if mode == "memory":
        compress_on()
    # Six 60000-octet inline literals in one SEARCH: each is within every framing limit,
    # their sum is not within a 256 KiB ceiling.
    cmd = b"m1 SEARCH"
    for _ in range(6):
        cmd += b" TEXT {60000+}\r\n" + b"y" * 60000
    cmd += b"\r\n"
    try:
        c.send(cmd)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answers = []
    try:
        while True:
            answers.append(c.line())
    except (EOFError, ConnectionResetError):
        pass
    for a in answers:
        say("memory-answer", a)
    say("closed", True)
else:
    raise SystemExit(f"unknown mode {mode}")
