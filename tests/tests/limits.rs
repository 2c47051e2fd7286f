//! Every route has a body limit and deadlines before any authentication or parsing: a body too
//! large is refused without being read, and a client that trickles its headers or its body, or
//! says nothing at all, is cut off at the deadline instead of holding a connection forever.

use std::time::Duration;

use gateway_tests::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short deadlines, so the tests see them act.
const DEADLINES: [(&str, &str); 3] = [
    ("HTTP_HEADER_TIMEOUT_MS", "400"),
    ("HTTP_BODY_TIMEOUT_MS", "400"),
    ("HTTP_IDLE_TIMEOUT_MS", "1500"),
];

/// Far beyond every deadline above: a connection still open then was never cut off.
const NEVER: Duration = Duration::from_secs(10);

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Everything the server sends until it closes the connection; `None` if it is still open
/// after [`NEVER`].
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut all = Vec::new();
    let read = tokio::time::timeout(NEVER, stream.read_to_end(&mut all)).await;
    match read {
        Err(_) => None,
        Ok(_) => Some(String::from_utf8_lossy(&all).into_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sikka_webhook_body_over_the_limit_is_refused_before_the_callback_key_is_checked() {
    let app = TestApp::spawn_with(&[("SIKKA_CALLBACK_KEY", "cb-key")]).await;
    // Declared too large: refused at once.
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /pms/sikka/webhook/authorize HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream)
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Sent chunked, with no length: read only up to the limit, then refused.
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /pms/sikka/webhook/authorize HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, " ".repeat(64 << 10));
    for _ in 0..32 {
        // The server may answer and close before the rest is sent.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let answer = until_closed(&mut stream).await.expect("answered");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_trickled_past_the_deadline_close_the_connection() {
    let app = TestApp::spawn_with(&DEADLINES).await;
    let stream = connect(&app).await;
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"POST /pms/sikka/webhook/authorize HTTP/1.1\r\nHost: gw\r\n")
        .await
        .unwrap();
    // The rest of the headers comes a byte every 100 ms: never silent long enough for the idle
    // deadline, so only the header deadline can end it.
    let started = std::time::Instant::now();
    let trickle = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        for byte in b"X-Slow: ".iter().cycle().take(100) {
            every.tick().await;
            if writer.write_all(&[*byte]).await.is_err() {
                return true;
            }
        }
        false
    });
    let mut all = Vec::new();
    let closed = tokio::time::timeout(NEVER, reader.read_to_end(&mut all)).await;
    assert!(closed.is_ok(), "the connection was cut off");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "by the header deadline, long before the trickle ends: {:?}",
        started.elapsed()
    );
    trickle.abort();
    // Complete headers in time are served as usual.
    let ok = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_answered_408() {
    let app = TestApp::spawn_with(&DEADLINES).await;
    for path in ["/pms/sikka/webhook/authorize", "/vapi/tools/list_providers"] {
        let mut stream = connect(&app).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = until_closed(&mut stream).await.expect("answered");
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_at_the_idle_deadline() {
    let app = TestApp::spawn_with(&DEADLINES).await;
    let mut stream = connect(&app).await;
    let answer = until_closed(&mut stream).await;
    assert_eq!(answer.as_deref(), Some(""), "closed without a word");
}
