//! What the harness's own tests stand up in place of real servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

type Answer = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A minimal HTTP/1.1 server on 127.0.0.1 and a free port: answers every
/// request with `status` and a body made from the request's `Host`,
/// keeping the connection open, and counts the POSTs it got. It runs
/// until the test process ends.
pub(crate) struct Upstream {
    pub(crate) address: SocketAddr,
    pub(crate) posts: Arc<AtomicUsize>,
}

impl Upstream {
    /// Answers `<name> <host>`: which upstream served, and the Host it saw.
    pub(crate) fn named(name: &'static str, status: &'static str) -> Self {
        Self::start(status, Arc::new(move |host| format!("{name} {host}")))
    }

    /// Answers `body` whatever the request.
    pub(crate) fn fixed(body: &'static str) -> Self {
        Self::start("200 OK", Arc::new(move |_| body.to_owned()))
    }

    fn start(status: &'static str, answer: Answer) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let address = listener.local_addr().unwrap();
        let posts = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&posts);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let counted = Arc::clone(&counted);
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || serve(stream, status, &*answer, &counted));
            }
        });
        Self { address, posts }
    }
}

fn serve(stream: TcpStream, status: &str, answer: &dyn Fn(&str) -> String, posts: &AtomicUsize) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        let mut host = String::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (field, value) = header.split_once(':').unwrap_or((header, ""));
            match field.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "host" => host = value.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if request_line.starts_with("POST") {
            posts.fetch_add(1, Ordering::SeqCst);
        }
        let body = answer(&host);
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
