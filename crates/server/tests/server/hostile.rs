//! Hostile clients against the real application on port 0: slow request
//! heads, huge headers and huge bodies are cut off or refused quickly, with
//! a 4xx and never a 500 or a hang.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use recordshop::{Application, Config, ShutdownTrigger};
use recordshop_auth::{Principal, TokenKeys};
use recordshop_testdb::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

/// The application serving a fresh database on 127.0.0.1.
pub(crate) struct Served {
    pub port: u16,
    pub handle: ServerHandle,
    pub trigger: ShutdownTrigger,
    pub drain: recordshop::Drain,
    pub server: JoinHandle<std::io::Result<()>>,
    pub db: TestDatabase,
    /// A staff bearer token the server accepts.
    pub token: String,
}

const SECRET: &str = "a signing secret for the server tests, over 32 bytes";

pub(crate) async fn serve(workers: usize) -> Served {
    let db = TestDatabase::create().await.expect("test database");
    let (_, mut config) = Config::parse_from([
        "recordshop".to_owned(),
        "--port=0".to_owned(),
        format!("--http-workers={workers}"),
        // The server refuses to start without a signing key.
        format!("--jwt-secret={SECRET}"),
    ])
    .expect("config");
    config.host = "127.0.0.1".to_owned();
    config.database = db.config().clone();
    recordshop::migrate(&config).await.expect("migrations");
    let application = Application::build(&config).await.expect("build");
    Served {
        port: application.port(),
        handle: application.handle(),
        trigger: application.shutdown_trigger(),
        drain: application.drain(),
        server: actix_web::rt::spawn(application.run_until_stopped()),
        db,
        token: TokenKeys::from_secret(SECRET.as_bytes())
            .expect("signing key")
            .mint(&Principal::staff(), Duration::from_secs(300))
            .expect("staff token"),
    }
}

impl Served {
    pub async fn stop(self) {
        self.handle.stop(false).await;
        let stopped = self.server.await.expect("server task");
        assert!(stopped.is_ok(), "{stopped:?}");
    }
}

/// Reads until the server closes the connection or `within` passes;
/// returns what arrived and whether the connection ended in time. A reset
/// after the answer counts as an end.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 8192];
    let deadline = Instant::now() + within;
    let closed = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => break false,
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    };
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

#[actix_web::test]
async fn a_slowloris_client_is_cut_off_within_the_request_timeout() {
    let served = serve(1).await;
    let stream = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    // A request head that never ends: one more header byte every 300 ms.
    let trickle = tokio::spawn(async move {
        if writer
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await
            .is_err()
        {
            return;
        }
        loop {
            sleep(Duration::from_millis(300)).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let mut received = Vec::new();
    let mut buffer = [0_u8; 1024];
    let ended = timeout(Duration::from_secs(10), async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    trickle.abort();
    assert!(ended.is_ok(), "the slow client still connected after 10 s");
    let answer = String::from_utf8_lossy(&received);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // The request timeout is 5 s; trickling bytes must not extend it.
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(7),
        "cut off after {elapsed:?}"
    );
    served.stop().await;
}

#[actix_web::test]
async fn a_body_trickled_past_the_body_timeout_is_refused() {
    let served = serve(1).await;
    let stream = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /discs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n{{",
        served.token
    );
    let started = Instant::now();
    // One body byte every 500 ms: 1,000 bytes would take over 8 minutes.
    let trickle = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        loop {
            sleep(Duration::from_millis(500)).await;
            if writer.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    let _ = timeout(Duration::from_secs(15), async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    received.extend_from_slice(&buffer[..read]);
                    if String::from_utf8_lossy(&received).ends_with('}') {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    trickle.abort();
    let answer = String::from_utf8_lossy(&received);
    assert_eq!(status_of(&answer), 400, "{answer}");
    assert!(answer.contains(r#""code":"malformed_request""#), "{answer}");
    assert!(
        elapsed >= Duration::from_secs(9) && elapsed < Duration::from_secs(12),
        "answered after {elapsed:?}"
    );
    served.stop().await;
}

#[actix_web::test]
async fn a_100_kib_header_is_refused_with_a_4xx() {
    let served = serve(1).await;
    let mut stream = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    let filler = "a".repeat(100 * 1024);
    let request = format!("GET /health HTTP/1.1\r\nHost: localhost\r\nX-Filler: {filler}\r\n\r\n");
    let started = Instant::now();
    // The server may answer and close before taking all of it.
    let _ = stream.write_all(request.as_bytes()).await;
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let status = status_of(&answer);
    assert!(
        (400..500).contains(&status),
        "status {status} after {:?}: {answer:.300}",
        started.elapsed()
    );
    assert!(closed, "the connection stayed open: {answer:.300}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // The server still serves well-behaved clients.
    let mut stream = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    served.stop().await;
}

#[actix_web::test]
async fn a_10_mib_body_is_refused_with_413_problem_json_at_once() {
    let served = serve(1).await;
    let stream = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let size = 10 * 1024 * 1024;
    let token = served.token.clone();
    let started = Instant::now();
    // The body is sent while the answer is read: a server that waited for
    // all of it before answering would show here as a slow answer.
    let sender = tokio::spawn(async move {
        let head = format!(
            "POST /discs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {size}\r\n\r\n"
        );
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..size / chunk.len() {
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut received = Vec::new();
    let mut buffer = [0_u8; 8192];
    let _ = timeout(Duration::from_secs(5), async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    received.extend_from_slice(&buffer[..read]);
                    if String::from_utf8_lossy(&received).contains("\"code\"") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    sender.abort();
    let answer = String::from_utf8_lossy(&received);
    assert_eq!(status_of(&answer), 413, "{answer:.500}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer:.500}"
    );
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
    assert!(
        elapsed < Duration::from_secs(2),
        "answered after {elapsed:?}"
    );
    served.stop().await;
}

#[actix_web::test]
async fn six_hundred_idle_connections_do_not_keep_a_client_waiting() {
    let served = serve(2).await;
    // Connections that send nothing, held open.
    let mut idle = Vec::new();
    for _ in 0..600 {
        idle.push(
            TcpStream::connect(("127.0.0.1", served.port))
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let waited = started.elapsed();
    assert_eq!(status_of(&answer), 200, "{answer}");
    // The idle ones are cut 5 s after they connected; answering before
    // that means the client was not queued behind them.
    assert!(
        waited < Duration::from_secs(2),
        "a client behind 600 idle connections waited {waited:?}"
    );
    drop(idle);
    served.stop().await;
}

#[actix_web::test]
async fn head_sends_the_get_answers_headers_without_its_body() {
    let served = serve(1).await;
    let fetch = |method: &'static str| async move {
        let mut stream = TcpStream::connect(("127.0.0.1", served.port))
            .await
            .unwrap();
        let request = format!(
            "{method} /openapi.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .0
    };
    let get = fetch("GET").await;
    let head = fetch("HEAD").await;
    assert_eq!(status_of(&get), 200, "{get:.300}");
    assert_eq!(status_of(&head), 200, "{head:.300}");
    let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap();
    let (head_head, head_body) = head.split_once("\r\n\r\n").unwrap();
    assert!(!get_body.is_empty());
    assert_eq!(head_body, "", "HEAD carried a body");
    let length = |head: &str| {
        head.lines().find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
    };
    assert_eq!(length(head_head), length(get_head));
    assert_eq!(length(head_head), Some(get_body.len().to_string()));
    served.stop().await;
}

#[actix_web::test]
async fn a_compressed_body_is_refused_and_its_connection_closed_unread() {
    let served = serve(1).await;
    let mut stream = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    let head = "POST /customers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Content-Encoding: gzip\r\nContent-Length: 61440\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    // Part of the body: the answer must not wait for the rest.
    let _ = stream.write_all(&[0x1f, 0x8b, 8, 0]).await;
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), 415, "{answer}");
    assert!(
        answer.contains(r#""code":"unsupported_encoding""#),
        "{answer}"
    );
    assert!(closed, "the connection stayed open");
    served.stop().await;
}

/// The status code of a raw HTTP/1.1 answer, 0 when there is none.
pub(crate) fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}
