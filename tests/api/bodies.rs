//! Request bodies are bounded in size and in time on every route that reads
//! one: a slow body gets 408 and a closed connection within
//! `server.client_timeout`, a large one 413.

use crate::helpers::{spawn_app, spawn_app_with, TestApp, PUBLIC_URL};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Every route that reads a body, with a content type it accepts.
const BODY_ROUTES: [(&str, &str); 5] = [
    ("/auth/signin/credentials", "application/x-www-form-urlencoded"),
    ("/auth/signin/credentials", "application/json"),
    ("/auth/signout", "application/x-www-form-urlencoded"),
    ("/auth/tokens", "application/json"),
    // Bounded before the route looks for the provider (none is configured here).
    ("/auth/backchannel-logout/corp", "application/x-www-form-urlencoded"),
];

/// Send a request head promising 1000 bytes of body, then trickle one byte
/// every 100 ms; returns what the server answered and when it closed.
fn trickle(address: &str, path: &str, content_type: &str) -> (String, Duration) {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: gate.test\r\nContent-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            if writer.write_all(b"a").is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{path}: no answer and no close after {:?}: {e}", started.elapsed()),
        }
    }
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

#[tokio::test]
async fn a_slow_body_gets_408_and_a_closed_connection_within_the_timeout() {
    let app = spawn_app_with(|s| s.server.client_timeout = Duration::from_secs(1)).await;
    for (path, content_type) in BODY_ROUTES {
        let address = app.address.clone();
        let (answer, elapsed) =
            tokio::task::spawn_blocking(move || trickle(&address, path, content_type)).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{path} ({content_type}) answered {answer:?}");
        assert!(answer.contains("request_timeout"), "{answer}");
        assert!(elapsed >= Duration::from_millis(900), "{path}: closed after {elapsed:?}, before the timeout");
        assert!(elapsed < Duration::from_secs(3), "{path}: held open for {elapsed:?}");
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// POST `body` with `Transfer-Encoding: chunked` (no length announced) over
/// a raw connection; returns the status code.
fn post_chunked(app: &TestApp, path: &str, content_type: &str, cookie: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: gate.test\r\nOrigin: {PUBLIC_URL}\r\nCookie: {cookie}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    for chunk in body.as_bytes().chunks(4096) {
        request.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), String::from_utf8_lossy(chunk)));
    }
    request.push_str("0\r\n\r\n");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request.as_bytes());
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[9..12]).parse().unwrap()
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_on_every_route_that_reads_one() {
    let app = spawn_app().await;
    let signed_in = app.sign_in_as_alice().await;
    let session_cookie = crate::helpers::set_cookies(signed_in.headers())
        .into_iter()
        .find(|c| c.name == app.cookie_name())
        .map(|c| format!("{}={}", c.name, c.value))
        .unwrap();
    let big = "a".repeat(17 * 1024);
    for (path, content_type) in BODY_ROUTES {
        let body = if content_type == "application/json" {
            format!(r#"{{"name":"{big}","username":"{big}","password":"x"}}"#)
        } else {
            format!("username=alice&password=x&redirect_to=/{big}")
        };
        let declared = app
            .client
            .post(app.url(path))
            .header("Origin", PUBLIC_URL)
            .header("Content-Type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(declared.status(), 413, "{path} ({content_type}) with Content-Length");
        let answer: serde_json::Value = declared.json().await.unwrap();
        assert_eq!(answer["error"], "payload_too_large");
        let cookie = session_cookie.clone();
        assert_eq!(post_chunked(&app, path, content_type, &cookie, &body), 413, "{path} ({content_type}) chunked");
    }
    assert_eq!(app.verify().await.status(), 200, "a refused sign-out signed nobody out");
}
