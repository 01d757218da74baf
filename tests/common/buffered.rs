//! Line-at-a-time connections for tests that read whole lines (with their CRLF) through a
//! `BufReader`, including connections from a chosen loopback source address.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};

use super::WAIT;

/// A buffered connection to `addr` with read timeouts so a broken server fails the test.
pub fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    BufReader::new(s)
}

/// A connection from a chosen loopback source address (Linux routes all of 127/8 locally),
/// so tests can play many clients for per-address limits.
pub fn connect_from(src: &str, addr: SocketAddr) -> BufReader<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        let src: IpAddr = src.parse().unwrap();
        socket.bind(SocketAddr::new(src, 0)).unwrap();
        socket.connect(addr).await.unwrap()
    });
    let std = stream.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std.set_read_timeout(Some(WAIT)).unwrap();
    BufReader::new(std)
}

/// The next line with its line end; empty at end of stream.
pub fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

/// Write `text` to the connection under the reader.
pub fn send(r: &mut BufReader<TcpStream>, text: &str) {
    r.get_mut().write_all(text.as_bytes()).unwrap();
}
