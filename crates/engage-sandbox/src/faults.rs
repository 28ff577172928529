//! Fault injection: what can go wrong on a route, decided deterministically from the seed, the
//! route and the request's sequence number on that route.

use std::time::Duration;

use crate::rng;

/// The faults configured for one route (or for all routes). Rates are probabilities in `[0, 1]`;
/// the transport faults (`reset_rate`, `error_rate`, `throttle_rate`, `truncated_rate`) are
/// mutually exclusive bands of one draw per request, so their sum should stay at or below 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Share of requests answered with a 5xx (500 or 503).
    pub error_rate: f64,
    /// Share of requests answered with an injected 429.
    pub throttle_rate: f64,
    /// `Retry-After` seconds on injected 429s; `None` sends a `text/plain` 429 without
    /// `Retry-After`. `None` also removes `Retry-After` from the simulator's real rate limiter.
    pub throttle_retry_after: Option<u64>,
    /// Delay before every response on the route.
    pub latency: Duration,
    /// Share of requests whose connection is closed without any response.
    pub reset_rate: f64,
    /// Share of responses whose body is cut in the middle (with a `Content-Length` that matches
    /// the cut body, so the client reads syntactically broken JSON).
    pub truncated_rate: f64,
    /// Share of records served with a bad field; decided per record, so ground truth knows which.
    pub malformed_rate: f64,
    /// Answer every request with the vendor's 401, whatever the credentials.
    pub fail_auth: bool,
    /// Answer every request with this status and the vendor's body for it (e.g. 403).
    pub status_override: Option<u16>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            throttle_rate: 0.0,
            throttle_retry_after: Some(1),
            latency: Duration::ZERO,
            reset_rate: 0.0,
            truncated_rate: 0.0,
            malformed_rate: 0.0,
            fail_auth: false,
            status_override: None,
        }
    }
}

/// The transport fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Serve normally.
    None,
    /// Close the connection without a response.
    Reset,
    /// Answer with this 5xx status.
    ServerError(u16),
    /// Answer with an injected 429.
    Throttle,
    /// Serve, then cut the body in the middle.
    Truncate,
}

impl Faults {
    /// The fault for request number `n` (0-based) on `route`: a pure function of its inputs.
    pub fn decide(&self, seed: u64, route: &str, n: u64) -> Fault {
        let h = rng::hash(seed, &[rng::tag(route), n, 0xFA17]);
        let u = rng::unit(h);
        let mut edge = self.reset_rate;
        if u < edge {
            return Fault::Reset;
        }
        edge += self.error_rate;
        if u < edge {
            return Fault::ServerError(if h & 1 == 0 { 500 } else { 503 });
        }
        edge += self.throttle_rate;
        if u < edge {
            return Fault::Throttle;
        }
        edge += self.truncated_rate;
        if u < edge {
            return Fault::Truncate;
        }
        Fault::None
    }

    /// Whether the record identified by `key` in `stream` is served malformed, and which of two
    /// malformations it gets (`Some(0)`: a bad timestamp, `Some(1)`: a non-numeric id).
    pub fn malformation(&self, seed: u64, stream: &str, key: u64) -> Option<u8> {
        if self.malformed_rate <= 0.0 {
            return None;
        }
        let h = rng::hash(seed, &[rng::tag(stream), key, 0xBAD]);
        (rng::unit(h) < self.malformed_rate).then_some((h & 1) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_rates() {
        let f = Faults {
            reset_rate: 0.1,
            error_rate: 0.2,
            throttle_rate: 0.1,
            truncated_rate: 0.1,
            ..Faults::default()
        };
        let n = 20_000;
        let count =
            |want: fn(Fault) -> bool| (0..n).filter(|&i| want(f.decide(3, "r", i))).count() as f64 / n as f64;
        assert!((count(|x| x == Fault::Reset) - 0.1).abs() < 0.01);
        assert!((count(|x| matches!(x, Fault::ServerError(_))) - 0.2).abs() < 0.01);
        assert!((count(|x| x == Fault::Throttle) - 0.1).abs() < 0.01);
        assert!((count(|x| x == Fault::Truncate) - 0.1).abs() < 0.01);
        assert_eq!(Faults::default().decide(3, "r", 5), Fault::None);
    }
}
