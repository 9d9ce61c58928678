//! The IMDSv2 client: a token from `PUT /latest/api/token` with a TTL, reused on every GET
//! and renewed shortly before it expires; on a 401 the token is dropped and the GET retried
//! once with a fresh one (NTH's fix for stale tokens); every request has a timeout. A 404 is
//! an answer ([`Answer::NotFound`]), not an error: the poller decides what it means per path.
//! HTTP/1 over plain TCP (IMDS has no TLS), through hyper's pooled client.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use spotter_interruption::imds::{
    MAX_TOKEN_TTL_SECONDS, TOKEN_HEADER, TOKEN_PATH, TOKEN_TTL_HEADER,
};

/// IMDS's address on EC2.
pub const DEFAULT_BASE_URL: &str = "http://169.254.169.254";
/// The largest answer read; IMDS answers are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How the client talks to IMDS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// `http://host:port`, no trailing slash.
    pub base_url: String,
    /// The TTL asked for each token (NTH: 3600 s).
    pub token_ttl: Duration,
    /// Renew the token when this little of its life remains (NTH: 15 s).
    pub token_refresh_margin: Duration,
    /// The timeout of one HTTP request, connection and body included (NTH: 2 s).
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token_ttl: Duration::from_secs(3600),
            token_refresh_margin: Duration::from_secs(15),
            request_timeout: Duration::from_secs(2),
        }
    }
}

/// What IMDS answered to a GET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 2xx, with the body.
    Found(String),
    /// 404: the item is not there.
    NotFound,
}

/// Why a request to IMDS failed.
#[derive(Debug, thiserror::Error)]
pub enum ImdsClientError {
    /// The configuration cannot be used.
    #[error("failed to use the IMDS configuration: {0}")]
    Config(String),
    /// The request got no answer in time.
    #[error("failed to get {path} from IMDS within {timeout:?}")]
    Timeout {
        /// The path asked.
        path: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The connection failed (refused, reset, ...).
    #[error("failed to reach IMDS for {path}: {reason}")]
    Transport {
        /// The path asked.
        path: String,
        /// What failed.
        reason: String,
    },
    /// IMDS refused the token PUT.
    #[error(
        "failed to get an IMDSv2 token: IMDS answered {status} (400: bad TTL; 403: IMDS is turned off or the hop limit is too low for this pod)"
    )]
    TokenRefused {
        /// The status.
        status: StatusCode,
    },
    /// A GET was refused with 401 twice, with a fresh token the second time.
    #[error("failed to get {path} from IMDS: 401 even with a fresh token")]
    Unauthorized {
        /// The path asked.
        path: String,
    },
    /// Another non-2xx status.
    #[error("failed to get {path} from IMDS: it answered {status}")]
    Status {
        /// The path asked.
        path: String,
        /// The status.
        status: StatusCode,
    },
    /// The answer is too large or not UTF-8.
    #[error("failed to read the answer of IMDS for {path}: {reason}")]
    Body {
        /// The path asked.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The IMDSv2 client, holding its token.
#[derive(Debug)]
pub struct ImdsClient {
    config: ClientConfig,
    http: Client<HttpConnector, Empty<Bytes>>,
    token: Option<Token>,
    tokens_fetched: u64,
    unauthorized_retries: u64,
}

#[derive(Clone, Debug)]
struct Token {
    value: String,
    expires_at: Instant,
}

impl ImdsClient {
    /// A client for `config`; no request is made until the first GET.
    pub fn new(config: ClientConfig) -> Result<ImdsClient, ImdsClientError> {
        let ttl = config.token_ttl.as_secs();
        if ttl < 1 || ttl > u64::from(MAX_TOKEN_TTL_SECONDS) {
            return Err(ImdsClientError::Config(format!(
                "the token TTL must be 1..={MAX_TOKEN_TTL_SECONDS} s, not {ttl} s"
            )));
        }
        if config.token_refresh_margin >= config.token_ttl {
            return Err(ImdsClientError::Config(
                "the token refresh margin must be shorter than the token TTL".to_owned(),
            ));
        }
        if config.request_timeout.is_zero() {
            return Err(ImdsClientError::Config(
                "the IMDS request timeout must be longer than zero".to_owned(),
            ));
        }
        if !config.base_url.starts_with("http://") {
            return Err(ImdsClientError::Config(format!(
                "the IMDS base URL must start with http://, not {:?}",
                config.base_url
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.request_timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(ImdsClient {
            config: ClientConfig {
                base_url: config.base_url.trim_end_matches('/').to_owned(),
                ..config
            },
            http,
            token: None,
            tokens_fetched: 0,
            unauthorized_retries: 0,
        })
    }

    /// GETs `path` (`/latest/meta-data/...`) with a valid token.
    pub async fn get(&mut self, path: &str) -> Result<Answer, ImdsClientError> {
        let token = self.valid_token().await?;
        match self.get_with(path, &token).await? {
            Some(answer) => Ok(answer),
            None => {
                // 401: the token is stale (IMDS restarted, clock jump); once more with a new one.
                self.token = None;
                self.unauthorized_retries += 1;
                tracing::debug!(path, "IMDS answered 401, retrying with a fresh token");
                let token = self.valid_token().await?;
                match self.get_with(path, &token).await? {
                    Some(answer) => Ok(answer),
                    None => {
                        self.token = None;
                        Err(ImdsClientError::Unauthorized {
                            path: path.to_owned(),
                        })
                    }
                }
            }
        }
    }

    /// How many tokens the client has fetched.
    pub fn tokens_fetched(&self) -> u64 {
        self.tokens_fetched
    }

    /// How many GETs were retried after a 401.
    pub fn unauthorized_retries(&self) -> u64 {
        self.unauthorized_retries
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    async fn valid_token(&mut self) -> Result<String, ImdsClientError> {
        if let Some(token) = &self.token
            && token.expires_at > Instant::now() + self.config.token_refresh_margin
        {
            return Ok(token.value.clone());
        }
        self.token = None;
        let asked_at = Instant::now();
        let request = Request::builder()
            .method(Method::PUT)
            .uri(format!("{}{TOKEN_PATH}", self.config.base_url))
            .header(
                TOKEN_TTL_HEADER,
                self.config.token_ttl.as_secs().to_string(),
            )
            .body(Empty::new())
            .map_err(|error| ImdsClientError::Config(error.to_string()))?;
        let (status, body) = self.send(TOKEN_PATH, request).await?;
        if !status.is_success() {
            return Err(ImdsClientError::TokenRefused { status });
        }
        let value = body.trim().to_owned();
        if value.is_empty() {
            return Err(ImdsClientError::Body {
                path: TOKEN_PATH.to_owned(),
                reason: "the token is empty".to_owned(),
            });
        }
        self.tokens_fetched += 1;
        // The TTL runs from when IMDS issued the token, at the latest when it was asked for.
        self.token = Some(Token {
            value: value.clone(),
            expires_at: asked_at + self.config.token_ttl,
        });
        Ok(value)
    }

    /// `None` on 401.
    async fn get_with(&self, path: &str, token: &str) -> Result<Option<Answer>, ImdsClientError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path}", self.config.base_url))
            .header(TOKEN_HEADER, token)
            .body(Empty::new())
            .map_err(|error| ImdsClientError::Config(error.to_string()))?;
        let (status, body) = self.send(path, request).await?;
        match status {
            StatusCode::UNAUTHORIZED => Ok(None),
            StatusCode::NOT_FOUND => Ok(Some(Answer::NotFound)),
            status if status.is_success() => Ok(Some(Answer::Found(body))),
            status => Err(ImdsClientError::Status {
                path: path.to_owned(),
                status,
            }),
        }
    }

    async fn send(
        &self,
        path: &str,
        request: Request<Empty<Bytes>>,
    ) -> Result<(StatusCode, String), ImdsClientError> {
        let exchange =
            async {
                let response = self.http.request(request).await.map_err(|error| {
                    ImdsClientError::Transport {
                        path: path.to_owned(),
                        reason: error_chain(&error),
                    }
                })?;
                let status = response.status();
                let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                    .collect()
                    .await
                    .map_err(|error| ImdsClientError::Body {
                        path: path.to_owned(),
                        reason: error.to_string(),
                    })?
                    .to_bytes();
                let body = String::from_utf8(body.to_vec()).map_err(|_| ImdsClientError::Body {
                    path: path.to_owned(),
                    reason: "the answer is not UTF-8".to_owned(),
                })?;
                Ok((status, body))
            };
        tokio::time::timeout(self.config.request_timeout, exchange)
            .await
            .map_err(|_| ImdsClientError::Timeout {
                path: path.to_owned(),
                timeout: self.config.request_timeout,
            })?
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
