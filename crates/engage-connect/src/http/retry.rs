//! Backoff with full jitter, and the waits servers ask for (`Retry-After` and vendor headers).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use reqwest::header::HeaderMap;

/// Values above this are absolute Unix times rather than seconds from now.
const UNIX_TIME_THRESHOLD: f64 = 1e9;

/// Exponential backoff with full jitter: attempt `n` (from 0) waits a random time in
/// `[0, min(max, base * 2^n)]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// The cap of attempt `n`, before jitter.
    pub(crate) fn cap(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(2u32.saturating_pow(attempt.min(31))).min(self.max)
    }

    /// A random wait for attempt `n`.
    pub(crate) fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let cap = u64::try_from(self.cap(attempt).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.random_range(0..=cap))
    }
}

/// The first value of header `name`, when it is text.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// A non-negative number of seconds, possibly fractional (`"2.0"`).
pub(crate) fn parse_seconds(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::try_from_secs_f64(secs).ok()).flatten()
}

/// A `Retry-After` value: delta seconds or an HTTP-date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    parse_seconds(value).or_else(|| {
        let at = httpdate::parse_http_date(value.trim()).ok()?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// A reset value: an absolute Unix time when above 1e9, else seconds from now.
pub(crate) fn parse_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let reset: f64 = value.trim().parse().ok()?;
    if !reset.is_finite() || reset < 0.0 {
        return None;
    }
    if reset > UNIX_TIME_THRESHOLD {
        let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Duration::try_from_secs_f64((reset - now).max(0.0)).ok()
    } else {
        Duration::try_from_secs_f64(reset).ok()
    }
}

/// `Retry-After`, the only wait a 5xx may ask for.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    header_str(headers, "retry-after").and_then(|v| parse_retry_after(v, now))
}

/// The wait a 429 asks for: `Retry-After`, else the vendors' retry-after and reset headers.
pub(crate) fn throttle_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after(headers, now)
        .or_else(|| {
            ["x-ratelimit-retry-after", "x-rate-limit-retry-after"]
                .iter()
                .find_map(|name| header_str(headers, name).and_then(parse_seconds))
        })
        .or_else(|| reset_wait(headers, now))
}

/// The wait until the advertised reset of the rate-limit window.
pub(crate) fn reset_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    ["x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset"]
        .iter()
        .find_map(|name| header_str(headers, name).and_then(|v| parse_reset(v, now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn backoff_is_full_jitter_under_the_cap() {
        let backoff = Backoff { base: Duration::from_millis(500), max: Duration::from_secs(60) };
        assert_eq!(backoff.cap(0), Duration::from_millis(500));
        assert_eq!(backoff.cap(3), Duration::from_secs(4));
        assert_eq!(backoff.cap(7), Duration::from_secs(60));
        assert_eq!(backoff.cap(u32::MAX), Duration::from_secs(60));
        let mut rng = SmallRng::seed_from_u64(7);
        let delays: Vec<_> = (0..200).map(|_| backoff.delay(2, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(delays.iter().any(|d| *d < Duration::from_millis(500)), "jitter reaches low values");
        assert!(delays.iter().any(|d| *d > Duration::from_millis(1500)), "jitter reaches high values");
    }

    #[test]
    fn parses_waits() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("2.0", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_reset("1700000042", now), Some(Duration::from_secs(42)));
        assert_eq!(parse_reset("1600000000", now), Some(Duration::ZERO));
        assert_eq!(parse_reset("41", now), Some(Duration::from_secs(41)));
    }

    #[test]
    fn throttle_wait_prefers_retry_after_then_vendor_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = headers(&[("retry-after", "5"), ("x-ratelimit-reset", "1700000100")]);
        assert_eq!(throttle_wait(&h, now), Some(Duration::from_secs(5)));
        let h = headers(&[("x-ratelimit-retry-after", "7")]);
        assert_eq!(throttle_wait(&h, now), Some(Duration::from_secs(7)));
        let h = headers(&[("x-rate-limit-retry-after", "8")]);
        assert_eq!(throttle_wait(&h, now), Some(Duration::from_secs(8)));
        let h = headers(&[("x-rate-limit-reset", "1700000010")]);
        assert_eq!(throttle_wait(&h, now), Some(Duration::from_secs(10)));
        let h = headers(&[("ratelimit-reset", "12")]);
        assert_eq!(throttle_wait(&h, now), Some(Duration::from_secs(12)));
        let h = headers(&[("retry-after", "garbage"), ("content-type", "text/plain")]);
        assert_eq!(throttle_wait(&h, now), None);
    }
}
