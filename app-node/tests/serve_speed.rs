//! Small answers leave at once: every connection the node accepts has
//! TCP_NODELAY, so a response written in more than one piece never waits
//! for the client's delayed ACK (about 40 ms on Linux) before its last
//! piece goes out. Checked on the accepted socket itself.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{BorrowedFd, RawFd};

use common::TestNode;

const DIR: &str = "0123456789abcdef/v0123456789ab/720p";

/// A node serving one playlist and one file just over a read chunk (so it
/// is sent in two writes) on a real loopback listener.
async fn node() -> (TestNode, SocketAddr) {
    let node = TestNode::new(&[]).await;
    let playlist = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n".repeat(8);
    node.state
        .store
        .put_bytes(&format!("{DIR}/index.m3u8"), playlist.as_bytes())
        .await
        .unwrap();
    node.state
        .store
        .put_bytes(&format!("{DIR}/seg_00001.m4s"), &vec![7u8; 300 * 1024])
        .await
        .unwrap();
    let addr = common::serve(&node).await;
    (node, addr)
}

/// One GET on an open connection; returns the body length.
fn get(conn: &mut TcpStream, path: &str) -> usize {
    write!(conn, "GET {path} HTTP/1.1\r\nHost: node\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = conn.read(&mut chunk).unwrap();
        assert!(n > 0, "the node closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .expect("a content-length")
            .trim()
            .parse()
            .unwrap();
        if buf.len() >= end + 4 + len {
            assert_eq!(buf.len(), end + 4 + len, "bytes past the body");
            return len;
        }
    }
}

/// The socket in this process whose local address is `local` and whose
/// peer is `peer`: the node's end of a test connection.
fn accepted_nodelay(local: SocketAddr, peer: SocketAddr) -> bool {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(raw) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: the descriptor is only borrowed for the calls below; one
        // that is not a socket (or has just been closed) fails them and is
        // skipped.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let sock = socket2::SockRef::from(&fd);
        let addrs = (sock.local_addr(), sock.peer_addr());
        let (Ok(l), Ok(p)) = addrs else { continue };
        if l.as_socket() == Some(local) && p.as_socket() == Some(peer) {
            return sock.tcp_nodelay().unwrap();
        }
    }
    panic!("the node's end of {peer} -> {local} is not in this process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_sockets_have_nodelay() {
    let (_node, addr) = node().await;
    let result = tokio::task::spawn_blocking(move || {
        let mut conn = TcpStream::connect(addr).unwrap();
        // One answer first, so the connection has surely been accepted.
        get(&mut conn, &format!("/media/{DIR}/index.m3u8"));
        accepted_nodelay(addr, conn.local_addr().unwrap())
    })
    .await
    .unwrap();
    assert!(result, "an accepted connection lacks TCP_NODELAY");
}
