//! Prometheus metrics (`/metrics`, prometheus-client 0.25, one registry shared with
//! libp2p-metrics) and the health endpoints (`/healthz`, `/readyz`), each on its own listener.
//!
//! Node state is read at scrape time through [`NodeApi::metrics`], so the node keeps one
//! set of counters for the API and Prometheus alike. Parent RPC latency is the one live
//! metric: the node's parent client records each call in [`ParentRpcMetrics`].

use crate::api::NodeApi;
use crate::conn::ConnLimits;
use crate::dto::MetricsSnapshot;
use crate::server::HttpServer;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The label of parent RPC metrics: the JSON-RPC method, from a fixed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

fn method_label(method: &str) -> MethodLabel {
    // A fixed set keeps the label's cardinality bounded.
    const KNOWN: [&str; 4] = [
        "getblocktemplate",
        "submitblock",
        "getblockchaininfo",
        "getbestblockhash",
    ];
    MethodLabel {
        method: KNOWN
            .iter()
            .find(|m| **m == method)
            .copied()
            .unwrap_or("other"),
    }
}

type HistogramFamily = Family<MethodLabel, Histogram, fn() -> Histogram>;

/// Latency and errors of calls to the parent daemons. Cloning shares the counters.
#[derive(Clone, Debug)]
pub struct ParentRpcMetrics {
    latency: HistogramFamily,
    errors: Family<MethodLabel, Counter>,
}

impl Default for ParentRpcMetrics {
    fn default() -> Self {
        fn histogram() -> Histogram {
            // 1 ms to ~16 s; longpolls that wait for a block are not timed.
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        }
        Self {
            latency: Family::new_with_constructor(histogram),
            errors: Family::default(),
        }
    }
}

impl ParentRpcMetrics {
    /// Records one call of `method` that took `elapsed` and failed unless `ok`.
    pub fn observe(&self, method: &str, elapsed: Duration, ok: bool) {
        let label = method_label(method);
        self.latency
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
        // Created at zero on the first call, so the series exists before the first error
        // (a rate over a missing series is no data, not zero).
        let errors = self.errors.get_or_create(&label);
        if !ok {
            errors.inc();
        }
    }

    /// Returns how many calls of `method` failed (for tests).
    pub fn errors(&self, method: &str) -> u64 {
        self.errors.get_or_create(&method_label(method)).get()
    }
}

/// Reads the node's values at every scrape.
struct NodeCollector {
    api: Arc<dyn NodeApi>,
}

impl fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeCollector")
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: &[(&'static str, u64)],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (value, n) in values {
        let labels = [(label, *value)];
        ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge<N: prometheus_client::encoding::EncodeGaugeValue + fmt::Debug>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> fmt::Result {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let MetricsSnapshot {
            hashrate,
            stratum,
            shares,
            blocks,
            peers,
            sharechain_height,
            mining,
            uptime_secs,
            devices,
        } = self.api.metrics();
        {
            let mut family = encoder.encode_descriptor(
                "hashrate_hashes_per_second",
                "Estimated hashrate: pool (the sharechain), local (this node's Stratum workers), miner (the built-in miner)",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (scope, v) in [
                ("pool", hashrate.pool),
                ("local", hashrate.local),
                ("miner", hashrate.miner),
            ] {
                let labels = [("scope", scope)];
                ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut encoder,
            "shares",
            "Shares checked by sharechain validation, by result",
            "result",
            &[("accepted", shares.accepted), ("rejected", shares.rejected)],
        )?;
        counter(
            &mut encoder,
            "stratum_submissions",
            "Stratum submissions, by result",
            "result",
            &[
                ("accepted", stratum.accepted),
                ("stale", stratum.rejected_stale),
                ("duplicate", stratum.rejected_duplicate),
                ("low_difficulty", stratum.rejected_low_difficulty),
                ("other", stratum.rejected_other),
            ],
        )?;
        counter(
            &mut encoder,
            "blocks_found",
            "Parent blocks found, by what the daemons said",
            "result",
            &[
                ("accepted", blocks.accepted),
                ("stale", blocks.stale),
                ("rejected", blocks.rejected),
            ],
        )?;
        gauge(
            &mut encoder,
            "stratum_connections",
            "Open Stratum connections",
            stratum.connections,
        )?;
        gauge(&mut encoder, "peers", "Connected sharechain peers", peers)?;
        if let Some(h) = sharechain_height {
            gauge(
                &mut encoder,
                "sharechain_height",
                "Height of the best sharechain tip",
                h,
            )?;
        }
        gauge(
            &mut encoder,
            "mining_active",
            "1 while the built-in miner runs",
            u64::from(mining),
        )?;
        gauge(
            &mut encoder,
            "uptime_seconds",
            "Seconds since the node started",
            uptime_secs,
        )?;
        encode_devices(&mut encoder, &devices)
    }
}

/// Per-device gauges: hashrate, temperature, fans, shares and hardware errors.
fn encode_devices(
    encoder: &mut DescriptorEncoder,
    devices: &[crate::dto::MiningDevice],
) -> fmt::Result {
    if devices.is_empty() {
        return Ok(());
    }
    let family = |encoder: &mut DescriptorEncoder,
                  name: &str,
                  help: &str,
                  values: &mut dyn Iterator<Item = (Vec<(&str, String)>, f64)>|
     -> fmt::Result {
        let mut f = encoder.encode_descriptor(
            name,
            help,
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (labels, v) in values {
            ConstGauge::new(v).encode(f.encode_family(&labels)?)?;
        }
        Ok(())
    };
    let label =
        |d: &crate::dto::MiningDevice| vec![("device", d.name.clone()), ("kind", d.kind.clone())];
    family(
        encoder,
        "device_hashrate_hashes_per_second",
        "Hashrate of each mining device",
        &mut devices.iter().map(|d| (label(d), d.hashrate)),
    )?;
    family(
        encoder,
        "device_temperature_celsius",
        "Hottest temperature reading of each mining device",
        &mut devices
            .iter()
            .filter_map(|d| d.temperature.map(|t| (label(d), f64::from(t)))),
    )?;
    family(
        encoder,
        "device_fan_rpm",
        "Fan speeds of each mining device",
        &mut devices.iter().flat_map(|d| {
            d.fans.iter().enumerate().map(move |(i, rpm)| {
                let mut l = label(d);
                l.push(("fan", i.to_string()));
                (l, f64::from(*rpm))
            })
        }),
    )?;
    family(
        encoder,
        "device_shares",
        "Shares of each mining device, by result",
        &mut devices.iter().flat_map(|d| {
            [
                ("accepted", d.accepted),
                ("rejected", d.rejected),
                ("hardware_error", d.hardware_errors),
            ]
            .into_iter()
            .map(move |(result, n)| {
                let mut l = label(d);
                l.push(("result", result.to_owned()));
                (l, n as f64)
            })
        }),
    )?;
    family(
        encoder,
        "device_up",
        "1 while a mining device hashes (throttled or not), 0 when it is unreachable, failed, or paused or cut off by its thermal limit",
        &mut devices.iter().map(|d| {
            let up = matches!(d.status.as_str(), "ok" | "throttled");
            (label(d), f64::from(u8::from(up)))
        }),
    )
}

/// Builds the registry (prefix `otedama_`): the node's values read at scrape time and the
/// parent RPC metrics.
pub fn registry(api: Arc<dyn NodeApi>, parent: &ParentRpcMetrics) -> Registry {
    registry_with(Registry::with_prefix("otedama"), api, parent)
}

/// Adds the node's values and the parent RPC metrics to `registry`, which may already
/// hold other metrics (the node's libp2p metrics, under `otedama_libp2p_`).
pub fn registry_with(
    mut registry: Registry,
    api: Arc<dyn NodeApi>,
    parent: &ParentRpcMetrics,
) -> Registry {
    registry.register(
        "parent_rpc_duration_seconds",
        "Duration of calls to the parent daemons (longpolls excepted)",
        parent.latency.clone(),
    );
    registry.register(
        "parent_rpc_errors",
        "Failed calls to the parent daemons",
        parent.errors.clone(),
    );
    registry.register_collector(Box::new(NodeCollector { api }));
    registry
}

/// Encodes `registry` in the OpenMetrics text format.
///
/// # Errors
/// Only if a metric fails to format (never for these types).
pub fn encode(registry: &Registry) -> Result<String, fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    match encode(&registry) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal(e).into_response(),
    }
}

/// Serves `registry` at `GET /metrics` on `address`.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve_metrics(
    address: SocketAddr,
    registry: Registry,
    limits: ConnLimits,
) -> io::Result<HttpServer> {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { crate::error::ApiError::not_found("see /metrics") })
        .with_state(Arc::new(registry));
    let server = HttpServer::bind(address, router, limits).await?;
    tracing::info!(target: "otedama::api", address = %server.local_addr(), "metrics listening");
    Ok(server)
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "alive"}))
}

async fn readyz(State(api): State<Arc<dyn NodeApi>>) -> Response {
    let readiness = api.readiness();
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness)).into_response()
}

/// Serves `GET /healthz` (200 while the process runs) and `GET /readyz` (200 when the
/// node can serve miners, else 503 with the reasons) on `address`.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve_health(
    address: SocketAddr,
    api: Arc<dyn NodeApi>,
    limits: ConnLimits,
) -> io::Result<HttpServer> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async { crate::error::ApiError::not_found("see /healthz and /readyz") })
        .with_state(api);
    let server = HttpServer::bind(address, router, limits).await?;
    tracing::info!(target: "otedama::api", address = %server.local_addr(), "health listening");
    Ok(server)
}
