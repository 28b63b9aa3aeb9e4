//! `/api/ws`: the first messages, live events, and slow clients.

use crate::fake::start;
use futures_util::{SinkExt as _, StreamExt as _};
use otedama_rpc::{CLIENT_QUEUE, Event, ShareRejected};
use serde_json::Value;
use std::time::Duration;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &str) -> Socket {
    let url = format!("{}/api/ws", base.replacen("http://", "ws://", 1));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects")
        .0
}

async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let msg = timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("stream open")
            .expect("valid frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

fn rejected(n: usize, pad: usize) -> Event {
    Event::ShareRejected(ShareRejected {
        worker: format!("w{n}"),
        reason: "x".repeat(pad),
        time: n as u64,
    })
}

#[tokio::test]
async fn clients_get_hello_then_live_events() {
    let s = start(true).await;
    let mut ws = connect(&s.base).await;
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["data"]["chain"], "ltc-regtest");
    let sync = next_json(&mut ws).await;
    assert_eq!(sync["type"], "sync");
    assert_eq!(sync["data"]["progress"], 1.0);
    let tick = next_json(&mut ws).await;
    assert_eq!(tick["type"], "hashrate");
    assert_eq!(tick["data"]["pool"], 1000.0);

    s.fake.events.send(rejected(7, 3)).expect("a subscriber");
    // The hub's own tick may come first.
    let mut got = next_json(&mut ws).await;
    while got["type"] == "hashrate" {
        got = next_json(&mut ws).await;
    }
    assert_eq!(got["type"], "share_rejected");
    assert_eq!(got["data"]["worker"], "w7");

    // A client's own messages are ignored, and a close is honoured.
    ws.send(Message::Text("hello?".into())).await.expect("send");
    ws.close(None).await.expect("close");
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_and_others_go_on() {
    let s = start(true).await;
    let mut slow = connect(&s.base).await;
    let mut fast = connect(&s.base).await;
    for _ in 0..3 {
        next_json(&mut fast).await;
    }
    // Enough data to fill the slow client's socket buffers many times over, sent in
    // batches the fast client keeps up with.
    let total = 6 * CLIENT_QUEUE * 20;
    let batch = CLIENT_QUEUE / 4;
    let mut seen = 0;
    for start in (0..total).step_by(batch) {
        for n in start..(start + batch).min(total) {
            s.fake.events.send(rejected(n, 4096)).expect("subscribers");
        }
        while seen < (start + batch).min(total) {
            let m = next_json(&mut fast).await;
            if m["type"] == "share_rejected" {
                assert_eq!(m["data"]["worker"], format!("w{seen}"), "in order");
                seen += 1;
            }
        }
    }
    assert_eq!(seen, total);

    // The slow client now reads: it gets a prefix, then the server's close.
    let mut got = 0;
    let code = loop {
        match timeout(Duration::from_secs(20), slow.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => got += 1,
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break None,
            Err(_) => panic!("the slow client was neither fed nor dropped"),
        }
    };
    assert!(got < total + 3, "the slow client got everything ({got})");
    assert!(code.is_none() || code == Some(1008), "{code:?}");
}
