//! A small HTTP/1.1 client for the node's outgoing requests: the CLI's calls to a running
//! node's API and the JSON-RPC calls to parent-chain daemons. It speaks plain `http://`
//! only, keeps idle connections for reuse, uses no proxy, and bounds both the time a
//! request may take and the size of the body it reads.

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Buf as _, Bytes, Incoming};
use hyper::{HeaderMap, Method, Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as StdError;
use std::time::Duration;
use tokio::time::Instant;

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL cannot be requested: not a valid URL, or not `http://`.
    #[error("cannot request {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection could be made to the server.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// No response came before the deadline.
    #[error("timed out")]
    Timeout,
    /// The connection failed while the request was sent or the response head read.
    #[error("request failed: {0}")]
    Request(String),
}

impl HttpError {
    /// Whether the server could not be reached at all.
    #[must_use]
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }

    /// Whether the deadline passed before the response head arrived.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }
}

/// An HTTP/1.1 client with a pool of keep-alive connections. Clones share the pool.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    /// A client that keeps at most `max_idle_per_host` idle connections to each server.
    #[must_use]
    pub fn new(max_idle_per_host: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(max_idle_per_host)
            .build(connector);
        Self { inner }
    }

    /// Sends `method` to `url` with `headers` and `body`, and returns the response once
    /// its head has arrived. The body is left to read, with [`read_body_by`] to keep the
    /// same deadline.
    ///
    /// # Errors
    /// [`HttpError::BadUrl`] for a URL that is not `http://host[:port]/...`,
    /// [`HttpError::Timeout`] when `deadline` passes first, and [`HttpError::Connect`] or
    /// [`HttpError::Request`] when the connection fails.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
        deadline: Instant,
    ) -> Result<Response<Incoming>, HttpError> {
        let uri = parse_url(url)?;
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        match tokio::time::timeout_at(deadline, self.inner.request(req)).await {
            Err(_) => Err(HttpError::Timeout),
            Ok(Err(e)) if e.is_connect() => Err(HttpError::Connect(error_chain(&e))),
            Ok(Err(e)) => Err(HttpError::Request(error_chain(&e))),
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

/// Parses `url` as an absolute `http://` URL.
fn parse_url(url: &str) -> Result<Uri, HttpError> {
    let bad = |reason: String| HttpError::BadUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|e| bad(format!("{e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(bad("https is not supported; use http://".to_owned())),
        Some(other) => return Err(bad(format!("unsupported scheme {other:?}; use http://"))),
        None => return Err(bad("expected http://host:port".to_owned())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host".to_owned()));
    }
    Ok(uri)
}

/// Formats `e` and its sources as one line, outermost first.
fn error_chain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Why a response body could not be read by [`read_body`].
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the limit (by its `Content-Length` or as it streamed in);
    /// reading stopped there.
    #[error("answer larger than the limit of {limit} bytes")]
    TooLarge {
        /// The most bytes accepted.
        limit: usize,
    },
    /// The connection failed, or the deadline passed, while the body was read.
    #[error("reading the answer: {0}")]
    Read(#[source] Box<dyn StdError + Send + Sync>),
}

/// Reads the body of `resp`, at most `limit` bytes, chunk by chunk as it arrives.
///
/// # Errors
/// [`BodyError::TooLarge`] as soon as the announced or received length passes `limit`,
/// and [`BodyError::Read`] when the connection fails.
pub async fn read_body<B>(resp: Response<B>, limit: usize) -> Result<Vec<u8>, BodyError>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    let mut stream = resp.into_body();
    if stream.size_hint().lower() > limit_u64 {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(frame) = stream.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.into()))?;
        let Ok(mut chunk) = frame.into_data() else {
            continue;
        };
        while chunk.has_remaining() {
            let part = chunk.chunk();
            if part.len() > limit - body.len() {
                return Err(BodyError::TooLarge { limit });
            }
            body.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(body)
}

/// [`read_body`], given up with [`BodyError::Read`] when `deadline` passes first.
///
/// # Errors
/// As [`read_body`], and [`BodyError::Read`] at the deadline.
pub async fn read_body_by<B>(
    resp: Response<B>,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    tokio::time::timeout_at(deadline, read_body(resp, limit))
        .await
        .unwrap_or_else(|_| {
            Err(BodyError::Read(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out",
            ))))
        })
}

/// The `Authorization` value of HTTP basic authentication for `user` and `password`.
#[must_use]
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// A one-connection HTTP server for the clients' tests.
#[cfg(test)]
pub(crate) mod test_server {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// What the server does once it has written the response head.
    pub(crate) enum After {
        /// Closes the connection.
        Close,
        /// Holds the connection open, writing nothing more.
        Stall,
        /// Writes chunks of a JSON-looking body until the client hangs up.
        EndlessBody,
    }

    /// Serves one connection on 127.0.0.1: reads the request, writes `head`, then does
    /// `after`. Returns the server's base URL, `http://127.0.0.1:PORT`.
    pub(crate) async fn serve_once(head: &'static str, after: After) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            match after {
                After::Close => {}
                After::Stall => tokio::time::sleep(Duration::from_secs(30)).await,
                After::EndlessBody => {
                    let chunk = format!("10000\r\n{}\r\n", "[".repeat(0x10000));
                    while stream.write_all(chunk.as_bytes()).await.is_ok() {}
                }
            }
        });
        format!("http://{addr}")
    }
}

#[cfg(test)]
mod tests {
    use super::test_server::{After, serve_once};
    use super::*;

    #[test]
    fn only_plain_http_urls_are_requested() {
        assert!(parse_url("http://127.0.0.1:9332/").is_ok());
        assert!(parse_url("http://localhost:9332").is_ok());
        let err = parse_url("https://example.com/").expect_err("https is refused");
        assert!(err.to_string().contains("https is not supported"), "{err}");
        assert!(matches!(
            parse_url("127.0.0.1:9332"),
            Err(HttpError::BadUrl { .. })
        ));
        assert!(matches!(
            parse_url("not a url"),
            Err(HttpError::BadUrl { .. })
        ));
    }

    #[test]
    fn basic_auth_encodes_user_and_password() {
        // RFC 7617's example.
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out_at_the_deadline() {
        let url = serve_once("", After::Stall).await;
        let started = Instant::now();
        let err = HttpClient::new(1)
            .request(
                Method::GET,
                &url,
                HeaderMap::new(),
                Bytes::new(),
                started + Duration::from_millis(300),
            )
            .await
            .expect_err("no answer");
        assert!(err.is_timeout(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_stalled_body_is_given_up_at_the_deadline() {
        let url = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst",
            After::Stall,
        )
        .await;
        let deadline = Instant::now() + Duration::from_millis(300);
        let resp = HttpClient::new(1)
            .request(Method::GET, &url, HeaderMap::new(), Bytes::new(), deadline)
            .await
            .expect("the head arrives");
        let err = read_body_by(resp, 1000, deadline)
            .await
            .expect_err("the body never ends");
        assert!(matches!(err, BodyError::Read(_)), "{err}");
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err = HttpClient::new(1)
            .request(
                Method::GET,
                &format!("http://{addr}/"),
                HeaderMap::new(),
                Bytes::new(),
                Instant::now() + Duration::from_secs(5),
            )
            .await
            .expect_err("nothing listens");
        assert!(err.is_connect(), "{err}");
    }
}
