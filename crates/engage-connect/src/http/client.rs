//! The client, its builder, requests and responses: the one retry loop ([`Request::send`]) and
//! the one place that classifies responses ([`HttpClient::classify`]).

use serde_json::error::Category;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use engage_config::Secret;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::auth::{Auth, TokenCache};
use super::ratelimit::Limiter;
use super::redact::Redactor;
use super::retry::{Backoff, retry_after, throttle_wait};
use crate::ConnectorError;

/// 429s tolerated for one request before giving up (they have their own budget: waiting for a
/// rate limit is normal, failing is not).
const MAX_THROTTLED: u32 = 20;

/// Reads the wait a vendor's 429 asks for from its body (a daily quota that says so only in its
/// error code); `None` leaves the decision to the headers and the backoff.
pub type ThrottleBody = Arc<dyn Fn(&[u8]) -> Option<Duration> + Send + Sync>;

/// Shared counters of one client and its clones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// HTTP requests sent (every attempt, token requests included).
    pub requests: u64,
    /// Attempts repeated after an error, a 429 or a rejected OAuth token.
    pub retries: u64,
    /// 429 responses received.
    pub throttled: u64,
    /// Requests that finally failed (returned an error).
    pub failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    failures: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The HTTP client of one connection: base URL, authentication, retries, rate limits, user
/// agent. Cheap to clone; clones share the rate limit, the token cache and the counters.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    connection: String,
    base_url: Url,
    http: reqwest::Client,
    auth: Auth,
    /// The precomputed header of the static schemes (Basic, Bearer, Header).
    auth_header: Option<(HeaderName, HeaderValue)>,
    token: TokenCache,
    redactor: Redactor,
    limiter: Limiter,
    slots: Option<Semaphore>,
    max_retries: u32,
    backoff: Backoff,
    max_wait: Duration,
    throttle_body: Option<ThrottleBody>,
    rng: Mutex<SmallRng>,
    stats: Counters,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("connection", &self.inner.connection)
            .field("base_url", &self.inner.redactor.url(&self.inner.base_url))
            .field("auth", &self.inner.auth.kind())
            .finish_non_exhaustive()
    }
}

/// Configures an [`HttpClient`].
pub struct HttpClientBuilder {
    connection: String,
    base_url: Option<Url>,
    auth: Auth,
    max_requests_per_minute: Option<u32>,
    timeout: Duration,
    max_retries: u32,
    backoff: Backoff,
    max_wait: Duration,
    max_concurrent: Option<usize>,
    headers: Vec<(String, String)>,
    advertised_window: Duration,
    throttle_body: Option<ThrottleBody>,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("connection", &self.connection)
            .field("auth", &self.auth.kind())
            .finish_non_exhaustive()
    }
}

impl HttpClientBuilder {
    /// The base URL that relative paths are joined to (keeping its path).
    pub fn base_url(mut self, url: &str) -> Result<Self, ConnectorError> {
        let parsed = Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                ConnectorError::needs_human(format!(
                    "connection `{}`: base_url is not an http(s) URL",
                    self.connection
                ))
            })?;
        self.base_url = Some(parsed);
        Ok(self)
    }

    /// How requests authenticate (default: none).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Spaces requests to at most this many per minute (`None` or 0: no configured limit; the
    /// limits vendors advertise in their headers are kept anyway).
    pub fn max_requests_per_minute(mut self, limit: Option<u32>) -> Self {
        self.max_requests_per_minute = limit;
        self
    }

    /// Timeout of one attempt, from sending to the end of the body (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries after errors (5xx, timeouts, resets, unreadable bodies) before failing
    /// (default 8). 429s have their own budget of 20.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Exponential backoff with full jitter between `base` and `max` (default 500 ms .. 60 s).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff = Backoff { base, max: max.max(base) };
        self
    }

    /// The longest wait the client does itself (default 15 min); a server asking for more gets
    /// an error of class `Retry` with `retry_after`, so that the scheduler pauses the stream.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// At most this many requests in flight at once (e.g. Mailchimp's 10 connections).
    pub fn max_concurrent(mut self, limit: Option<usize>) -> Self {
        self.max_concurrent = limit;
        self
    }

    /// The window a vendor's bare `*-Limit` header counts over (default one minute). Intercom
    /// advertises `X-RateLimit-Limit` per 10-second window: reading it as per minute would pace
    /// six times slower than allowed.
    pub fn advertised_limit_window(mut self, window: Duration) -> Self {
        if !window.is_zero() {
            self.advertised_window = window;
        }
        self
    }

    /// Lets the vendor's 429 body say how long to wait (checked before the headers): Yelp's
    /// daily quota is only told apart from its per-second limit by the error code. A wait
    /// longer than `max_wait` becomes an error of class `Retry` with `retry_after`.
    pub fn throttle_body(mut self, read: impl Fn(&[u8]) -> Option<Duration> + Send + Sync + 'static) -> Self {
        self.throttle_body = Some(Arc::new(read));
        self
    }

    /// A header sent with every request (`Accept`, an API revision...). Not for secrets: use
    /// [`Auth::Header`].
    pub fn default_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<HttpClient, ConnectorError> {
        let name = &self.connection;
        let invalid = |what: String| ConnectorError::needs_human(format!("connection `{name}`: {what}"));
        let base_url = self.base_url.ok_or_else(|| invalid("no base_url".into()))?;
        let mut headers = HeaderMap::new();
        for (key, value) in &self.headers {
            let key = HeaderName::from_bytes(key.as_bytes())
                .map_err(|_| invalid(format!("bad header name `{key}`")))?;
            let value =
                HeaderValue::from_str(value).map_err(|_| invalid(format!("bad value for header `{key}`")))?;
            headers.insert(key, value);
        }
        let auth_header = static_auth_header(&self.auth).map_err(invalid)?;
        if let Auth::OAuth2ClientCredentials { token_url, .. } = &self.auth {
            Url::parse(token_url)
                .map_err(|_| invalid("the OAuth2 token_url is not an absolute URL".into()))?;
        }
        let http = reqwest::Client::builder()
            .user_agent(user_agent(name))
            .default_headers(headers)
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        let secrets = self.auth.secrets();
        let redactor = Redactor::new(secrets.iter().map(String::as_str), self.auth.query_param());
        Ok(HttpClient {
            inner: Arc::new(Inner {
                connection: self.connection,
                base_url,
                http,
                auth: self.auth,
                auth_header,
                token: TokenCache::default(),
                redactor,
                limiter: Limiter::new(self.max_requests_per_minute, self.advertised_window),
                slots: self.max_concurrent.map(|n| Semaphore::new(n.max(1))),
                max_retries: self.max_retries,
                backoff: self.backoff,
                max_wait: self.max_wait,
                throttle_body: self.throttle_body,
                rng: Mutex::new(SmallRng::from_os_rng()),
                stats: Counters::default(),
            }),
        })
    }
}

/// `engage/<version> (connection <name>)`, in printable ASCII.
fn user_agent(connection: &str) -> String {
    let name: String =
        connection.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    format!("engage/{} (connection {name})", env!("CARGO_PKG_VERSION"))
}

/// The header of the schemes whose credential does not change.
fn static_auth_header(auth: &Auth) -> Result<Option<(HeaderName, HeaderValue)>, String> {
    let (name, value) = match auth {
        Auth::Basic { username, password } => {
            use base64::Engine as _;
            let pair = format!("{username}:{}", password.expose());
            (AUTHORIZATION, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
        }
        Auth::Bearer(token) => (AUTHORIZATION, format!("Bearer {}", token.expose())),
        Auth::Header { name, value } => {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("bad auth header name `{name}`"))?;
            (name, value.expose().to_owned())
        }
        _ => return Ok(None),
    };
    Ok(Some((name, sensitive(&value).ok_or("the credential is not a valid header value")?)))
}

/// A header value marked sensitive (kept out of reqwest's and hyper's debug output).
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl HttpClient {
    /// A builder for the client of connection `connection` (used in the user agent and logs).
    pub fn builder(connection: &str) -> HttpClientBuilder {
        HttpClientBuilder {
            connection: connection.to_owned(),
            base_url: None,
            auth: Auth::None,
            max_requests_per_minute: None,
            timeout: Duration::from_secs(60),
            max_retries: 8,
            backoff: Backoff { base: Duration::from_millis(500), max: Duration::from_secs(60) },
            max_wait: Duration::from_secs(15 * 60),
            max_concurrent: None,
            headers: Vec::new(),
            advertised_window: Duration::from_secs(60),
            throttle_body: None,
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// A GET of `path_or_url`: a path joined to the base URL (keeping the base's path), or an
    /// absolute http(s) URL such as a next-page link.
    pub fn get(&self, path_or_url: &str) -> Request {
        self.request(Method::GET, path_or_url)
    }

    /// A POST of `path_or_url` (see [`HttpClient::get`]).
    pub fn post(&self, path_or_url: &str) -> Request {
        self.request(Method::POST, path_or_url)
    }

    /// A snapshot of the counters shared by this client and its clones.
    pub fn stats(&self) -> HttpStats {
        let s = &self.inner.stats;
        HttpStats {
            requests: s.requests.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            throttled: s.throttled.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
        }
    }

    fn request(&self, method: Method, path_or_url: &str) -> Request {
        let (url, invalid) = match self.resolve(path_or_url) {
            Some(url) => (url, None),
            None => (
                self.inner.base_url.clone(),
                Some(format!("invalid URL `{}`", self.inner.redactor.redact(path_or_url))),
            ),
        };
        Request {
            client: self.clone(),
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            authenticate: true,
            invalid,
        }
    }

    fn resolve(&self, path_or_url: &str) -> Option<Url> {
        let scheme = path_or_url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if matches!(scheme.as_deref(), Some("http" | "https")) {
            return Url::parse(path_or_url).ok();
        }
        let base = &self.inner.base_url;
        if path_or_url.is_empty() {
            return Some(base.clone());
        }
        let mut root = base.clone();
        root.set_query(None);
        root.set_fragment(None);
        let joined =
            format!("{}/{}", root.as_str().trim_end_matches('/'), path_or_url.trim_start_matches('/'));
        let mut url = Url::parse(&joined).ok()?;
        if let Some(base_query) = base.query().filter(|q| !q.is_empty()) {
            let query = match url.query().filter(|q| !q.is_empty()) {
                Some(own) => format!("{base_query}&{own}"),
                None => base_query.to_owned(),
            };
            url.set_query(Some(&query));
        }
        Some(url)
    }

    pub(crate) fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    pub(crate) fn token_cache(&self) -> &TokenCache {
        &self.inner.token
    }

    pub(crate) fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// Removes the credential's query parameter (so that a URL can be stored or shown).
    pub(crate) fn strip_auth_param(&self, url: &mut Url) {
        if let Some(name) = self.inner.auth.query_param() {
            remove_param(url, name);
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let mut rng = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.backoff.delay(attempt, &mut *rng)
    }

    /// The one place that decides what a response (or a failure to get one) means.
    fn classify(
        &self,
        fetched: Result<Raw, reqwest::Error>,
        check: Option<&mut BodyCheck<'_>>,
        target: &str,
        reauth: bool,
    ) -> Outcome {
        let raw = match fetched {
            Ok(raw) => raw,
            Err(error) => {
                return Outcome::Transient { cause: self.describe(error), status: None, wait: None };
            }
        };
        let code = raw.status.as_u16();
        let status = match raw.status.canonical_reason() {
            Some(reason) => format!("HTTP {code} {reason}"),
            None => format!("HTTP {code}"),
        };
        match code {
            200..=299 => {
                if let Some(Err(cause)) = check.map(|check| check(&raw.body)) {
                    return Outcome::Transient { cause, status: Some(code), wait: None };
                }
                Outcome::Done(Box::new(self.response(raw)))
            }
            429 => Outcome::Throttled {
                wait: (self.inner.throttle_body.as_ref().and_then(|read| read(&raw.body)))
                    .or_else(|| throttle_wait(&raw.headers, SystemTime::now())),
            },
            401 if reauth => Outcome::Reauthorize,
            408 | 500..=599 => Outcome::Transient {
                cause: status,
                status: Some(code),
                wait: retry_after(&raw.headers, SystemTime::now()),
            },
            _ => {
                let hint = match code {
                    401 => ": check the connection's credentials",
                    403 => ": check the connection's credentials and their permissions",
                    404 => ": check base_url",
                    _ => "",
                };
                let mut message = format!("{status} from {target}{hint}");
                let excerpt = self.inner.redactor.excerpt(&raw.body);
                if !excerpt.is_empty() {
                    message.push_str(&format!(" (response: {excerpt})"));
                }
                Outcome::Fail(ConnectorError::needs_human(message).with_status(code))
            }
        }
    }

    /// A transport error, with its causes, without URL or secret.
    fn describe(&self, error: reqwest::Error) -> String {
        let error = error.without_url();
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "could not connect"
        } else if error.is_body() || error.is_decode() {
            "the response body could not be read"
        } else {
            "the request failed"
        };
        let mut parts = vec![kind.to_owned()];
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !parts.contains(&text) {
                parts.push(text);
            }
            source = cause.source();
        }
        self.inner.redactor.redact(&parts.join(": "))
    }

    fn response(&self, raw: Raw) -> Response {
        let mut url = raw.url;
        self.strip_auth_param(&mut url);
        Response { status: raw.status.as_u16(), headers: raw.headers, body: raw.body, url }
    }
}

/// Removes every `name=` pair from a URL's query.
pub(crate) fn remove_param(url: &mut Url, name: &str) {
    if !url.query_pairs().any(|(k, _)| k == name) {
        return;
    }
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
}

/// What one attempt came to.
enum Outcome {
    /// Success (and the parsed body, when JSON was asked for).
    Done(Box<Response>),
    /// A final error.
    Fail(ConnectorError),
    /// 5xx, timeout, reset, unreadable or truncated body: try again after `wait` or a backoff.
    Transient { cause: String, status: Option<u16>, wait: Option<Duration> },
    /// 429: wait what the server says, or a backoff.
    Throttled { wait: Option<Duration> },
    /// 401 with an OAuth2 token: get a new token and try once more.
    Reauthorize,
}

/// The most a response's `Content-Length` may reserve up front (64 MiB).
const PREALLOCATE_LIMIT: u64 = 64 << 20;

/// A response read to the end.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    url: Url,
    body: Vec<u8>,
}

async fn fetch(http: &reqwest::Client, request: reqwest::Request) -> Result<Raw, reqwest::Error> {
    let mut response = http.execute(request).await?;
    let (status, headers, url) = (response.status(), response.headers().clone(), response.url().clone());
    // One copy into a buffer sized from Content-Length (capped: the header is the server's
    // word), instead of collecting the chunks and copying them twice.
    let expected = response.content_length().unwrap_or(0).min(PREALLOCATE_LIMIT) as usize;
    let mut body = Vec::with_capacity(expected);
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(Raw { status, headers, url, body })
}

#[derive(Debug)]
enum Body {
    Empty,
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
}

/// A request being built; [`Request::send`] sends it with retries and rate limits.
pub struct Request {
    client: HttpClient,
    method: Method,
    url: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Body,
    authenticate: bool,
    /// Why the request cannot be sent (bad URL or header), reported by `send`.
    invalid: Option<String>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.client.inner.redactor.url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Appends query parameters.
    pub fn query(self, pairs: &[(&str, &str)]) -> Self {
        self.query_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    /// Appends query parameters (owned).
    pub fn query_pairs(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut pairs = pairs.into_iter().peekable();
        if pairs.peek().is_some() {
            self.url.query_pairs_mut().extend_pairs(pairs);
        }
        self
    }

    /// Sets a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(name), Ok(value)) => self.headers.push((name, value)),
            _ => self.invalid = self.invalid.or_else(|| Some(format!("invalid header `{name}`"))),
        }
        self
    }

    /// A JSON body.
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Body::Json(body.clone());
        self
    }

    /// A form body (`application/x-www-form-urlencoded`).
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        self.body = Body::Form(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        self
    }

    /// Sends without the client's credentials (the OAuth2 token request).
    pub(crate) fn without_auth(mut self) -> Self {
        self.authenticate = false;
        self
    }

    /// Sends the request: retries transient failures with backoff, waits out 429s and rate
    /// limits, classifies errors. A 2xx is `Ok`; anything else is an error.
    pub async fn send(self) -> Result<Response, ConnectorError> {
        self.run(None).await
    }

    /// Like [`Request::send`], and parses the body as JSON; a body that does not parse
    /// (truncated) is retried like a transient failure. An empty 204 is `null`.
    pub async fn send_json(self) -> Result<(Response, serde_json::Value), ConnectorError> {
        self.send_parsed().await
    }

    /// Like [`Request::send_json`], parsing straight into `T` (no intermediate JSON tree): a
    /// body that is not valid JSON is retried; valid JSON of the wrong shape is an error that
    /// needs a human. An empty 204 parses as JSON `null`.
    pub async fn send_parsed<T: serde::de::DeserializeOwned + Send>(
        self,
    ) -> Result<(Response, T), ConnectorError> {
        let mut parsed: Option<Result<T, serde_json::Error>> = None;
        let mut check = |body: &[u8]| {
            let blank = body.iter().all(u8::is_ascii_whitespace);
            let result = serde_json::from_slice::<T>(if blank { b"null" } else { body });
            match result {
                // Cut or garbled: a transport problem, retried.
                Err(e) if !blank && matches!(e.classify(), Category::Syntax | Category::Eof) => {
                    Err(format!("the response body is not valid JSON ({e})"))
                }
                other => {
                    parsed = Some(other);
                    Ok(())
                }
            }
        };
        let response = self.run(Some(&mut check)).await?;
        match parsed {
            Some(Ok(value)) => Ok((response, value)),
            Some(Err(e)) => {
                Err(ConnectorError::needs_human(format!("the response body has an unexpected shape: {e}"))
                    .with_status(response.status))
            }
            None => Err(ConnectorError::retry("the response body was not read")),
        }
    }

    async fn run(self, mut check: Option<&mut BodyCheck<'_>>) -> Result<Response, ConnectorError> {
        let client = &self.client;
        let inner = &*client.inner;
        let target = format!("{} {}", self.method, inner.redactor.path(&self.url));
        let result = match &self.invalid {
            Some(why) => Err(ConnectorError::needs_human(format!("{target}: {why}"))),
            None => self.attempts(&mut check, &target).await,
        };
        if let Err(error) = &result {
            Counters::add(&inner.stats.failures);
            tracing::debug!(connection = %inner.connection, request = %target, error = %error, "http request failed");
        }
        result
    }

    /// The one retry loop.
    async fn attempts(
        &self,
        check: &mut Option<&mut BodyCheck<'_>>,
        target: &str,
    ) -> Result<Response, ConnectorError> {
        let client = &self.client;
        let inner = &*client.inner;
        let authenticate = self.authenticate && self.url.origin() == inner.base_url.origin();
        let oauth = authenticate && matches!(inner.auth, Auth::OAuth2ClientCredentials { .. });
        let too_long = |wait: Duration, status: Option<u16>| {
            let mut error = ConnectorError::retry(format!(
                "{target}: the server asks to wait {} s, more than max_wait ({} s)",
                wait.as_secs_f64().ceil(),
                inner.max_wait.as_secs()
            ));
            error.status = status;
            error.retry_after = Some(wait);
            error
        };
        let (mut errors, mut throttles) = (0u32, 0u32);
        let (mut rejected, mut reauthorized): (Option<Secret>, bool) = (None, false);
        loop {
            inner.limiter.acquire(inner.max_wait).await.map_err(|wait| too_long(wait, None))?;
            let token = match oauth {
                true => Some(client.access_token(rejected.take().as_ref()).await?),
                false => None,
            };
            let request = self.build(authenticate, token.as_ref(), target)?;
            let permit = match &inner.slots {
                Some(slots) => slots.acquire().await.ok(),
                None => None,
            };
            Counters::add(&inner.stats.requests);
            let started = Instant::now();
            let fetched = fetch(&inner.http, request).await;
            drop(permit);
            let status = fetched.as_ref().map(|raw| raw.status.as_u16()).ok();
            tracing::debug!(
                connection = %inner.connection,
                request = %target,
                status,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "http request"
            );
            if let Ok(raw) = &fetched {
                inner.limiter.observe(&raw.headers, SystemTime::now());
            }
            let (wait, cause) = match client.classify(
                fetched,
                check.as_deref_mut(),
                target,
                oauth && !reauthorized,
            ) {
                Outcome::Done(response) => return Ok(*response),
                Outcome::Fail(error) => return Err(error),
                Outcome::Reauthorize => {
                    (reauthorized, rejected) = (true, token);
                    Counters::add(&inner.stats.retries);
                    tracing::warn!(connection = %inner.connection, request = %target, "401 with the OAuth2 token: refreshing it");
                    continue;
                }
                Outcome::Throttled { wait } => {
                    Counters::add(&inner.stats.throttled);
                    throttles += 1;
                    if throttles > MAX_THROTTLED {
                        let message =
                            format!("{target} is still rate limited (HTTP 429) after {throttles} attempts");
                        return Err(ConnectorError::retry(message).with_status(429));
                    }
                    // At least the backoff base: "Retry-After: 0" or a reset in the past must
                    // not turn into a burst of requests.
                    let wait = wait.unwrap_or_else(|| client.backoff(throttles - 1)).max(inner.backoff.base);
                    if wait > inner.max_wait {
                        return Err(too_long(wait, Some(429)));
                    }
                    // Every task of this client waits, not just this one.
                    inner.limiter.block_for(wait);
                    (wait, "HTTP 429 Too Many Requests".to_owned())
                }
                Outcome::Transient { cause, status, wait } => {
                    errors += 1;
                    if errors > inner.max_retries {
                        let mut error = ConnectorError::retry(format!(
                            "{target} failed after {errors} attempts: {cause}"
                        ));
                        error.status = status;
                        return Err(error);
                    }
                    let wait = wait.unwrap_or_else(|| client.backoff(errors - 1));
                    if wait > inner.max_wait {
                        return Err(too_long(wait, status));
                    }
                    (wait, cause)
                }
            };
            Counters::add(&inner.stats.retries);
            tracing::warn!(
                connection = %inner.connection,
                request = %target,
                errors,
                throttles,
                wait_ms = wait.as_millis() as u64,
                "retrying: {cause}"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// The reqwest request of one attempt, with the credentials when they apply.
    fn build(
        &self,
        authenticate: bool,
        token: Option<&Secret>,
        target: &str,
    ) -> Result<reqwest::Request, ConnectorError> {
        let inner = &*self.client.inner;
        let mut url = self.url.clone();
        let mut headers = HeaderMap::new();
        if authenticate {
            if let Auth::Query { name, value } = &inner.auth {
                remove_param(&mut url, name);
                url.query_pairs_mut().append_pair(name, value.expose());
            }
            if let Some((name, value)) = &inner.auth_header {
                headers.insert(name.clone(), value.clone());
            }
            if let Some(token) = token {
                let value = sensitive(&format!("Bearer {}", token.expose())).ok_or_else(|| {
                    ConnectorError::needs_human(format!("{target}: the OAuth2 token is not a valid header"))
                })?;
                headers.insert(AUTHORIZATION, value);
            }
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        let builder = inner.http.request(self.method.clone(), url).headers(headers);
        let builder = match &self.body {
            Body::Empty => builder,
            Body::Json(value) => builder.json(value),
            Body::Form(pairs) => builder.form(pairs),
        };
        builder.build().map_err(|e| {
            ConnectorError::needs_human(format!(
                "{target}: cannot build the request: {}",
                self.client.describe(e)
            ))
        })
    }
}

/// A successful response, read to the end.
#[derive(Clone)]
pub struct Response {
    /// HTTP status (2xx).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The final URL (after redirects), without the credential's query parameter.
    pub url: Url,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url.as_str())
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body deserialised: a syntax error (truncated body) is `Retry`, a shape that does not
    /// fit `T` is `NeedsHuman`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let message = format!("unexpected response body from {}: {e}", self.url.path());
            let error = match e.classify() {
                serde_json::error::Category::Data => ConnectorError::needs_human(message),
                _ => ConnectorError::retry(message),
            };
            error.with_status(self.status)
        })
    }

    /// Header `name`, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The server's clock when it answered, from the `Date` header.
    pub fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc2822(self.header("date")?).ok().map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// Checks (and keeps) a 2xx body; an `Err` makes the response a transient failure, retried.
type BodyCheck<'a> = dyn FnMut(&[u8]) -> Result<(), String> + Send + 'a;
