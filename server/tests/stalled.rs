//! Clients that stop reading in the middle of a segment cost the server nothing while they are
//! stalled (it waits for the kernel to report room instead of looking again and again), and get
//! the rest when they read again (no wake-up is lost). A file of its own: it counts the wake-ups
//! of the server's connection thread, which no other server in the process may share.

mod common;

use std::time::Duration;

use common::{songs, start_on_thread};
use jukebox_protocol::Message;
use jukebox_server::session::SLOW_DATA_PAYLOAD;
use jukebox_server::Config;
use jukebox_test_kit::wire::Client;
use jukebox_test_kit::PATIENCE;

/// Times the server's connection thread has gone to sleep and been woken (its voluntary context
/// switches).
fn wakeups() -> u64 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if name.trim() != "jukebox-conn-0" {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap();
        return status
            .lines()
            .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    }
    panic!("no connection thread");
}

#[tokio::test]
async fn stalled_slow_clients_cost_no_wakeups_and_get_the_rest_when_they_read() {
    const CLIENTS: usize = 20;
    const SEGMENT: usize = 8 << 20;
    let (addr, _) = start_on_thread(songs(1, SEGMENT), Config::default()).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        // A small window, read until the server counts the client slow (small frames), then not at
        // all: the server's next writes find no room.
        let mut client = Client::open_with_receive_buffer(addr, 24 << 10).await;
        client
            .send(1, Message::GetSegment { song: 3, index: 0 })
            .await;
        let mut got = 0;
        loop {
            let frame = client.recv().await.unwrap();
            let Message::Data { end: false, bytes } = frame.message else {
                panic!("unexpected {frame:?}");
            };
            got += bytes.len();
            if bytes.len() == SLOW_DATA_PAYLOAD {
                break;
            }
        }
        clients.push((client, got));
    }
    // Let the server fill every window and find no more room.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = wakeups();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let woken = wakeups() - before;
    // Looking again every 5 ms, as the server once did, is over a hundred wake-ups in this time.
    assert!(woken < 20, "{woken} wake-ups with every client stalled");
    // Reading again, each client gets the rest of its segment.
    for (client, got) in &mut clients {
        let rest = tokio::time::timeout(PATIENCE, client.collect(1))
            .await
            .expect("the transfer did not resume");
        assert_eq!(*got + rest.len(), SEGMENT);
    }
}
