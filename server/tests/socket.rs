//! What only a socket shows: each socket-level behaviour of the shell, observed in the kernel, so
//! that switching one off fails a test here. The rules behind them (which frame carries MSG_MORE,
//! when a client is slow, when to pause) are the session's and unit-tested there.
//!
//! The server runs in this process, on a connection thread of its own as the binary runs it, and
//! the tests read the state of its end of a connection (TCP_NOTSENT_LOWAT, SIOCOUTQNSD) through
//! its descriptor.

mod common;

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use common::{songs, start_on_thread};
use jukebox_protocol::{Frame, Message, HEADER_LEN, MAX_DATA_PAYLOAD};
use jukebox_server::session::SLOW_DATA_PAYLOAD;
use jukebox_server::{Config, DEFAULT_NOTSENT_LOWAT};
use jukebox_test_kit::wire::Client;

/// The server's end of the client's connection: the socket of this process whose addresses are
/// the client's, swapped. It stays open as long as the client does.
fn server_end(client: &Client) -> RawFd {
    let (local, peer) = (
        client.socket().local_addr().unwrap(),
        client.socket().peer_addr().unwrap(),
    );
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(fd) = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .parse::<RawFd>()
        else {
            continue;
        };
        // SAFETY: the descriptor is only borrowed for two system calls; if it was closed since the
        // listing, they fail, and if it was reused, the addresses tell.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&borrowed);
        let addresses = (socket.local_addr(), socket.peer_addr());
        if let (Ok(l), Ok(p)) = addresses {
            if l.as_socket() == Some(peer) && p.as_socket() == Some(local) {
                return fd;
            }
        }
    }
    panic!("no socket of this process is the server's end of {local}");
}

/// The socket's own TCP_NOTSENT_LOWAT (0: none set).
fn tcp_notsent_lowat(fd: RawFd) -> u32 {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes to `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    value as u32
}

/// Bytes of `fd` that the kernel holds not yet sent (SIOCOUTQNSD), or, with `FIONREAD`, received
/// and not yet read.
fn queued(fd: RawFd, request: libc::Ioctl) -> usize {
    let mut bytes: libc::c_int = 0;
    // SAFETY: both requests store one int through the pointer.
    let rc = unsafe { libc::ioctl(fd, request, &mut bytes) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    bytes as usize
}

/// The client's TCP_INFO.
fn tcp_info(client: &Client) -> libc::tcp_info {
    // SAFETY: tcp_info is plain integers, for which all zeros is a value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes to `info`.
    let rc = unsafe {
        libc::getsockopt(
            client.socket().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    info
}

/// The payload of a DATA frame of `request_id`, not the last of its segment.
fn data_of(frame: Frame, request_id: u32) -> usize {
    assert_eq!(frame.request_id, request_id, "{frame:?}");
    match frame.message {
        Message::Data { end: false, bytes } => bytes.len(),
        other => panic!("expected DATA, not the last: {other:?}"),
    }
}

/// Starts a server whose song 3 is one segment of `len` bytes.
async fn serve(len: usize, config: Config) -> SocketAddr {
    start_on_thread(songs(1, len), config).await.0
}

#[tokio::test]
async fn every_client_socket_gets_the_low_water_mark() {
    for (setting, expected) in [
        (Some(DEFAULT_NOTSENT_LOWAT), DEFAULT_NOTSENT_LOWAT),
        (Some(1000), 1000),
        // Not set: the socket has no mark of its own, and the system's default applies.
        (None, 0),
    ] {
        let config = Config {
            notsent_lowat: setting,
            ..Config::default()
        };
        let client = Client::open(serve(1000, config).await).await;
        assert_eq!(
            tcp_notsent_lowat(server_end(&client)),
            expected,
            "{setting:?}"
        );
    }
}

#[tokio::test]
async fn the_frames_of_a_segment_leave_in_full_packets() {
    // A client that keeps up, with a window that holds a whole segment. The server writes each
    // DATA frame on its own, looking for requests in between; MSG_MORE on all but the last lets the
    // kernel pack them into full packets, as if they had been written together.
    const SEGMENT: usize = 256 << 10;
    const FETCHES: u32 = 16;
    let mut client =
        Client::open_with_receive_buffer(serve(SEGMENT, Config::default()).await, 1 << 20).await;
    let before = tcp_info(&client);
    for id in 1..=FETCHES {
        assert_eq!(client.fetch(id, 3, 0).await.len(), SEGMENT);
    }
    let after = tcp_info(&client);
    let packets = after.tcpi_data_segs_in - before.tcpi_data_segs_in;
    let frame = (HEADER_LEN + MAX_DATA_PAYLOAD) as u32;
    let mss = after.tcpi_rcv_mss.max(1);
    // Each frame sent on its own would take at least this many packets.
    let alone = FETCHES * (SEGMENT / MAX_DATA_PAYLOAD) as u32 * frame.div_ceil(mss);
    assert!(
        packets < alone,
        "{packets} packets, as many as frames of {frame} bytes sent one by one (MSS {mss})"
    );
}

#[tokio::test]
async fn a_slow_client_has_no_more_unsent_than_the_mark_and_one_small_frame() {
    // A client with a small window that reads one frame a millisecond. The kernel applies the mark
    // to readiness only: without asking for the unsent count before each write, the server would
    // fill the packet being built, several small frames.
    const SAMPLES: usize = 200;
    const LOOKAHEAD: usize = 32;
    let addr = serve(32 << 20, Config::default()).await;
    let mut client = Client::open_with_receive_buffer(addr, 24 << 10).await;
    let server = server_end(&client);
    client
        .send(1, Message::GetSegment { song: 3, index: 0 })
        .await;
    // Once the server finds the client slow, its DATA frames are small.
    while data_of(client.recv().await.unwrap(), 1) != SLOW_DATA_PAYLOAD {}
    let mut unsent = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..SAMPLES + LOOKAHEAD {
        sizes.push(data_of(client.recv().await.unwrap(), 1));
        unsent.push(queued(server, libc::SIOCOUTQNSD as _));
        // The scenario: a slow reader.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // A sample counts while the client still counts as slow: the frames the server had written by
    // then (at most what the windows and queues hold) were all small.
    let slow: Vec<usize> = (0..SAMPLES)
        .filter(|&k| {
            sizes[k + 1..=k + LOOKAHEAD]
                .iter()
                .all(|&n| n <= SLOW_DATA_PAYLOAD)
        })
        .map(|k| unsent[k])
        .collect();
    assert!(
        slow.len() >= SAMPLES / 2,
        "the client did not stay slow: frames {sizes:?}"
    );
    let bound = DEFAULT_NOTSENT_LOWAT as usize - 1 + HEADER_LEN + SLOW_DATA_PAYLOAD;
    let most = slow.iter().max().copied().unwrap_or(0);
    assert!(
        most > 0,
        "the server never had anything waiting: {unsent:?}"
    );
    assert!(
        most <= bound,
        "{most} bytes unsent, more than {bound}: {unsent:?}"
    );
}

#[tokio::test]
async fn a_request_is_read_before_each_data_frame() {
    // A client that keeps up, on a window of megabytes: the server writes frame after frame, its
    // runtime's record of readiness lagging behind. Reading the socket itself before each DATA frame
    // keeps a LIST behind at most the frame under way and what the kernel held already.
    const TRIALS: u32 = 8;
    let addr = serve(32 << 20, Config::default()).await;
    let mut client = Client::open_with_receive_buffer(addr, 4 << 20).await;
    client
        .send(1, Message::GetSegment { song: 3, index: 0 })
        .await;
    for trial in 0..TRIALS {
        for _ in 0..64 {
            data_of(client.recv().await.unwrap(), 1);
        }
        let list = 100 + trial;
        client.send(list, Message::list_all()).await;
        // What the kernel has delivered by now was written before the LIST could be read.
        let delivered = queued(client.socket().as_raw_fd(), libc::FIONREAD) + client.buffered();
        let mut before_page = 0;
        loop {
            let frame = client.recv().await.unwrap();
            if frame.request_id == list {
                assert!(matches!(frame.message, Message::Page(_)), "{frame:?}");
                break;
            }
            before_page += HEADER_LEN + data_of(frame, 1);
        }
        let late = before_page.saturating_sub(delivered);
        // A frame under way, a packet the kernel held back (MSG_MORE), and room for the timing.
        let bound = 8 * (HEADER_LEN + MAX_DATA_PAYLOAD);
        assert!(
            late <= bound,
            "trial {trial}: {late} bytes of DATA were written after the LIST arrived"
        );
    }
}
