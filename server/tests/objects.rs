//! `--catalog s3://BUCKET/PREFIX`: a catalog uploaded with a standard tool (`aws s3 sync`) to a
//! real S3-compatible server on loopback (moto's server mode, installed from PyPI by `.ci/run`)
//! serves the same bytes as the local catalog it was uploaded from; a segment the store cannot
//! give, or gives too slowly, is one request's ERROR INTERNAL within the read time.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::output_within;
use jukebox_protocol::{ErrorCode, Message, Page};
use jukebox_segmenter::catalog::write::Quiet;
use jukebox_segmenter::{write_catalog, DEFAULT_SEGMENT_DURATION};
use jukebox_server::Store;
use jukebox_test_kit::music_dir;
use jukebox_test_kit::process::{poll_until, signal, Killed, ServerProcess};
use jukebox_test_kit::wire::Client;

const BUCKET: &str = "jukebox";
const PREFIX: &str = "library/v1";

/// A moto S3 server on a free loopback port, killed when dropped.
struct S3 {
    child: Killed,
    endpoint: String,
}

impl S3 {
    fn start() -> S3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server is installed: pip install 'moto[server]' (see .ci/run)");
        let child = Killed::from(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // moto says nothing when it is ready; it is once it accepts connections.
        poll_until("moto_server accepting", Duration::from_millis(50), || {
            TcpStream::connect(addr).is_ok()
        });
        S3 {
            child,
            endpoint: format!("http://{addr}"),
        }
    }

    /// The AWS variables that lead a client (the server, the aws tool) to this store.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "jukebox-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "jukebox-test".into()),
        ]
    }

    /// Runs the aws command-line tool on this store.
    fn aws(&self, args: &[&str]) {
        let output = output_within(Command::new("aws").args(args).envs(self.env()));
        assert!(
            output.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Sends the process a signal (SIGSTOP: a store that stops answering).
    fn signal(&self, sig: i32) {
        signal(self.child.id(), sig);
    }
}

/// A catalog of the bundled music, and the same uploaded to `s3://BUCKET/PREFIX` with
/// `aws s3 sync` (the run's lock file left out, as the catalog's documentation says).
fn uploaded(s3: &S3) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    write_catalog(&music_dir(), dir.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap();
    let url = format!("s3://{BUCKET}/{PREFIX}");
    s3.aws(&["s3", "mb", &format!("s3://{BUCKET}")]);
    s3.aws(&[
        "s3",
        "sync",
        "--only-show-errors",
        "--exclude",
        ".lock",
        dir.path().to_str().unwrap(),
        &url,
    ]);
    (dir, url)
}

fn serve(catalog: &str, s3: &S3, more: &[&str]) -> ServerProcess {
    let env = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["--catalog", catalog];
    args.extend_from_slice(more);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    common::process::start_with_env(&args, &env)
}

/// WELCOME's document, LIST, every MANIFEST and every segment, as raw payloads.
async fn everything(addr: SocketAddr) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut client = Client::connect(addr).await;
    client
        .send(
            0,
            Message::Hello {
                version: jukebox_protocol::VERSION,
            },
        )
        .await;
    let Message::Welcome { info, .. } = client.recv().await.unwrap().message else {
        panic!("expected WELCOME");
    };
    let (page, manifests, segments) = common::everything(&mut client).await;
    (info.to_vec(), page, manifests, segments)
}

#[tokio::test]
async fn a_catalog_in_s3_serves_what_the_local_catalog_serves() {
    let s3 = S3::start();
    let (dir, url) = uploaded(&s3);
    let local = serve(dir.path().to_str().unwrap(), &s3, &[]);
    let remote = serve(&url, &s3, &[]);
    let (info_l, list_l, manifests_l, segments_l) = everything(local.addr).await;
    let (info_r, list_r, manifests_r, segments_r) = everything(remote.addr).await;
    assert_eq!(
        info_l, info_r,
        "WELCOME documents differ: not the same catalog value"
    );
    assert_eq!(list_l, list_r, "PAGE payloads differ");
    assert_eq!(manifests_l, manifests_r, "MANIFEST payloads differ");
    assert_eq!(segments_l.len(), 57);
    assert_eq!(segments_l, segments_r, "segment bytes differ");
    let log = remote.log();
    assert!(
        log.contains("downloaded the index of s3://jukebox/library/v1"),
        "{log}"
    );
    assert!(log.contains("read from the object store"), "{log}");
}

#[tokio::test]
async fn a_segment_the_store_does_not_give_in_time_is_one_request_s_error() {
    let s3 = S3::start();
    let (dir, url) = uploaded(&s3);
    let local = Store::open_catalog(dir.path(), 0).unwrap();
    let page = Page::from_json(&local.page(&Default::default()).unwrap()).unwrap();
    let song = page.songs[0].id;
    // A segment removed from the bucket after the upload.
    let folder = local.song_folder(song).unwrap();
    let folder = folder.file_name().unwrap().to_str().unwrap();
    s3.aws(&["s3", "rm", &format!("{url}/songs/{folder}/000001.seg")]);
    let server = serve(&url, &s3, &["--cache-mib", "0", "--read-timeout", "1"]);
    let mut client = Client::open(server.addr).await;
    client.send(2, Message::GetSegment { song, index: 1 }).await;
    client.expect_error(2, ErrorCode::Internal).await;
    // The connection goes on: segment 0 is still there.
    assert!(!client.fetch(3, song, 0).await.is_empty());
    server.wait_for_line(&["cannot serve a catalog segment", "000001.seg"]);

    // A store that stops answering: the request fails at the read time, not later.
    s3.signal(libc::SIGSTOP);
    let asked = Instant::now();
    client.send(4, Message::GetSegment { song, index: 2 }).await;
    client.expect_error(4, ErrorCode::Internal).await;
    let waited = asked.elapsed();
    s3.signal(libc::SIGCONT);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "answered after {waited:?}"
    );
    server.wait_for_line(&["not read within 1 s"]);
    // And once it answers again, so does the server.
    assert!(!client.fetch(5, song, 2).await.is_empty());
}

#[test]
fn a_bucket_without_a_catalog_is_a_one_line_error() {
    let s3 = S3::start();
    s3.aws(&["s3", "mb", &format!("s3://{BUCKET}")]);
    let env = s3.env();
    let output = output_within(
        common::process::server_command()
            .args([
                "--catalog",
                "s3://jukebox/nothing",
                "--listen",
                "127.0.0.1:0",
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str()))),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("s3://jukebox/nothing holds no catalog: no index.sqlite"),
        "{stderr}"
    );
}
