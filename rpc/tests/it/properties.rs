//! Arbitrary input on the HTTP-facing parsers that are the project's own: query strings
//! of `/api/shares` and `/api/payouts`, and the `Authorization` header of operator
//! actions. Each answer is a success or the documented JSON error, never a 500.

use crate::fake::{Server, start_with};
use otedama_rpc::RateLimit;
use proptest::prelude::*;
use serde_json::Value;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn server(auth: bool) -> Server {
    start_with(auth, |s| {
        s.rate_limit = RateLimit {
            refill: Duration::from_millis(1),
            burst: 1_000_000,
        };
    })
    .await
}

/// The status and, for errors, the code.
async fn ask(req: reqwest::RequestBuilder) -> (u16, Option<String>) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("a JSON body");
    let code = body["error"]["code"].as_str().map(str::to_owned);
    (status, code)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_query_string_is_answered_or_refused_as_invalid_query(
        query in prop_oneof![
            "[a-zA-Z0-9=&%+._~-]{0,120}",
            ("(page|per_page|finder|x)", "(-?[0-9]{0,22}|[a-z]{0,8}|%[0-9A-F]{2})")
                .prop_map(|(k, v)| format!("{k}={v}")),
        ]
    ) {
        let rt = runtime();
        rt.block_on(async {
            let s = server(false).await;
            let client = reqwest::Client::new();
            for path in ["/api/shares", "/api/payouts"] {
                let Ok(url) = reqwest::Url::parse(&format!("{}{path}?{query}", s.base)) else {
                    continue;
                };
                let (status, code) = ask(client.get(url)).await;
                match status {
                    200 => prop_assert!(code.is_none()),
                    400 => prop_assert!(
                        matches!(code.as_deref(), Some("invalid_query" | "invalid_address")),
                        "{path}?{query}: {code:?}"
                    ),
                    other => prop_assert!(false, "{path}?{query}: status {other}, {code:?}"),
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn any_authorization_header_gets_a_401_with_a_token_code(
        header in prop_oneof![
            proptest::collection::vec(32u8..127, 0..300)
                .prop_map(|b| String::from_utf8(b).expect("ascii")),
            "(?i)bearer {0,2}[ -~]{0,80}",
            "(?i)(basic|bearer|token) otd_[0-9a-f]{0,70}",
        ]
    ) {
        let rt = runtime();
        rt.block_on(async {
            let s = server(true).await;
            let req = reqwest::Client::new()
                .post(format!("{}/api/mining/stop", s.base))
                .header("authorization", header.as_str());
            let (status, code) = ask(req).await;
            prop_assert_eq!(status, 401, "{:?}: {:?}", header, code);
            prop_assert!(
                matches!(code.as_deref(), Some("invalid_token" | "missing_token")),
                "{header:?}: {code:?}"
            );
            prop_assert!(s.fake.peer_actions.lock().expect("lock").is_empty());
            Ok(())
        })?;
    }
}
