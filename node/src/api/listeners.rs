//! The listener lifecycle: binding and serving the API, metrics and health endpoints a
//! config asks for, and stopping them.

use super::NodeApiAdapter;
use crate::config::Config;
use crate::service::Node;
use otedama_rpc::{ApiServer, ApiSettings, AuditLog, HttpServer, NodeApi, TokenStore};
use std::net::SocketAddr;
use std::sync::Arc;

/// Which listeners to run, and where.
#[derive(Clone, Debug, Default)]
pub struct ServiceSet {
    /// The REST API and dashboard.
    pub api: Option<SocketAddr>,
    /// Prometheus metrics.
    pub metrics: Option<SocketAddr>,
    /// Health checks.
    pub health: Option<SocketAddr>,
}

impl ServiceSet {
    /// The listeners `config` enables.
    pub fn from_config(config: &Config) -> Self {
        let m = &config.monitoring;
        Self {
            api: config.api.enable.then_some(config.api.address),
            metrics: m.metrics.enabled.then_some(m.metrics.address),
            health: m.health.enabled.then_some(m.health.address),
        }
    }
}

/// What the metrics listener exports besides the API's values.
#[derive(Debug, Default)]
pub struct MetricSources {
    /// A registry already holding the node's own metrics (libp2p's), if any.
    pub base: Option<prometheus_client::registry::Registry>,
    /// The parent daemons' RPC latency and errors.
    pub parent: otedama_rpc::ParentRpcMetrics,
}

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("{what} listener {address}: {source}")]
pub struct ServiceError {
    /// Which listener.
    pub what: &'static str,
    /// Its address.
    pub address: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// The running API, metrics and health listeners.
#[derive(Debug, Default)]
pub struct Services {
    api: Option<ApiServer>,
    metrics: Option<HttpServer>,
    health: Option<HttpServer>,
}

impl Services {
    /// Starts the listeners of `set` for `node`, with tokens, audit log and CORS from
    /// `config`. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// A listener that cannot bind.
    pub async fn start(
        node: &Node,
        config: &Config,
        set: &ServiceSet,
    ) -> Result<Self, ServiceError> {
        let handle = node.handle();
        let adapter: Arc<dyn NodeApi> = NodeApiAdapter::new(handle.clone());
        let metrics = MetricSources {
            base: handle.take_metrics_registry(),
            parent: handle.parent_metrics().clone(),
        };
        Self::start_with(adapter, metrics, config, set).await
    }

    /// Starts the listeners of `set` over any node behind `adapter` (a Bitcoin-family
    /// node, a Monero sidechain node), with its metric sources.
    ///
    /// # Errors
    /// A listener that cannot bind.
    pub async fn start_with(
        adapter: Arc<dyn NodeApi>,
        metrics: MetricSources,
        config: &Config,
        set: &ServiceSet,
    ) -> Result<Self, ServiceError> {
        let mut services = Services::default();
        if let Some(address) = set.api {
            let data_dir = &config.app.data_dir;
            let tokens = config
                .api
                .auth
                .enabled
                .then(|| TokenStore::in_dir(data_dir));
            let mut settings =
                ApiSettings::new(address, tokens, Arc::new(AuditLog::in_dir(data_dir)));
            settings.cors_origins = config.api.cors_origins.clone();
            settings.connections = config.api.limits.to_conn_limits();
            settings.ws_clients_per_ip = config.api.websocket_clients_per_ip as usize;
            services.api = Some(
                ApiServer::start(settings, Arc::clone(&adapter))
                    .await
                    .map_err(|source| ServiceError {
                        what: "api",
                        address,
                        source,
                    })?,
            );
        }
        if let Some(address) = set.metrics {
            let registry = match metrics.base {
                Some(base) => {
                    otedama_rpc::registry_with(base, Arc::clone(&adapter), &metrics.parent)
                }
                None => otedama_rpc::registry(Arc::clone(&adapter), &metrics.parent),
            };
            services.metrics = Some(
                otedama_rpc::serve_metrics(
                    address,
                    registry,
                    config.monitoring.metrics.limits.to_conn_limits(),
                )
                .await
                .map_err(|source| ServiceError {
                    what: "metrics",
                    address,
                    source,
                })?,
            );
        }
        if let Some(address) = set.health {
            services.health = Some(
                otedama_rpc::serve_health(
                    address,
                    Arc::clone(&adapter),
                    config.monitoring.health.limits.to_conn_limits(),
                )
                .await
                .map_err(|source| ServiceError {
                    what: "health",
                    address,
                    source,
                })?,
            );
        }
        Ok(services)
    }

    /// Returns the API's bound address.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api.as_ref().map(ApiServer::local_addr)
    }

    /// Returns the metrics listener's bound address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(HttpServer::local_addr)
    }

    /// Returns the health listener's bound address.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health.as_ref().map(HttpServer::local_addr)
    }

    /// Stops every listener.
    pub async fn stop(self) {
        if let Some(s) = self.api {
            s.stop().await;
        }
        if let Some(s) = self.metrics {
            s.stop().await;
        }
        if let Some(s) = self.health {
            s.stop().await;
        }
    }
}
