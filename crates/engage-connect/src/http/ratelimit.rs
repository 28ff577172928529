//! The proactive rate limit of one client, shared by its clones and concurrent tasks.
//!
//! Requests are spaced by a token bucket (in its GCRA form: one "theoretical arrival time") at
//! the lower of the configured rate and the rate the vendor advertises in its headers, with a
//! burst of one second's worth of requests. A response saying nothing is left
//! (`*-Remaining: 0`) or a 429 blocks every request until the advertised reset.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::retry::{header_str, reset_wait};

/// Part of an advertised limit the client uses: the margin absorbs the requests sent before the
/// limit was known and the server's view of window edges.
const ADVERTISED_SHARE: f64 = 0.9;

/// Shopify's leak rate on standard plans (2 requests per second), per minute.
const SHOPIFY_LEAK_PER_MINUTE: f64 = 120.0;

/// Headers advertising a limit per minute (or per window, see [`parse_limit`]).
const LIMIT_HEADERS: &[&str] = &[
    "x-rate-limit",
    "x-ratelimit-limit",
    "ratelimit-limit",
    "x-ratelimit-total",
    "x-ratelimit-limit-minute",
];

/// Headers saying how many requests are left in the window.
const REMAINING_HEADERS: &[&str] = &[
    "x-rate-limit-remaining",
    "x-ratelimit-remaining",
    "ratelimit-remaining",
    "x-ratelimit-remaining-minute",
];

#[derive(Debug)]
pub(crate) struct Limiter {
    /// Configured requests per minute.
    configured: Option<f64>,
    /// The window a bare advertised count covers (a minute unless the vendor says otherwise).
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Requests per minute to pace at, learned from response headers.
    advertised: Option<f64>,
    /// When the next request would be sent at the exact rate (GCRA's theoretical arrival time).
    tat: Option<Instant>,
    /// No request before this instant (429 or remaining 0).
    blocked_until: Option<Instant>,
}

impl Limiter {
    /// A limiter at `per_minute` requests per minute (`None` or 0: only what vendors advertise),
    /// reading a bare advertised limit as a count per `window`.
    pub(crate) fn new(per_minute: Option<u32>, window: Duration) -> Self {
        Self {
            configured: per_minute.filter(|n| *n > 0).map(f64::from),
            window: if window.is_zero() { Duration::from_secs(60) } else { window },
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request may be sent. `Err(wait)` when that is more than `max_wait` away.
    pub(crate) async fn acquire(&self, max_wait: Duration) -> Result<(), Duration> {
        let mut reserved = false;
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                match state.blocked_until.filter(|until| *until > now) {
                    Some(until) => until - now,
                    None if reserved => return Ok(()),
                    None => {
                        let Some(rate) = rate(self.configured, state.advertised) else { return Ok(()) };
                        let interval = Duration::from_secs_f64(60.0 / rate);
                        let tolerance = interval.saturating_mul(burst(rate) - 1);
                        let tat = state.tat.map_or(now, |tat| tat.max(now));
                        let allowed_at = tat.checked_sub(tolerance).unwrap_or(now);
                        state.tat = Some(tat + interval);
                        reserved = true;
                        allowed_at.saturating_duration_since(now)
                    }
                }
            };
            if wait > max_wait {
                return Err(wait);
            }
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Blocks every request for `wait` (a 429 asked for it).
    pub(crate) fn block_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.lock();
        state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
    }

    /// Learns from a response's rate-limit headers.
    pub(crate) fn observe(&self, headers: &HeaderMap, now: SystemTime) {
        let advertised = advertised_per_minute(headers, self.window);
        let exhausted = REMAINING_HEADERS
            .iter()
            .find_map(|name| header_str(headers, name).and_then(leading_number))
            .is_some_and(|remaining| remaining < 1.0);
        let reset = if exhausted { reset_wait(headers, now) } else { None };
        if advertised.is_none() && reset.is_none() {
            return;
        }
        let mut state = self.lock();
        let instant = Instant::now();
        if let Some(per_minute) = advertised {
            state.advertised = per_minute;
            if let (None, Some(rate)) = (state.tat, rate(self.configured, per_minute)) {
                // The request that told us counts as the first of the window.
                state.tat = Some(instant + Duration::from_secs_f64(60.0 / rate));
            }
            // A request that cost more than one unit of the advertised budget (Freshdesk's
            // `X-RateLimit-Used-CurrentRequest`: `include` costs extra) takes as many slots.
            if let (Some(cost), Some(budget), Some(tat)) = (request_cost(headers), per_minute, state.tat) {
                state.tat = Some(tat.max(instant) + Duration::from_secs_f64(60.0 / budget * (cost - 1.0)));
            }
        }
        if let Some(wait) = reset {
            let until = instant + wait;
            state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
        }
    }
}

/// What the request just answered cost in the vendor's units, when more than one.
fn request_cost(headers: &HeaderMap) -> Option<f64> {
    let cost = header_str(headers, "x-ratelimit-used-currentrequest").and_then(leading_number)?;
    (cost.is_finite() && cost > 1.0).then_some(cost.min(1_000.0))
}

/// The rate to pace at, per minute.
fn rate(configured: Option<f64>, advertised: Option<f64>) -> Option<f64> {
    match (configured, advertised) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Requests allowed back to back: one second's worth, at least one.
fn burst(per_minute: f64) -> u32 {
    // Truncation is the point: whole requests only; rates are far below u32::MAX.
    ((per_minute / 60.0).floor() as u32).max(1)
}

/// What the headers say about the rate to keep: `Some(Some(rate))` to pace at `rate` per
/// minute, `Some(None)` to stop pacing (Shopify's bucket has room again), `None` if they are
/// silent. A bare count counts over `window` (the `-minute` header always over a minute).
fn advertised_per_minute(headers: &HeaderMap, window: Duration) -> Option<Option<f64>> {
    let found = LIMIT_HEADERS.iter().find_map(|name| {
        let value = header_str(headers, name)?;
        let per_minute = if name.ends_with("-minute") || window == Duration::from_secs(60) {
            parse_limit(value)?
        } else {
            parse_limit_over(value, window.as_secs_f64())?
        };
        Some(per_minute)
    });
    if let Some(limit) = found {
        return Some(Some(limit * ADVERTISED_SHARE));
    }
    // Shopify: `used/size` of a leaky bucket; pace at the leak rate once it is half full.
    let (used, size) = header_str(headers, "x-shopify-shop-api-call-limit")?.split_once('/')?;
    let (used, size): (f64, f64) = (used.trim().parse().ok()?, size.trim().parse().ok()?);
    Some((used * 2.0 >= size).then_some(SHOPIFY_LEAK_PER_MINUTE))
}

/// A limit header's value as requests per minute. Understands a bare count (per minute),
/// IETF-draft policies (`10, 10;w=1, 150;w=60`: the strictest windowed policy) and Apple's
/// `user-hour-lim:3500;user-hour-rem:500;`.
fn parse_limit(value: &str) -> Option<f64> {
    parse_limit_over(value, 60.0)
}

/// Like [`parse_limit`], with a bare count taken as a count per `window_secs`.
fn parse_limit_over(value: &str, window_secs: f64) -> Option<f64> {
    let valid = |n: f64| (n.is_finite() && n >= 1.0).then_some(n);
    if let Some((key, rest)) = value.split_once("-lim:") {
        let count = valid(leading_number(rest)?)?;
        let window = if key.contains("minute") {
            60.0
        } else if key.contains("day") {
            86_400.0
        } else {
            3600.0
        };
        return Some(count * 60.0 / window);
    }
    let mut bare = None;
    let mut windowed: Option<f64> = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let Some(count) = parts.next().and_then(leading_number).and_then(valid) else { continue };
        let window =
            parts.find_map(|p| p.trim().strip_prefix("w=")).and_then(|w| w.trim().parse::<f64>().ok());
        match window.filter(|w| w.is_finite() && *w > 0.0) {
            Some(w) => windowed = Some(windowed.map_or(count * 60.0 / w, |r| r.min(count * 60.0 / w))),
            None => bare = bare.or(Some(count)),
        }
    }
    windowed.or(bare.map(|count| count * 60.0 / window_secs))
}

/// The number a header value starts with (`"32"`, `"0"`, `"700; w=60"`).
fn leading_number(value: &str) -> Option<f64> {
    let value = value.trim();
    let end = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    value[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn parses_advertised_limits() {
        assert_eq!(parse_limit("700"), Some(700.0));
        assert_eq!(parse_limit("10, 10;w=1, 150;w=60"), Some(150.0));
        assert_eq!(parse_limit("100;w=10"), Some(600.0));
        assert_eq!(parse_limit("user-hour-lim:3600;user-hour-rem:500;"), Some(60.0));
        assert_eq!(parse_limit("0"), None);
        assert_eq!(parse_limit("lots"), None);
        let per_minute = |pairs| advertised_per_minute(&headers(pairs), Duration::from_secs(60));
        assert_eq!(per_minute(&[("x-rate-limit", "700")]), Some(Some(630.0)));
        assert_eq!(per_minute(&[("x-ratelimit-total", "100")]), Some(Some(90.0)));
        assert_eq!(per_minute(&[("x-ratelimit-limit-minute", "200")]), Some(Some(180.0)));
        assert_eq!(per_minute(&[("x-shopify-shop-api-call-limit", "32/40")]), Some(Some(120.0)));
        assert_eq!(per_minute(&[("x-shopify-shop-api-call-limit", "3/40")]), Some(None));
        assert_eq!(per_minute(&[("content-type", "text/plain")]), None);
    }

    /// Intercom's `X-RateLimit-Limit` counts a 10-second window: 100 there is 600 a minute, paced
    /// at 540; an explicit per-minute header and IETF policies keep their own windows.
    #[test]
    fn advertised_limits_over_a_shorter_window() {
        let ten = Duration::from_secs(10);
        let per_minute = |pairs| advertised_per_minute(&headers(pairs), ten);
        assert_eq!(per_minute(&[("x-ratelimit-limit", "100")]), Some(Some(540.0)));
        assert_eq!(per_minute(&[("x-ratelimit-limit-minute", "200")]), Some(Some(180.0)));
        assert_eq!(per_minute(&[("ratelimit-limit", "10, 150;w=60")]), Some(Some(135.0)));
        assert_eq!(Limiter::new(None, Duration::ZERO).window, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn paces_at_an_advertised_limit_per_ten_seconds() {
        let limiter = Limiter::new(None, Duration::from_secs(10));
        limiter.observe(&headers(&[("x-ratelimit-limit", "20")]), SystemTime::now());
        let start = Instant::now();
        for _ in 0..18 {
            limiter.acquire(Duration::from_secs(900)).await.unwrap();
        }
        // 20 per 10 s paced at 90%: one every 5/9 s, the first right after the observed one (a
        // per-minute reading would take six times as long).
        let ms = start.elapsed().as_millis();
        assert!((9_990..=10_010).contains(&ms), "{ms} ms");
    }

    #[tokio::test(start_paused = true)]
    async fn paces_at_the_configured_rate_with_a_burst_of_one_second() {
        let limiter = Limiter::new(Some(120), Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..12 {
            limiter.acquire(Duration::from_secs(900)).await.unwrap();
        }
        // A burst of 2, then one every 0.5 s.
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn blocks_until_reset_and_reports_waits_beyond_max_wait() {
        let limiter = Limiter::new(None, Duration::from_secs(60));
        let now = SystemTime::now();
        limiter.observe(&headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "30")]), now);
        assert_eq!(limiter.acquire(Duration::from_secs(10)).await, Err(Duration::from_secs(30)));
        let start = Instant::now();
        limiter.acquire(Duration::from_secs(900)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        limiter.acquire(Duration::from_secs(900)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }
}
