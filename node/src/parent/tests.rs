use super::*;
use crate::config::Secret;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A daemon stand-in that answers every request with a body that never ends.
async fn endless_daemon() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                while stream.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}")
}

fn chain(url: String, cookie_file: Option<PathBuf>) -> ChainConfig {
    let password = cookie_file.is_none().then(|| Secret::new("pass"));
    ChainConfig {
        spec: "ltc-regtest".into(),
        daemons: vec![DaemonConfig {
            url,
            user: password.as_ref().map(|_| "user".to_owned()),
            password,
            cookie_file,
            zmq: None,
        }],
    }
}

#[tokio::test]
async fn an_endless_reply_stops_at_the_limit_and_names_it() {
    let client = ParentClient::new(&chain(endless_daemon().await, None), None).expect("client");
    let started = Instant::now();
    let err = client
        .call("getblockcount", json!([]))
        .await
        .expect_err("an endless reply is refused");
    assert!(
        matches!(&err, ParentError::AllFailed(v)
            if matches!(v[..], [ParentError::TooLarge { limit: MAX_REPLY, .. }])),
        "{err}"
    );
    assert!(err.to_string().contains(&MAX_REPLY.to_string()), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_oversized_cookie_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, "x".repeat(1 << 20)).expect("write");
    let client = ParentClient::new(
        &chain("http://127.0.0.1:1".into(), Some(cookie.clone())),
        None,
    )
    .expect("client");
    let err = client
        .call("getblockcount", json!([]))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains(&MAX_COOKIE.to_string()), "{err}");
}
