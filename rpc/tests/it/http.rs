//! REST endpoints, errors, auth and the request guards.

use crate::fake::{start, start_with};
use otedama_rpc::{ApiClient, ClientError, RateLimit, SharePage, Status};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn get(base: &str, path: &str) -> (StatusCode, Value) {
    let r = reqwest::get(format!("{base}{path}"))
        .await
        .expect("request");
    let status = r.status();
    (status, r.json().await.expect("json body"))
}

async fn post(base: &str, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    (status, r.json().await.expect("json body"))
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().expect("error code")
}

#[tokio::test]
async fn read_endpoints_answer_json() {
    let s = start(true).await;
    let (code, status) = get(&s.base, "/api/status").await;
    assert_eq!(code, StatusCode::OK);
    let status: Status = serde_json::from_value(status).expect("status decodes");
    assert_eq!(status.chain, "ltc-regtest");
    assert_eq!(status.sharechain.height, Some(41));

    let (code, stats) = get(&s.base, "/api/stats").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(stats["stratum"]["accepted"], 10);
    assert_eq!(
        stats["shares"],
        json!({"accepted": 3, "rejected": 1, "from_peers": 0, "synced": 0})
    );

    let (_, workers) = get(&s.base, "/api/workers").await;
    assert_eq!(workers[0]["name"], "rltc1qfake.rig1");
    let (_, peers) = get(&s.base, "/api/peers").await;
    assert_eq!(peers, json!([]));
    let (_, payouts) = get(&s.base, "/api/payouts").await;
    assert_eq!(payouts["expected"][0]["amount_sat"], 5_000_000_000u64);

    let (code, miner) = get(&s.base, "/api/miner/rltc1qfake").await;
    assert_eq!(code, StatusCode::OK);
    let miner: otedama_rpc::MinerView = serde_json::from_value(miner).expect("miner decodes");
    assert_eq!(miner.expected.amount_sat, 1_250_000_000);
    for (path, code) in [
        ("/api/miner/nope", "invalid_address"),
        // Past any address length: refused before the node is asked.
        (
            &*format!("/api/miner/{}", "q".repeat(200)),
            "invalid_address",
        ),
        // Not UTF-8 once decoded.
        ("/api/miner/%ff", "invalid_address"),
    ] {
        let (status, body) = get(&s.base, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(error_code(&body), code, "{path}");
    }

    // A node error keeps its status and code.
    let (code, body) = get(&s.base, "/api/chain").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&body), "node_busy");
}

#[tokio::test]
async fn history_answers_points_and_refuses_unknown_series() {
    let s = start(true).await;
    let (code, body) = get(
        &s.base,
        "/api/history?series=pool_hashrate,miner:rltc1qfake&range=7d",
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["resolution_secs"], 3600);
    assert_eq!(
        body["series"]["pool_hashrate"],
        json!([
            [1_700_000_000u64, 0.0],
            [1_700_003_600u64, 1.0],
            [1_700_007_200u64, 2.0]
        ])
    );
    assert_eq!(body["series"]["miner:rltc1qfake"][2][1], 2.0);
    let (code, body) = get(&s.base, "/api/history").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["resolution_secs"], 60);
    assert_eq!(body["series"].as_object().expect("series").len(), 7);

    for (bad, names) in [
        ("?series=nope", "pool_hashrate"),
        ("?range=2h", "30d"),
        ("?series=miner:rltc1q%20x", "pool_hashrate"),
        ("?series=peers&range=", "1h"),
    ] {
        let (code, body) = get(&s.base, &format!("/api/history{bad}")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(&body), "invalid_query", "{bad}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(names), "{bad}: {message}");
    }
    // An address the node does not track (yet) has no points, not an error: its page
    // asks before the first minute of a new miner is recorded.
    let (code, body) = get(
        &s.base,
        "/api/history?series=miner:rltc1qother,workers:rltc1qother",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["series"]["miner:rltc1qother"], json!([]));
    assert_eq!(body["series"]["workers:rltc1qother"], json!([]));
    let many: Vec<String> = (0..17).map(|i| format!("miner:a{i}")).collect();
    let (code, body) = get(&s.base, &format!("/api/history?series={}", many.join(","))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "invalid_query");
}

#[tokio::test]
async fn shares_are_paged_and_bounded() {
    let s = start(true).await;
    let (code, page) = get(&s.base, "/api/shares").await;
    assert_eq!(code, StatusCode::OK);
    let page: SharePage = serde_json::from_value(page).expect("decodes");
    assert_eq!((page.page, page.per_page, page.total), (1, 20, 42));
    assert_eq!(page.shares.len(), 20);
    assert_eq!(page.shares[0].height, 41);

    let (_, page) = get(&s.base, "/api/shares?page=3&per_page=20").await;
    let page: SharePage = serde_json::from_value(page).expect("decodes");
    assert_eq!(page.shares.len(), 2);
    assert_eq!(page.shares[1].height, 0);

    for bad in [
        "?page=0",
        "?per_page=0",
        "?per_page=101",
        "?page=abc",
        "?per_page=-1",
        "?page=99999999999999999999999",
        "?page=2000000",
    ] {
        let (code, body) = get(&s.base, &format!("/api/shares{bad}")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(error_code(&body), "invalid_query", "{bad}");
        assert!(
            !body["error"]["message"]
                .as_str()
                .expect("message")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let s = start(true).await;
    let (code, body) = get(&s.base, "/api/nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
    let (code, body) = get(&s.base, "/api/mining/start").await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "method_not_allowed");
}

#[tokio::test]
async fn mining_needs_a_valid_token_and_is_audited() {
    let s = start(true).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let valid = s
        .tokens
        .create(Duration::from_secs(3600), Some("test".into()), now)
        .expect("token");
    let expired = s
        .tokens
        .create(Duration::from_secs(1), None, now - 10)
        .expect("token");
    let revoked = s
        .tokens
        .create(Duration::from_secs(3600), None, now)
        .expect("token");
    s.tokens.revoke(&revoked.info.id, now).expect("revoke");

    let (code, body) = post(&s.base, "/api/mining/start", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "missing_token");
    for (token, expect) in [
        ("otd_0000", "invalid_token"),
        (expired.secret.as_str(), "expired_token"),
        (revoked.secret.as_str(), "revoked_token"),
    ] {
        let (code, body) = post(&s.base, "/api/mining/start", Some(token)).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(error_code(&body), expect);
    }
    // A malformed header is refused too.
    let r = reqwest::Client::new()
        .post(format!("{}/api/mining/start", s.base))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    assert!(s.audit().read_all().expect("audit").is_empty());
    assert!(!s.fake.mining.load(std::sync::atomic::Ordering::SeqCst));

    let (code, body) = post(&s.base, "/api/mining/start", Some(&valid.secret)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["mining"]["running"], true);
    assert_eq!(body["changed"], true);
    let (_, body) = post(&s.base, "/api/mining/start", Some(&valid.secret)).await;
    assert_eq!(body["changed"], false);
    let (code, body) = post(&s.base, "/api/mining/stop", Some(&valid.secret)).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["mining"]["running"], false);

    let audit = s.audit().read_all().expect("audit");
    let actions: Vec<&str> = audit.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["mining_start", "mining_start", "mining_stop"]);
    assert_eq!(audit[0].actor, format!("token:{}", valid.info.id));
    assert_eq!(audit[0].remote.as_deref(), Some("127.0.0.1"));

    // Revoking takes effect on the next request.
    s.tokens.revoke(&valid.info.id, now).expect("revoke");
    let (code, body) = post(&s.base, "/api/mining/stop", Some(&valid.secret)).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "revoked_token");
}

#[tokio::test]
async fn without_auth_operators_are_anonymous() {
    let s = start(false).await;
    let (code, body) = post(&s.base, "/api/mining/start", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let audit = s.audit().read_all().expect("audit");
    assert_eq!(audit[0].actor, "anonymous");
}

#[tokio::test]
async fn an_unwritable_audit_log_stops_the_action() {
    let s = start(false).await;
    // A directory where the log file should be makes every append fail.
    std::fs::create_dir_all(s.audit().path()).expect("mkdir");
    let (code, body) = post(&s.base, "/api/mining/start", None).await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_code(&body), "audit_failed");
    assert!(!s.fake.mining.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn clients_over_their_rate_are_refused() {
    let s = start_with(true, |st| {
        st.rate_limit = RateLimit {
            refill: Duration::from_secs(60),
            burst: 3,
        };
    })
    .await;
    for _ in 0..3 {
        assert_eq!(get(&s.base, "/api/peers").await.0, StatusCode::OK);
    }
    let r = reqwest::get(format!("{}/api/peers", s.base))
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.expect("json");
    assert_eq!(error_code(&body), "rate_limited");
}

#[tokio::test]
async fn large_bodies_are_refused() {
    let s = start(false).await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/mining/start", s.base))
        .body(vec![b'x'; 64 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.expect("json");
    assert_eq!(error_code(&body), "body_too_large");
    assert!(!s.fake.mining.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn cors_is_off_unless_configured() {
    let preflight = |base: String| async move {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{base}/api/status"))
            .header("Origin", "https://dash.example")
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .expect("request")
    };
    let s = start(true).await;
    let r = reqwest::Client::new()
        .get(format!("{}/api/status", s.base))
        .header("Origin", "https://dash.example")
        .send()
        .await
        .expect("request");
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    let r = preflight(s.base.clone()).await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));

    let s = start_with(true, |st| {
        st.cors_origins = vec!["https://dash.example".into()]
    })
    .await;
    let r = preflight(s.base.clone()).await;
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://dash.example")
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint() {
    let s = start(true).await;
    let (code, doc) = get(&s.base, "/api/docs").await;
    assert_eq!(code, StatusCode::OK);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    for path in [
        "/api/status",
        "/api/stats",
        "/api/workers",
        "/api/peers",
        "/api/shares",
        "/api/payouts",
        "/api/chain",
        "/api/miner/{address}",
        "/api/mining/start",
        "/api/mining/stop",
        "/api/docs",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["paths"]["/api/mining/start"]["post"]["security"].is_array());
    assert!(doc["components"]["schemas"]["Event"].is_object());
    let params = doc["paths"]["/api/shares"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    assert_eq!(params.len(), 2);
}

#[tokio::test]
async fn the_pages_are_served_with_a_strict_policy() {
    let s = start(true).await;
    for (path, scripts) in [
        ("/", ["common.js", "dashboard.js"]),
        ("/miner/rltc1qfake", ["../common.js", "../miner.js"]),
        ("/docs", ["common.js", "docs.js"]),
    ] {
        let r = reqwest::get(format!("{}{path}", s.base))
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .expect("csp")
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let html = r.text().await.expect("html");
        for script in scripts {
            assert!(
                html.contains(&format!("src=\"{script}\"")),
                "{path}: {script}"
            );
        }
        assert!(html.contains("dashboard.css"), "{path}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path}: no external resources"
        );
    }
    for (path, kind) in [
        ("/common.js", "javascript"),
        ("/dashboard.js", "javascript"),
        ("/miner.js", "javascript"),
        ("/docs.js", "javascript"),
        ("/dashboard.css", "css"),
    ] {
        let r = reqwest::get(format!("{}{path}", s.base))
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK);
        let ct = r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(ct.contains(kind), "{ct}");
        let body = r.text().await.expect("body");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_client_decodes_answers_and_reports_a_missing_node() {
    let s = start(true).await;
    let client = ApiClient::new(&s.base).expect("client");
    assert_eq!(client.status().await.expect("status").name, "fake");
    assert_eq!(
        client.shares(2, 10).await.expect("shares").shares[0].height,
        31
    );
    match client.chain().await {
        Err(ClientError::Api {
            status: 503, code, ..
        }) => assert_eq!(code, "node_busy"),
        other => panic!("{other:?}"),
    }
    let addr = s.addr();
    s.server.stop().await;
    let gone = ApiClient::new(&format!("http://{addr}")).expect("client");
    let err = gone.status().await.expect_err("nothing listens");
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err}");
    assert!(ApiClient::new("ftp://x").is_err());
}

#[tokio::test]
async fn peer_actions_need_a_token_check_their_body_and_are_audited() {
    let s = start(true).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let token = s
        .tokens
        .create(Duration::from_secs(3600), None, now)
        .expect("token");
    let anonymous = ApiClient::new(&s.base).expect("client");
    match anonymous.ban_peer("12D3KooWpeer", None).await {
        Err(ClientError::Api { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }

    let client = ApiClient::new(&s.base)
        .expect("client")
        .with_token(Some(token.secret.clone()));
    let dialed = client
        .dial_peer("/ip4/127.0.0.1/tcp/9333")
        .await
        .expect("dial");
    assert_eq!(dialed.action, "dial");
    client
        .ban_peer("12D3KooWpeer", Some(Duration::from_secs(60)))
        .await
        .expect("ban");
    client.ban_peer("12D3KooWother", None).await.expect("ban");
    client.unban_peer("12D3KooWpeer").await.expect("unban");
    match client.dial_peer("not a multiaddr").await {
        Err(ClientError::Api {
            status: 400, code, ..
        }) => assert_eq!(code, "invalid_address"),
        other => panic!("expected 400, got {other:?}"),
    }
    match client
        .ban_peer("12D3KooWpeer", Some(Duration::from_secs(0)))
        .await
    {
        Err(ClientError::Api {
            status: 400, code, ..
        }) => assert_eq!(code, "invalid_duration"),
        other => panic!("expected 400, got {other:?}"),
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/peers/ban", s.base))
        .bearer_auth(&token.secret)
        .json(&json!({"peer": "x", "unknown": 1}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert_eq!(error_code(&body), "invalid_body");

    assert_eq!(
        *s.fake.peer_actions.lock().expect("lock"),
        [
            "dial /ip4/127.0.0.1/tcp/9333",
            "ban 12D3KooWpeer 60",
            "ban 12D3KooWother 600",
            "unban 12D3KooWpeer",
        ]
    );
    let audit = s.audit().read_all().expect("audit");
    let actions: Vec<(&str, Option<&str>)> = audit
        .iter()
        .map(|r| (r.action.as_str(), r.subject.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("peer_dial", Some("/ip4/127.0.0.1/tcp/9333")),
            ("peer_ban", Some("12D3KooWpeer for 60s")),
            ("peer_ban", Some("12D3KooWother for 600s")),
            ("peer_unban", Some("12D3KooWpeer")),
            ("peer_dial", Some("not a multiaddr")),
        ]
    );
}
