//! The real application, started on port 0 over a fresh database and
//! spoken to over TCP.

use recordshop::{Application, Config};
use recordshop_testdb::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: startup-test\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[actix_web::test]
async fn the_application_binds_port_0_serves_and_stops() {
    let db = TestDatabase::create().await.expect("test database");
    let (_, mut config) =
        Config::parse_from(["recordshop", "--port=0", "--http-workers=1"]).expect("config");
    config.host = "127.0.0.1".to_owned();
    config.database = db.config().clone();
    recordshop::migrate(&config)
        .await
        .expect("migrations are idempotent");

    let application = Application::build(&config).await.expect("build");
    let port = application.port();
    assert_ne!(port, 0);
    let handle = application.handle();
    let server = actix_web::rt::spawn(application.run_until_stopped());

    let ready = http_get(port, "/health/ready").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(
        ready
            .to_ascii_lowercase()
            .contains("x-request-id: startup-test"),
        "{ready}"
    );
    assert!(ready.ends_with(r#"{"status":"ready"}"#), "{ready}");

    let missing = http_get(port, "/nowhere").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains("application/problem+json"), "{missing}");

    handle.stop(true).await;
    let stopped = server.await.expect("server task");
    assert!(stopped.is_ok(), "{stopped:?}");
}
