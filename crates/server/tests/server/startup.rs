//! The real application, started on port 0 over a fresh database and
//! spoken to over TCP.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recordshop::{Application, Config};
use recordshop_auth::{Principal, TokenKeys};
use recordshop_testdb::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "a signing secret for the start-up test, over 32 bytes";

async fn http_get(port: u16, path: &str, extra_headers: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: startup-test\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

/// A migrated fresh database and a configuration on port 0 over it.
async fn configured(auth: &str) -> (TestDatabase, Config) {
    let db = TestDatabase::create().await.expect("test database");
    let (_, mut config) =
        Config::parse_from(["recordshop", "--port=0", "--http-workers=1", auth]).expect("config");
    config.host = "127.0.0.1".to_owned();
    config.database = db.config().clone();
    recordshop::migrate(&config)
        .await
        .expect("migrations are idempotent");
    (db, config)
}

#[actix_web::test]
async fn the_application_binds_port_0_serves_and_stops() {
    let (_db, config) = configured(&format!("--jwt-secret={SECRET}")).await;
    let application = Application::build(&config).await.expect("build");
    let port = application.port();
    assert_ne!(port, 0);
    let handle = application.handle();
    let server = actix_web::rt::spawn(application.run_until_stopped());

    let ready = http_get(port, "/health/ready", "").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(
        ready
            .to_ascii_lowercase()
            .contains("x-request-id: startup-test"),
        "{ready}"
    );
    assert!(ready.ends_with(r#"{"status":"ready"}"#), "{ready}");

    let live = http_get(port, "/health", "").await;
    assert!(live.contains(r#""auth":"enabled""#), "{live}");

    let missing = http_get(port, "/nowhere", "").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains("application/problem+json"), "{missing}");

    // Secure by default: the customer list needs a token, and the
    // configured secret's tokens open it.
    let anonymous = http_get(port, "/customers", "").await;
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    assert!(
        anonymous
            .to_ascii_lowercase()
            .contains(r#"www-authenticate: bearer realm="recordshop""#),
        "{anonymous}"
    );
    let token = TokenKeys::from_secret(SECRET.as_bytes())
        .unwrap()
        .mint(&Principal::staff(), Duration::from_secs(60))
        .unwrap();
    let staff = http_get(
        port,
        "/customers",
        &format!("Authorization: Bearer {token}\r\n"),
    )
    .await;
    assert!(staff.starts_with("HTTP/1.1 200"), "{staff}");

    handle.stop(true).await;
    let stopped = server.await.expect("server task");
    assert!(stopped.is_ok(), "{stopped:?}");
}

/// Collects what a subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn with_auth_disabled_it_warns_and_says_so_in_health() {
    let (_db, config) = configured("--auth-disabled=true").await;
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let application = {
        let _guard = tracing::subscriber::set_default(subscriber);
        Application::build(&config).await.expect("build")
    };
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("WARN")
            && logged.contains("authentication is DISABLED: every caller is staff"),
        "{logged}"
    );

    let port = application.port();
    let handle = application.handle();
    let server = actix_web::rt::spawn(application.run_until_stopped());
    let live = http_get(port, "/health", "").await;
    assert!(live.contains(r#""auth":"disabled""#), "{live}");
    let anyone = http_get(port, "/customers", "").await;
    assert!(anyone.starts_with("HTTP/1.1 200"), "{anyone}");
    handle.stop(true).await;
    assert!(server.await.expect("server task").is_ok());
}
