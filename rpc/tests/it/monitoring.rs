//! `/metrics`, `/healthz`, `/readyz`.

use crate::fake::Fake;
use otedama_rpc::{ConnLimits, NodeApi, ParentRpcMetrics, registry, serve_health, serve_metrics};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn metrics_expose_node_values_and_parent_latency() {
    let fake = Fake::new();
    let parent = ParentRpcMetrics::default();
    parent.observe("getblocktemplate", Duration::from_millis(3), true);
    parent.observe("submitblock", Duration::from_millis(5), false);
    parent.observe("weird-method", Duration::from_millis(5), false);
    assert_eq!(parent.errors("submitblock"), 1);
    let server = serve_metrics(
        "127.0.0.1:0".parse().expect("addr"),
        registry(fake as Arc<dyn NodeApi>, &parent),
        ConnLimits::MONITORING,
    )
    .await
    .expect("binds");
    let r = reqwest::get(format!("http://{}/metrics", server.local_addr()))
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.expect("text");
    for line in [
        "otedama_hashrate_hashes_per_second{scope=\"pool\"} 1000.0",
        "otedama_shares_total{result=\"accepted\"} 3",
        "otedama_shares_total{result=\"rejected\"} 1",
        "otedama_stratum_submissions_total{result=\"stale\"} 1",
        "otedama_blocks_found_total{result=\"accepted\"} 1",
        "otedama_stratum_connections 2",
        "otedama_peers 0",
        "otedama_sharechain_height 41",
        "otedama_parent_rpc_errors_total{method=\"submitblock\"} 1",
        "otedama_parent_rpc_errors_total{method=\"other\"} 1",
        "otedama_parent_rpc_duration_seconds_count{method=\"getblocktemplate\"} 1",
        "otedama_device_hashrate_hashes_per_second{device=\"asic:sim\",kind=\"asic\"} 2500000000.0",
        "otedama_device_temperature_celsius{device=\"asic:sim\",kind=\"asic\"} 71.5",
        "otedama_device_fan_rpm{device=\"asic:sim\",kind=\"asic\",fan=\"1\"} 3720.0",
        "otedama_device_shares{device=\"asic:sim\",kind=\"asic\",result=\"hardware_error\"} 2.0",
        "otedama_device_up{device=\"asic:sim\",kind=\"asic\"} 1.0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
    let r = reqwest::get(format!("http://{}/nope", server.local_addr()))
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn readyz_follows_the_node_and_healthz_is_always_up() {
    let fake = Fake::new();
    let server = serve_health(
        "127.0.0.1:0".parse().expect("addr"),
        fake.clone() as Arc<dyn NodeApi>,
        ConnLimits::MONITORING,
    )
    .await
    .expect("binds");
    let base = format!("http://{}", server.local_addr());
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let r = reqwest::get(url).await.expect("request");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    let (code, body) = get("/readyz").await;
    assert_eq!((code, body["status"].as_str()), (200, Some("ready")));
    *fake.ready.lock().expect("lock") =
        vec!["no block template from the parent daemons yet".into()];
    let (code, body) = get("/readyz").await;
    assert_eq!(code, 503);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(
        body["reasons"][0],
        "no block template from the parent daemons yet"
    );
    assert_eq!(get("/healthz").await.0, 200);
}
