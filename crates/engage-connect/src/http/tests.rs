//! The toolkit against real HTTP servers on 127.0.0.1 (axum, or raw TCP for broken responses).
//! Tests that wait run on a paused clock: sleeps advance virtual time only.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response as Reply;
use axum::routing::{any, get, post};
use engage_config::Secret;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::*;
use crate::ErrorClass;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

fn reply(status: u16, headers: &[(&str, String)], body: impl Into<String>) -> Reply {
    let mut builder = axum::http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(Body::from(body.into())).unwrap()
}

/// One scripted answer: status, headers, body.
type Scripted = (u16, Vec<(&'static str, String)>, &'static str);

/// A server answering every path with `script[n]` on the n-th request (the last one repeats).
async fn scripted(script: Vec<Scripted>) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let script = Arc::new(script);
    let handler = move || {
        let n = counter.fetch_add(1, SeqCst);
        let (status, headers, body) = script[n.min(script.len() - 1)].clone();
        async move { reply(status, &headers, body) }
    };
    (serve(Router::new().fallback(any(handler))).await, calls)
}

/// A raw TCP server: `None` closes the connection without an answer, `Some` writes raw bytes.
async fn raw_server(script: Vec<Option<&'static str>>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = script[counter.fetch_add(1, SeqCst).min(script.len() - 1)];
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if let Some(answer) = answer {
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
            });
        }
    });
    (base, calls)
}

fn builder(base: &str) -> HttpClientBuilder {
    HttpClient::builder("test").base_url(base).unwrap().backoff(ms(10), ms(100))
}

fn http(base: &str) -> HttpClient {
    builder(base).build().unwrap()
}

const OK_JSON: Scripted = (200, Vec::new(), r#"{"ok":true}"#);

fn status(code: u16) -> Scripted {
    (code, Vec::new(), "")
}

fn stats(requests: u64, retries: u64, throttled: u64, failures: u64) -> HttpStats {
    HttpStats { requests, retries, throttled, failures }
}

#[test]
fn clients_and_their_futures_can_move_between_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let client = http("http://127.0.0.1:9");
    send_sync(&client);
    send(&client.get("/x").send());
    send(&client.get("/x").send_json());
    send(&Paginator::new(client.clone(), RequestSpec::new("/x"), Pagination::LinkHeader, None).next_page());
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test(start_paused = true)]
async fn retries_5xx_with_backoff_then_succeeds() {
    let (base, calls) = scripted(vec![status(500), status(503), OK_JSON]).await;
    let client = http(&base);
    let start = Instant::now();
    let (response, body) = client.get("/x").send_json().await.unwrap();
    assert_eq!((response.status, body), (200, json!({"ok": true})));
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(client.stats(), stats(3, 2, 0, 0));
    assert!(start.elapsed() <= ms(30), "full jitter under 10 ms + 20 ms: {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_retries_naming_method_path_and_cause() {
    let (base, calls) = scripted(vec![status(503)]).await;
    let client = builder(&base).max_retries(2).build().unwrap();
    let err = client.get("/api/v2/tickets.json").query(&[("page", "2")]).send().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Retry);
    assert_eq!(err.status, Some(503));
    assert_eq!(
        err.message,
        "GET /api/v2/tickets.json?page=2 failed after 3 attempts: HTTP 503 Service Unavailable"
    );
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(client.stats(), stats(3, 2, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn retries_when_the_server_drops_the_connection() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
    let (base, calls) = raw_server(vec![None, None, Some(ok)]).await;
    let client = http(&base);
    let (_, body) = client.get("/x").send_json().await.unwrap();
    assert_eq!(body, json!({"ok": true}));
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(client.stats(), stats(3, 2, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn connection_errors_are_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = builder(&base).max_retries(2).build().unwrap();
    let err = client.get("/x").send().await.unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::Retry, None));
    assert!(err.message.starts_with("GET /x failed after 3 attempts: could not connect"), "{}", err.message);
    assert!(!err.message.contains("127.0.0.1"), "no URL in the cause: {}", err.message);
}

#[tokio::test(start_paused = true)]
async fn retries_a_timeout() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = move || {
        let n = counter.fetch_add(1, SeqCst);
        async move {
            if n == 0 {
                tokio::time::sleep(secs(120)).await;
            }
            "done"
        }
    };
    let base = serve(Router::new().route("/slow", get(handler))).await;
    let client = builder(&base).timeout(secs(5)).build().unwrap();
    let start = Instant::now();
    let response = client.get("/slow").send().await.unwrap();
    assert_eq!(response.text(), "done");
    assert_eq!(calls.load(SeqCst), 2);
    assert!(start.elapsed() >= secs(5) && start.elapsed() < secs(6), "{:?}", start.elapsed());
    assert_eq!(client.stats(), stats(2, 1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn retries_truncated_json_and_unreadable_bodies() {
    let (base, calls) = scripted(vec![(200, Vec::new(), r#"{"tickets": [1, 2"#), OK_JSON]).await;
    let client = http(&base);
    let (_, body) = client.get("/x").send_json().await.unwrap();
    assert_eq!(body, json!({"ok": true}));
    assert_eq!(calls.load(SeqCst), 2);

    // Content-Length promises more than arrives before the connection closes.
    let short = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"a\":";
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    let (base, calls) = raw_server(vec![Some(short), Some(ok)]).await;
    let client = http(&base);
    assert_eq!(client.get("/x").send().await.unwrap().text(), "{}");
    assert_eq!(calls.load(SeqCst), 2);

    let (base, _) = scripted(vec![(200, Vec::new(), "<html>maintenance</html>")]).await;
    let err = builder(&base).max_retries(1).build().unwrap().get("/x").send_json().await.unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::Retry, Some(200)));
    assert!(
        err.message.starts_with("GET /x failed after 2 attempts: the response body is not valid JSON"),
        "{}",
        err.message
    );
}

// ---------------------------------------------------------------------------------------------
// 429 and the waits servers ask for

/// The virtual time one request takes against a server answering 429 with `headers`, then 200.
async fn throttled_once(headers: Vec<(&'static str, String)>) -> Duration {
    let (base, calls) = scripted(vec![(429, headers, "slow down"), OK_JSON]).await;
    let client = http(&base);
    let start = Instant::now();
    client.get("/x").send().await.unwrap();
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(client.stats(), stats(2, 1, 1, 0));
    start.elapsed()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(start_paused = true)]
async fn honours_retry_after_in_seconds_fractions_and_http_dates() {
    assert_eq!(throttled_once(vec![("Retry-After", "3".into())]).await, secs(3));
    assert_eq!(throttled_once(vec![("Retry-After", "2.0".into())]).await, secs(2));
    assert_eq!(throttled_once(vec![("Retry-After", "1.5".into())]).await, ms(1500));
    let date = httpdate::fmt_http_date(SystemTime::now() + secs(4));
    let waited = throttled_once(vec![("Retry-After", date)]).await;
    assert!(waited > secs(2) && waited <= secs(4), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn honours_vendor_reset_and_retry_after_headers() {
    // Intercom and SendGrid: an absolute Unix time.
    let waited = throttled_once(vec![("X-RateLimit-Reset", (unix_now() + 6).to_string())]).await;
    assert!(waited > secs(4) && waited <= secs(6), "{waited:?}");
    // Seconds from now.
    assert_eq!(throttled_once(vec![("X-Rate-Limit-Reset", "4".into())]).await, secs(4));
    assert_eq!(throttled_once(vec![("RateLimit-Reset", "5".into())]).await, secs(5));
    // Help Scout.
    assert_eq!(throttled_once(vec![("X-RateLimit-Retry-After", "7".into())]).await, secs(7));
    assert_eq!(throttled_once(vec![("X-Rate-Limit-Retry-After", "8".into())]).await, secs(8));
}

#[tokio::test(start_paused = true)]
async fn plain_text_429_without_headers_backs_off_on_its_own_budget() {
    let plain = (
        429,
        vec![("Content-Type", "text/plain".to_owned())],
        "Number of allowed API requests per minute exceeded",
    );
    let (base, calls) = scripted(vec![plain.clone(), plain.clone(), plain, OK_JSON]).await;
    let client = builder(&base).max_retries(0).build().unwrap();
    let start = Instant::now();
    client.get("/x").send().await.unwrap();
    assert_eq!(calls.load(SeqCst), 4);
    assert_eq!(client.stats(), stats(4, 3, 3, 0));
    assert!(start.elapsed() <= ms(70), "backoff of 10, 20, 40 ms at most: {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn endless_429s_fail_after_their_budget() {
    let (base, calls) = scripted(vec![status(429)]).await;
    let client = builder(&base).max_retries(0).build().unwrap();
    let err = client.get("/x").send().await.unwrap_err();
    assert_eq!((err.class, err.status, err.retry_after), (ErrorClass::Retry, Some(429), None));
    assert_eq!(err.message, "GET /x is still rate limited (HTTP 429) after 21 attempts");
    assert_eq!(calls.load(SeqCst), 21);
    assert_eq!(client.stats(), stats(21, 20, 21, 1));
}

/// A vendor's 429 body can name the wait (a daily quota): long waits become `retry_after`,
/// short ones are waited out, and bodies the reader does not know fall back to the headers.
#[tokio::test(start_paused = true)]
async fn a_429_body_reader_decides_the_wait() {
    let read = |body: &[u8]| match body {
        b"daily" => Some(secs(7_200)),
        b"second" => Some(secs(1)),
        _ => None,
    };
    let (base, calls) = scripted(vec![(429, vec![], "daily")]).await;
    let err = builder(&base).throttle_body(read).build().unwrap().get("/x").send().await.unwrap_err();
    assert_eq!((err.class, err.status, err.retry_after), (ErrorClass::Retry, Some(429), Some(secs(7_200))));
    assert_eq!(calls.load(SeqCst), 1);

    let (base, calls) = scripted(vec![(429, vec![], "second"), OK_JSON]).await;
    let client = builder(&base).throttle_body(read).build().unwrap();
    let start = Instant::now();
    client.get("/x").send().await.unwrap();
    assert_eq!((start.elapsed(), calls.load(SeqCst)), (secs(1), 2));

    let (base, _) = scripted(vec![(429, vec![("Retry-After", "3".into())], "other"), OK_JSON]).await;
    let client = builder(&base).throttle_body(read).build().unwrap();
    let start = Instant::now();
    client.get("/x").send().await.unwrap();
    assert_eq!(start.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn waits_beyond_max_wait_are_returned_as_retry_after() {
    let (base, calls) = scripted(vec![(429, vec![("Retry-After", "3600".into())], "daily quota")]).await;
    let client = http(&base);
    let start = Instant::now();
    let err = client.get("/x").send().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!((err.class, err.status, err.retry_after), (ErrorClass::Retry, Some(429), Some(secs(3600))));
    assert_eq!(err.message, "GET /x: the server asks to wait 3600 s, more than max_wait (900 s)");
    assert_eq!(calls.load(SeqCst), 1);

    let (base, _) = scripted(vec![(503, vec![("Retry-After", "120".into())], "")]).await;
    let err = builder(&base).max_wait(secs(60)).build().unwrap().get("/x").send().await.unwrap_err();
    assert_eq!((err.class, err.status, err.retry_after), (ErrorClass::Retry, Some(503), Some(secs(120))));

    // Nothing left until tomorrow: the next request is not even sent.
    let exhausted =
        vec![("X-RateLimit-Remaining", "0".into()), ("X-RateLimit-Reset", (unix_now() + 7200).to_string())];
    let (base, calls) = scripted(vec![(200, exhausted, "{}")]).await;
    let client = http(&base);
    client.get("/x").send().await.unwrap();
    let err = client.get("/x").send().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Retry);
    assert!(err.retry_after.is_some_and(|wait| wait > secs(7100)), "{err:?}");
    assert_eq!(calls.load(SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// Errors that need a human

#[tokio::test]
async fn unauthorized_fails_at_once_with_a_clear_message() {
    let (base, calls) = scripted(vec![(401, Vec::new(), "Couldn't authenticate you")]).await;
    let client = http(&base);
    let err = client.get("/api/v2/users.json").send().await.unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::NeedsHuman, Some(401)));
    assert_eq!(
        err.message,
        "HTTP 401 Unauthorized from GET /api/v2/users.json: check the connection's credentials \
         (response: Couldn't authenticate you)"
    );
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(client.stats(), stats(1, 0, 0, 1));
}

#[tokio::test]
async fn other_client_errors_need_a_human_with_an_excerpt() {
    let body: &'static str = Box::leak(format!("{{\"errors\":\"{}\"}}", "x".repeat(300)).into_boxed_str());
    let (base, calls) =
        scripted(vec![(403, Vec::new(), "plan"), (404, Vec::new(), ""), (422, Vec::new(), body)]).await;
    let client = http(&format!("{base}/zendesk"));
    let err = client.get("/api/v2/satisfaction_ratings").send().await.unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::NeedsHuman, Some(403)));
    assert_eq!(
        err.message,
        "HTTP 403 Forbidden from GET /zendesk/api/v2/satisfaction_ratings: check the connection's \
         credentials and their permissions (response: plan)"
    );
    let err = client.get("/api/v2/nope.json").send().await.unwrap_err();
    assert_eq!(err.message, "HTTP 404 Not Found from GET /zendesk/api/v2/nope.json: check base_url");
    assert_eq!(err.status, Some(404));
    let err = client.post("/api/v2/tickets").json(&json!({"a": 1})).send().await.unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::NeedsHuman, Some(422)));
    let excerpt = &body[..200];
    assert_eq!(
        err.message,
        format!("HTTP 422 Unprocessable Entity from POST /zendesk/api/v2/tickets (response: {excerpt}…)")
    );
    assert_eq!(calls.load(SeqCst), 3);
}

#[tokio::test]
async fn invalid_requests_are_errors_not_panics() {
    let client = http("http://127.0.0.1:9");
    let err = client.get("http://exa mple.com/x").send().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::NeedsHuman);
    let err = client.get("/x").header("bad header", "v").send().await.unwrap_err();
    assert_eq!(err.message, "GET /x: invalid header `bad header`");
    assert!(HttpClient::builder("c").base_url("ftp://x").is_err());
    assert!(HttpClient::builder("c").build().is_err());
    let bad = HttpClient::builder("c")
        .base_url("http://127.0.0.1:9")
        .unwrap()
        .auth(Auth::Bearer(Secret::new("line\nbreak-secret")))
        .build()
        .unwrap_err();
    assert!(!bad.message.contains("break-secret"), "{}", bad.message);
}

#[tokio::test(start_paused = true)]
async fn odd_rate_limit_headers_do_not_panic() {
    let odd = vec![
        ("Retry-After", "1e300".to_owned()),
        ("X-RateLimit-Limit", "-5".to_owned()),
        ("X-RateLimit-Remaining", "lots".to_owned()),
        ("X-Shopify-Shop-Api-Call-Limit", "40/0".to_owned()),
    ];
    let (base, calls) = scripted(vec![(429, odd.clone(), "\u{fffd}"), (200, odd, "{}")]).await;
    let client = http(&base);
    client.get("/x").send_json().await.unwrap();
    client.get("/x").send_json().await.unwrap();
    assert_eq!(calls.load(SeqCst), 3);
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// A server whose 401 echoes the request line and headers, as some vendors do.
async fn echoing_server() -> String {
    let handler = |uri: Uri, headers: HeaderMap| async move {
        let mut echo = format!("rejected {uri}");
        for (name, value) in &headers {
            echo.push_str(&format!(" {name}={}", value.to_str().unwrap_or("")));
        }
        if let Some(basic) =
            headers.get("authorization").and_then(|v| v.to_str().ok()?.strip_prefix("Basic "))
        {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD.decode(basic).unwrap();
            echo.push_str(&format!(" decoded={}", String::from_utf8(decoded).unwrap()));
        }
        reply(401, &[], echo)
    };
    serve(Router::new().fallback(any(handler))).await
}

#[tokio::test]
async fn secrets_never_reach_messages_or_debug_output() {
    let base = echoing_server().await;
    let cases = [
        (Auth::Header { name: "X-Api-Key".into(), value: Secret::new("hdr-secret-123") }, "hdr-secret-123"),
        (Auth::Bearer(Secret::new("bearer-secret-456")), "bearer-secret-456"),
        (Auth::Basic { username: "user".into(), password: Secret::new("basic-pw-789") }, "basic-pw-789"),
        (Auth::Query { name: "key".into(), value: Secret::new("q-secret/012") }, "q-secret"),
        (Auth::Basic { username: "fd-api-key-345".into(), password: Secret::new("X") }, "fd-api-key-345"),
    ];
    for (auth, secret) in cases {
        let client = builder(&base).auth(auth).build().unwrap();
        let err = client.get("/v1/reviews").send().await.unwrap_err();
        assert!(err.message.contains("rejected /v1/reviews"), "the server saw the request: {}", err.message);
        assert!(err.message.contains("[redacted]"), "the echo is redacted: {}", err.message);
        assert!(!err.message.contains(secret), "{secret} leaked: {}", err.message);
        assert!(!err.message.contains("dXNlcjpiYXNpYy1wdy03ODk"), "encoded Basic leaked: {}", err.message);
        assert!(!format!("{client:?}").contains(secret));
    }
}

#[tokio::test(start_paused = true)]
async fn keys_in_query_strings_are_redacted() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let handler = move |uri: Uri| {
        log.lock().unwrap().push(uri.to_string());
        async move { reply(500, &[], format!("failed {uri}")) }
    };
    let router = Router::new().fallback(any(handler));
    let (base, other_origin) = (serve(router.clone()).await, serve(router).await);
    let client = builder(&base)
        .auth(Auth::Query { name: "key".into(), value: Secret::new("q-secret-456") })
        .max_retries(1)
        .build()
        .unwrap();
    // A next-page link in which the vendor echoed the key.
    let err = client
        .get(&format!("{base}/v1/reviews?page=2&key=q-secret-456&api_key=other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "GET /v1/reviews?page=2&key=[redacted]&api_key=[redacted] failed after 2 attempts: HTTP 500 Internal Server Error"
    );
    // The key is sent once per request, and nowhere else than to the base URL's origin.
    assert_eq!(seen.lock().unwrap()[0], "/v1/reviews?page=2&api_key=other&key=q-secret-456");
    let _ = client.get(&format!("{other_origin}/elsewhere")).send().await;
    assert_eq!(seen.lock().unwrap().last().unwrap(), "/elsewhere");
}

/// Collects every tracing event as text.
struct Capture(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Every event of the test binary, as text. Global: a scoped subscriber misses events when
/// other tests hit the same callsites concurrently.
fn captured_logs() -> Arc<Mutex<Vec<String>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<String>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::set_global_default(Capture(logs.clone())).unwrap();
        logs
    })
    .clone()
}

#[tokio::test(start_paused = true)]
async fn logs_carry_requests_and_waits_but_no_secret() {
    let logs = captured_logs();
    let (base, _) =
        scripted(vec![(429, vec![("Retry-After", "2".into())], "q-secret-456"), status(500), OK_JSON]).await;
    let client = HttpClient::builder("logs-test")
        .base_url(&base)
        .unwrap()
        .auth(Auth::Query { name: "key".into(), value: Secret::new("q-secret-456") })
        .build()
        .unwrap();
    client.get(&format!("{base}/v1/reviews?key=q-secret-456")).send().await.unwrap();
    let logs = logs.lock().unwrap();
    assert!(logs.iter().all(|line| !line.contains("q-secret-456")), "{logs:#?}");
    let ours: Vec<_> = logs.iter().filter(|l| l.contains("connection=logs-test")).collect();
    assert_eq!(
        ours.iter().filter(|l| l.starts_with("DEBUG") && l.contains("http request")).count(),
        3,
        "{ours:#?}"
    );
    let warns: Vec<_> = ours.iter().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(warns.len(), 2, "{ours:#?}");
    assert!(warns[0].contains("wait_ms=2000") && warns[0].contains("HTTP 429"), "{}", warns[0]);
    assert!(warns[0].contains("/v1/reviews?key=[redacted]"), "{}", warns[0]);
    assert!(warns[1].contains("HTTP 500"), "{}", warns[1]);
}

// ---------------------------------------------------------------------------------------------
// OAuth2 client credentials

#[derive(Default)]
struct OAuthServer {
    lifetime: u64,
    token_calls: AtomicUsize,
    data_calls: AtomicUsize,
    unauthorized: AtomicUsize,
    issued: Mutex<HashMap<String, Instant>>,
    reject_all: AtomicBool,
}

async fn oauth_server(lifetime: u64) -> (String, Arc<OAuthServer>) {
    let state = Arc::new(OAuthServer { lifetime, ..OAuthServer::default() });
    let token = |State(s): State<Arc<OAuthServer>>, body: String| async move {
        let form: HashMap<&str, &str> = body.split('&').filter_map(|p| p.split_once('=')).collect();
        let expected =
            [("grant_type", "client_credentials"), ("client_id", "cid"), ("client_secret", "csecret")];
        if !expected.iter().all(|(k, v)| form.get(k) == Some(v)) || form.get("scope") != Some(&"read") {
            return reply(401, &[], format!("{{\"error\":\"invalid_client\",\"got\":\"{body}\"}}"));
        }
        let n = s.token_calls.fetch_add(1, SeqCst) + 1;
        let token = format!("tok-{n}");
        s.issued.lock().unwrap().insert(token.clone(), Instant::now());
        reply(
            200,
            &[],
            json!({"access_token": token, "expires_in": s.lifetime, "token_type": "Bearer"}).to_string(),
        )
    };
    let data = |State(s): State<Arc<OAuthServer>>, headers: HeaderMap| async move {
        s.data_calls.fetch_add(1, SeqCst);
        let token =
            headers.get("authorization").and_then(|v| v.to_str().ok()?.strip_prefix("Bearer ")).unwrap_or("");
        let issued = s.issued.lock().unwrap().get(token).copied();
        let valid = issued.is_some_and(|at| at.elapsed() < secs(s.lifetime)) && !s.reject_all.load(SeqCst);
        if valid {
            reply(200, &[], "{\"data\":[]}")
        } else {
            s.unauthorized.fetch_add(1, SeqCst);
            reply(401, &[], format!("token {token} is invalid"))
        }
    };
    let router = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/data", get(data))
        .with_state(state.clone());
    (serve(router).await, state)
}

fn oauth_client(base: &str, secret: &str) -> HttpClient {
    builder(base)
        .auth(Auth::OAuth2ClientCredentials {
            token_url: format!("{base}/oauth/token"),
            client_id: "cid".into(),
            client_secret: Secret::new(secret),
            scope: Some("read".into()),
        })
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn oauth_token_is_cached_and_refreshed_before_it_expires() {
    let (base, server) = oauth_server(60).await;
    let client = oauth_client(&base, "csecret");
    for _ in 0..3 {
        client.get("/api/data").send_json().await.unwrap();
        tokio::time::sleep(secs(25)).await;
    }
    // 0 s, 25 s, 50 s: one token, refreshed from 54 s on (a tenth of its lifetime early).
    assert_eq!(server.token_calls.load(SeqCst), 1);
    client.get("/api/data").send_json().await.unwrap(); // 75 s: a new token, to refresh at 129 s
    tokio::time::sleep(secs(56)).await; // 131 s: the server would still take it; we refresh
    client.get("/api/data").send_json().await.unwrap();
    assert_eq!(server.token_calls.load(SeqCst), 3);
    assert_eq!(server.unauthorized.load(SeqCst), 0);
    assert_eq!(server.data_calls.load(SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn oauth_token_rejected_mid_sync_is_refreshed_once() {
    let (base, server) = oauth_server(3600).await;
    let client = oauth_client(&base, "csecret");
    client.get("/api/data").send().await.unwrap();
    server.issued.lock().unwrap().clear(); // revoked
    client.get("/api/data").send().await.unwrap();
    assert_eq!(server.token_calls.load(SeqCst), 2);
    assert_eq!(server.unauthorized.load(SeqCst), 1);
    assert_eq!(client.stats(), stats(5, 1, 0, 0));

    // Rejected again with the new token: a human must look, and no token shows.
    server.reject_all.store(true, SeqCst);
    let err = client.get("/api/data").send().await.unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::NeedsHuman, Some(401)));
    assert_eq!(
        err.message,
        "HTTP 401 Unauthorized from GET /api/data: check the connection's credentials \
         (response: token [redacted] is invalid)"
    );
    assert_eq!(server.token_calls.load(SeqCst), 3);
}

#[tokio::test]
async fn oauth_bad_client_secret_needs_a_human() {
    let (base, server) = oauth_server(3600).await;
    let client = oauth_client(&base, "wrong-secret");
    let err = client.get("/api/data").send().await.unwrap_err();
    assert_eq!((err.class, err.status), (ErrorClass::NeedsHuman, Some(401)));
    assert!(
        err.message
            .starts_with("HTTP 401 Unauthorized from POST /oauth/token: check the connection's credentials"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("client_secret=[redacted]") && !err.message.contains("wrong-secret"),
        "{}",
        err.message
    );
    assert_eq!(server.data_calls.load(SeqCst), 0);
}

// ---------------------------------------------------------------------------------------------
// Rate limits

/// A server counting requests, recording their (virtual) arrival times.
async fn counting_server() -> (String, Arc<Mutex<Vec<Instant>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let log = arrivals.clone();
    let handler = move || {
        log.lock().unwrap().push(Instant::now());
        async { "{}" }
    };
    (serve(Router::new().fallback(any(handler))).await, arrivals)
}

#[tokio::test(start_paused = true)]
async fn configured_rate_spaces_requests() {
    let (base, arrivals) = counting_server().await;
    let client = builder(&base).max_requests_per_minute(Some(60)).build().unwrap();
    let start = Instant::now();
    for _ in 0..120 {
        client.get("/x").send().await.unwrap();
    }
    assert!(start.elapsed() >= secs(119) && start.elapsed() < secs(120), "{:?}", start.elapsed());
    let arrivals = arrivals.lock().unwrap();
    assert!(arrivals.windows(2).all(|w| w[1] - w[0] >= ms(999)), "one per second");
}

#[tokio::test(start_paused = true)]
async fn configured_rate_is_shared_by_clones_and_tasks() {
    let (base, arrivals) = counting_server().await;
    let client = builder(&base).max_requests_per_minute(Some(60)).build().unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..30 {
                    client.get("/x").send().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(start.elapsed() >= secs(119), "{:?}", start.elapsed());
    let mut arrivals = arrivals.lock().unwrap().clone();
    arrivals.sort();
    assert_eq!(arrivals.len(), 120);
    assert!(arrivals.windows(2).all(|w| w[1] - w[0] >= ms(999)), "one per second");
    assert_eq!(client.stats().requests, 120);
}

/// A server allowing `limit` requests per rolling minute, advertising it in `header`.
async fn rolling_window_server(limit: usize, header: &'static str) -> (String, Arc<AtomicUsize>) {
    let window: Arc<Mutex<VecDeque<Instant>>> = Arc::default();
    let rejected = Arc::new(AtomicUsize::new(0));
    let counter = rejected.clone();
    let handler = move || {
        let now = Instant::now();
        let mut window = window.lock().unwrap();
        while window.front().is_some_and(|t| now - *t >= secs(60)) {
            window.pop_front();
        }
        let answer = if window.len() >= limit {
            counter.fetch_add(1, SeqCst);
            let wait = 60 - (now - window[0]).as_secs();
            reply(429, &[("Retry-After", wait.to_string())], "")
        } else {
            window.push_back(now);
            let remaining = (limit - window.len()).to_string();
            reply(200, &[(header, limit.to_string()), ("X-RateLimit-Remaining", remaining)], "{}")
        };
        async move { answer }
    };
    (serve(Router::new().fallback(any(handler))).await, rejected)
}

#[tokio::test(start_paused = true)]
async fn paces_to_the_advertised_limit_without_a_429() {
    for header in ["X-Rate-Limit", "X-RateLimit-Limit", "RateLimit-Limit", "X-RateLimit-Total"] {
        let (base, rejected) = rolling_window_server(60, header).await;
        let client = http(&base);
        for _ in 0..90 {
            client.get("/x").send().await.unwrap();
        }
        assert_eq!(rejected.load(SeqCst), 0, "{header}");
        assert_eq!(client.stats(), stats(90, 0, 0, 0), "{header}");
    }
}

/// A server spending `cost` credits per request from `limit` credits per rolling minute, saying
/// so in Freshdesk's headers (`X-RateLimit-Total`, `X-RateLimit-Remaining`,
/// `X-RateLimit-Used-CurrentRequest`).
async fn credit_server(limit: u64, cost: u64) -> (String, Arc<AtomicUsize>) {
    let window: Arc<Mutex<VecDeque<Instant>>> = Arc::default();
    let rejected = Arc::new(AtomicUsize::new(0));
    let counter = rejected.clone();
    let handler = move || {
        let now = Instant::now();
        let mut window = window.lock().unwrap();
        while window.front().is_some_and(|t| now - *t >= secs(60)) {
            window.pop_front();
        }
        let used = window.len() as u64 * cost;
        let answer = if used + cost > limit {
            counter.fetch_add(1, SeqCst);
            reply(429, &[("Retry-After", (60 - (now - window[0]).as_secs()).to_string())], "")
        } else {
            window.push_back(now);
            let headers = [
                ("X-RateLimit-Total", limit.to_string()),
                ("X-RateLimit-Remaining", (limit - used - cost).to_string()),
                ("X-RateLimit-Used-CurrentRequest", cost.to_string()),
            ];
            reply(200, &headers, "[]")
        };
        async move { answer }
    };
    (serve(Router::new().fallback(any(handler))).await, rejected)
}

/// Requests that cost three credits each (Freshdesk's `include`) are paced at a third of the
/// advertised credits: 40 requests of 3 credits against 60 credits a minute take two minutes and
/// meet no 429.
#[tokio::test(start_paused = true)]
async fn paces_by_the_cost_each_request_reports() {
    let (base, rejected) = credit_server(60, 3).await;
    let client = http(&base);
    let start = Instant::now();
    for _ in 0..40 {
        client.get("/api/v2/tickets").send().await.unwrap();
    }
    assert_eq!(rejected.load(SeqCst), 0);
    assert_eq!(client.stats(), stats(40, 0, 0, 0));
    assert!(start.elapsed() >= secs(100), "{:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn paces_concurrent_tasks_to_the_advertised_limit() {
    let (base, rejected) = rolling_window_server(60, "X-Rate-Limit").await;
    let client = http(&base);
    client.get("/x").send().await.unwrap();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..30 {
                    client.get("/x").send().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(rejected.load(SeqCst), 0);
    assert_eq!(client.stats().throttled, 0);
}

#[tokio::test(start_paused = true)]
async fn keeps_shopify_bucket_from_overflowing() {
    // A leaky bucket of 40 draining 2 per second.
    let bucket = Arc::new(Mutex::new((0.0_f64, Instant::now())));
    let rejected = Arc::new(AtomicUsize::new(0));
    let counter = rejected.clone();
    let handler = move || {
        let mut bucket = bucket.lock().unwrap();
        let now = Instant::now();
        bucket.0 = (bucket.0 - (now - bucket.1).as_secs_f64() * 2.0).max(0.0);
        bucket.1 = now;
        let answer = if bucket.0 + 1.0 > 40.0 {
            counter.fetch_add(1, SeqCst);
            reply(429, &[("Retry-After", "2.0".into())], "")
        } else {
            bucket.0 += 1.0;
            reply(200, &[("X-Shopify-Shop-Api-Call-Limit", format!("{}/40", bucket.0.ceil()))], "{}")
        };
        async move { answer }
    };
    let base = serve(Router::new().fallback(any(handler))).await;
    let client = http(&base);
    for _ in 0..150 {
        client.get("/admin/api/orders.json").send().await.unwrap();
    }
    assert_eq!(rejected.load(SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn waits_for_the_reset_when_nothing_remains() {
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let handler = move || {
        let mut first = first.lock().unwrap();
        let answer = match *first {
            None => {
                *first = Some(Instant::now());
                reply(200, &[("X-RateLimit-Remaining", "0".into()), ("X-RateLimit-Reset", "30".into())], "{}")
            }
            Some(at) if at.elapsed() < secs(30) => reply(429, &[], ""),
            Some(_) => reply(200, &[], "{}"),
        };
        async move { answer }
    };
    let base = serve(Router::new().fallback(any(handler))).await;
    let client = http(&base);
    let start = Instant::now();
    client.get("/x").send().await.unwrap();
    client.get("/x").send().await.unwrap();
    assert_eq!(start.elapsed(), secs(30));
    assert_eq!(client.stats(), stats(2, 0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn limits_requests_in_flight() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now, max) = (in_flight.clone(), peak.clone());
    let handler = move || {
        let (now, max) = (now.clone(), max.clone());
        async move {
            max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
            tokio::time::sleep(secs(1)).await;
            now.fetch_sub(1, SeqCst);
            "{}"
        }
    };
    let base = serve(Router::new().fallback(any(handler))).await;
    let client = builder(&base).max_concurrent(Some(3)).build().unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/x").send().await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(peak.load(SeqCst), 3);
}

// ---------------------------------------------------------------------------------------------
// Requests: URLs, headers, bodies

async fn echo_server() -> String {
    let handler = |method: Method, uri: Uri, headers: HeaderMap, body: String| async move {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let echo = json!({
            "method": method.as_str(), "path": uri.path(), "query": uri.query(),
            "user_agent": header("user-agent"), "accept": header("accept"), "x_custom": header("x-custom"),
            "content_type": header("content-type"), "body": body,
        });
        reply(200, &[("Content-Type", "application/json".into())], echo.to_string())
    };
    serve(Router::new().fallback(any(handler))).await
}

#[tokio::test]
async fn joins_paths_to_the_base_url_and_sends_headers_and_bodies() {
    let base = echo_server().await;
    let client = builder(&format!("{base}/zendesk"))
        .default_header("Accept", "application/vnd.api+json")
        .build()
        .unwrap();
    assert_eq!(client.base_url().as_str(), format!("{base}/zendesk"));
    let (_, echo) = client.get("/api/v2/x").query(&[("a", "1 2"), ("b", "&")]).send_json().await.unwrap();
    assert_eq!(echo["path"], "/zendesk/api/v2/x");
    assert_eq!(echo["query"], "a=1+2&b=%26");
    assert_eq!(echo["user_agent"], format!("engage/{} (connection test)", env!("CARGO_PKG_VERSION")));
    assert_eq!(echo["accept"], "application/vnd.api+json");

    let (response, echo) =
        client.get(&format!("{base}/other?x=1")).header("X-Custom", "yes").send_json().await.unwrap();
    assert_eq!((echo["path"].as_str(), echo["query"].as_str()), (Some("/other"), Some("x=1")));
    assert_eq!(echo["x_custom"], "yes");
    assert_eq!(response.url.as_str(), format!("{base}/other?x=1"));
    assert_eq!(response.header("content-type"), Some("application/json"));

    let trailing = http(&format!("{base}/api/"));
    let (_, echo) = trailing.get("v1/items?limit=5").send_json().await.unwrap();
    assert_eq!((echo["path"].as_str(), echo["query"].as_str()), (Some("/api/v1/items"), Some("limit=5")));

    let (_, echo) = client.post("/t").json(&json!({"k": [1]})).send_json().await.unwrap();
    assert_eq!((echo["method"].as_str(), echo["body"].as_str()), (Some("POST"), Some(r#"{"k":[1]}"#)));
    assert_eq!(echo["content_type"], "application/json");
    let (response, echo) = client.post("/f").form(&[("a", "b c")]).send_json().await.unwrap();
    assert_eq!(echo["body"], "a=b+c");
    assert_eq!(echo["content_type"], "application/x-www-form-urlencoded");
    #[derive(serde::Deserialize)]
    struct Echo {
        method: String,
    }
    assert_eq!(response.json::<Echo>().unwrap().method, "POST");
    assert_eq!(response.json::<Vec<u8>>().unwrap_err().class, ErrorClass::NeedsHuman);
}

// ---------------------------------------------------------------------------------------------
// Pagination

/// Items `1..=total`, `per` to a page.
fn items(from: u64, per: u64, total: u64) -> Vec<u64> {
    (from..from + per).filter(|i| *i <= total).collect()
}

fn q<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query.get(name).map(String::as_str)
}

async fn paging_server() -> String {
    type Params = Query<HashMap<String, String>>;
    let page_of =
        |query: &HashMap<String, String>| q(query, "page").and_then(|p| p.parse().ok()).unwrap_or(1_u64);
    let router = Router::new()
        // JSON:API: absolute `links.next`, null on the last page.
        .route(
            "/jsonapi",
            get(move |Query(query): Params, headers: HeaderMap| async move {
                let page = page_of(&query);
                let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
                let next = (page < 3).then(|| format!("http://{host}/jsonapi?page={}", page + 1));
                axum::Json(json!({"data": items(page * 10, 2, 100), "links": {"next": next}}))
            }),
        )
        // HAL: relative `_links.next.href`, absent on the last page.
        .route(
            "/hal",
            get(move |Query(query): Params| async move {
                let page = page_of(&query);
                let links = if page < 2 {
                    json!({"next": {"href": format!("/hal?page={}", page + 1)}})
                } else {
                    json!({})
                };
                axum::Json(json!({"_embedded": {"conversations": [page]}, "_links": links}))
            }),
        )
        .route(
            "/link",
            get(move |Query(query): Params, headers: HeaderMap| async move {
                let page = page_of(&query);
                let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
                let mut link = format!(r#"<http://{host}/link?page=1>; rel="first""#);
                if page < 3 {
                    link.push_str(&format!(r#", <http://{host}/link?page={}>; rel="next""#, page + 1));
                }
                reply(200, &[("Link", link)], json!(items(page * 10, 2, 100)).to_string())
            }),
        )
        // Zendesk cursor: the last page still has a cursor, but has_more is false.
        .route(
            "/cursor",
            get(move |Query(query): Params| async move {
                let (records, after, more) = match q(&query, "page[after]") {
                    None => (vec![1, 2], "c1", true),
                    Some("c1") => (vec![3, 4], "c2", true),
                    Some(_) => (vec![5], "c3", false),
                };
                assert_eq!(q(&query, "page[size]"), Some("2"));
                axum::Json(json!({"tickets": records, "meta": {"has_more": more, "after_cursor": after}}))
            }),
        )
        .route(
            "/token",
            get(move |Query(query): Params| async move {
                match q(&query, "pageToken") {
                    None => axum::Json(json!({"reviews": [1, 2], "nextPageToken": "t1"})),
                    Some(_) => axum::Json(json!({"reviews": [3]})),
                }
            }),
        )
        // Mailchimp: offset/count with total_items (`total` query parameter sets the total).
        .route(
            "/offset",
            get(move |Query(query): Params| async move {
                let number = |name| q(&query, name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                let (offset, count, total) = (number("offset"), number("count"), number("total"));
                axum::Json(json!({"campaigns": items(offset + 1, count, total), "total_items": total}))
            }),
        )
        // Freshdesk: page numbers, a body that is the array.
        .route(
            "/pages",
            get(move |Query(query): Params| async move {
                let page = page_of(&query);
                let per = q(&query, "per_page").and_then(|v| v.parse().ok()).unwrap_or(2);
                axum::Json(json!(items((page - 1) * per + 1, per, 5)))
            }),
        );
    serve(router).await
}

/// Walks a paginator to its end: the records and the number of pages.
async fn walk(paginator: &mut Paginator) -> (Vec<Value>, usize) {
    let (mut records, mut pages) = (Vec::new(), 0);
    while let Some(page) = paginator.next_page().await.unwrap() {
        pages += 1;
        assert_eq!(page.next.is_none(), paginator.is_done());
        records.extend(page.records);
        assert!(pages < 20, "runaway pagination");
    }
    (records, pages)
}

fn nums(values: &[u64]) -> Vec<Value> {
    values.iter().map(|v| json!(v)).collect()
}

#[tokio::test]
async fn walks_next_urls_in_the_body() {
    let base = paging_server().await;
    let client = http(&base);
    let style = Pagination::NextUrlInBody { pointer: "/links/next".into() };
    let mut pages = Paginator::new(client.clone(), RequestSpec::new("/jsonapi"), style, Some("/data".into()));
    assert_eq!(walk(&mut pages).await, (nums(&[10, 11, 20, 21, 30, 31]), 3));
    assert_eq!(pages.next_page().await.unwrap().map(|p| p.records), None);

    let style = Pagination::NextUrlInBody { pointer: "/_links/next/href".into() };
    let mut pages =
        Paginator::new(client, RequestSpec::new("/hal"), style, Some("/_embedded/conversations".into()));
    assert_eq!(walk(&mut pages).await, (nums(&[1, 2]), 2));
}

#[tokio::test]
async fn walks_link_headers_and_resumes_from_a_checkpoint() {
    let base = paging_server().await;
    let client = http(&base);
    let mut pages = Paginator::new(client.clone(), RequestSpec::new("/link"), Pagination::LinkHeader, None);
    let first = pages.next_page().await.unwrap().unwrap();
    assert_eq!(first.records, nums(&[10, 11]));
    assert_eq!(first.next, Some(PageCursor::Url(format!("{base}/link?page=2"))));
    let checkpoint = serde_json::to_string(&first.next).unwrap();

    let cursor: Option<PageCursor> = serde_json::from_str(&checkpoint).unwrap();
    let mut resumed =
        Paginator::resume(client, cursor.unwrap(), RequestSpec::new("/link"), Pagination::LinkHeader, None);
    assert_eq!(walk(&mut resumed).await, (nums(&[20, 21, 30, 31]), 2));
}

#[tokio::test]
async fn walks_cursors_until_has_more_is_false_and_resumes() {
    let base = paging_server().await;
    let client = http(&base);
    let style = Pagination::Cursor {
        param: "page[after]".into(),
        cursor_pointer: "/meta/after_cursor".into(),
        has_more_pointer: Some("/meta/has_more".into()),
    };
    let spec = RequestSpec::new("/cursor").query("page[size]", "2");
    let mut pages = Paginator::new(client.clone(), spec.clone(), style.clone(), Some("/tickets".into()));
    assert_eq!(walk(&mut pages).await, (nums(&[1, 2, 3, 4, 5]), 3));

    let mut pages = Paginator::new(client.clone(), spec.clone(), style.clone(), Some("/tickets".into()));
    let first = pages.next_page().await.unwrap().unwrap();
    let json = serde_json::to_value(first.next.unwrap()).unwrap();
    assert_eq!(json, json!({"token": "c1"}));
    let cursor = serde_json::from_value(json).unwrap();
    let mut resumed = Paginator::resume(client, cursor, spec, style, Some("/tickets".into()));
    assert_eq!(walk(&mut resumed).await, (nums(&[3, 4, 5]), 2));
}

#[tokio::test]
async fn walks_page_tokens() {
    let base = paging_server().await;
    let style = Pagination::PageToken { param: "pageToken".into(), token_pointer: "/nextPageToken".into() };
    let spec = RequestSpec::new("/token").query("pageSize", "2");
    let mut pages = Paginator::new(http(&base), spec, style, Some("/reviews".into()));
    assert_eq!(walk(&mut pages).await, (nums(&[1, 2, 3]), 2));
}

#[tokio::test]
async fn walks_offsets_until_the_total_or_a_short_page() {
    let base = paging_server().await;
    let client = http(&base);
    let style = |total_pointer: Option<&str>| Pagination::OffsetLimit {
        offset_param: "offset".into(),
        limit_param: "count".into(),
        limit: 3,
        total_pointer: total_pointer.map(str::to_owned),
    };
    let walk_total = |total: u64, pointer: Option<&'static str>| {
        let spec = RequestSpec::new("/offset").query("total", total.to_string());
        let mut pages = Paginator::new(client.clone(), spec, style(pointer), Some("/campaigns".into()));
        async move { walk(&mut pages).await }
    };
    assert_eq!(walk_total(7, Some("/total_items")).await, (nums(&[1, 2, 3, 4, 5, 6, 7]), 3));
    // Stops at the total without asking for an empty page.
    assert_eq!(walk_total(6, Some("/total_items")).await, (nums(&[1, 2, 3, 4, 5, 6]), 2));
    // Without a total: a short page ends it, else an empty one.
    assert_eq!(walk_total(7, None).await, (nums(&[1, 2, 3, 4, 5, 6, 7]), 3));
    assert_eq!(walk_total(6, None).await, (nums(&[1, 2, 3, 4, 5, 6]), 3));
    assert_eq!(walk_total(0, Some("/total_items")).await, (Vec::new(), 1));
}

#[tokio::test]
async fn walks_page_numbers_until_a_short_or_empty_page() {
    let base = paging_server().await;
    let client = http(&base);
    let sized = Pagination::PageNumber {
        param: "page".into(),
        first: 1,
        size_param: Some("per_page".into()),
        size: Some(2),
    };
    let mut pages = Paginator::new(client.clone(), RequestSpec::new("/pages"), sized, None);
    assert_eq!(walk(&mut pages).await, (nums(&[1, 2, 3, 4, 5]), 3));
    let unsized_ = Pagination::PageNumber { param: "page".into(), first: 1, size_param: None, size: None };
    let mut pages = Paginator::new(client.clone(), RequestSpec::new("/pages"), unsized_.clone(), None);
    assert_eq!(walk(&mut pages).await, (nums(&[1, 2, 3, 4, 5]), 4));
    let mut resumed =
        Paginator::resume(client.clone(), PageCursor::Page(3), RequestSpec::new("/pages"), unsized_, None);
    assert_eq!(walk(&mut resumed).await, (nums(&[5]), 2));

    // A cursor that does not fit the style, or records that are not an array: errors.
    let mut wrong = Paginator::resume(
        client.clone(),
        PageCursor::Token("x".into()),
        RequestSpec::new("/pages"),
        Pagination::LinkHeader,
        None,
    );
    assert_eq!(wrong.next_page().await.unwrap_err().class, ErrorClass::NeedsHuman);
    let mut not_array = Paginator::new(client, RequestSpec::new("/token"), Pagination::LinkHeader, None);
    assert_eq!(not_array.next_page().await.unwrap_err().class, ErrorClass::NeedsHuman);
}
