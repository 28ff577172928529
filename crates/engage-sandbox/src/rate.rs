//! Rolling-window request counting, the building block of every vendor's rate limits.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The outcome of asking a window for one more request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Admitted; this many requests remain in the window.
    Ok {
        /// Requests left in the current window after this one.
        remaining: u64,
    },
    /// Refused; a request is admitted again after this many whole seconds.
    Limited {
        /// Seconds until the oldest counted request leaves the window (at least 1).
        retry_after: u64,
    },
    /// No limit is configured.
    Unlimited,
}

/// Rolling windows keyed by (account, endpoint class): each remembers the instants of the
/// requests it admitted during the last `window`.
#[derive(Debug)]
pub struct RateLimiter {
    window: Duration,
    windows: Mutex<HashMap<(String, &'static str), VecDeque<Instant>>>,
}

impl RateLimiter {
    /// A limiter whose windows span `window` (a minute for most vendors).
    pub fn new(window: Duration) -> Self {
        RateLimiter { window, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one request of `account` against `class` with at most `limit` per window
    /// (0 = unlimited). A refused request is not counted.
    pub fn admit(&self, account: &str, class: &'static str, limit: u64) -> Admit {
        if limit == 0 {
            return Admit::Unlimited;
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.entry((account.to_owned(), class)).or_default();
        while window.front().is_some_and(|&t| now.duration_since(t) >= self.window) {
            window.pop_front();
        }
        if window.len() as u64 >= limit {
            let oldest = window.front().copied().unwrap_or(now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Admit::Limited { retry_after: secs.max(1) };
        }
        window.push_back(now);
        Admit::Ok { remaining: limit - window.len() as u64 }
    }

    /// How many requests `account` may still make in `class` now (without counting one).
    pub fn remaining(&self, account: &str, class: &'static str, limit: u64) -> u64 {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let used = windows
            .get(&(account.to_owned(), class))
            .map_or(0, |w| w.iter().filter(|&&t| now.duration_since(t) < self.window).count() as u64);
        limit.saturating_sub(used)
    }

    /// Forgets every counted request.
    pub fn reset(&self) {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_then_recovers() {
        let rl = RateLimiter::new(Duration::from_millis(200));
        assert_eq!(rl.admit("a", "x", 2), Admit::Ok { remaining: 1 });
        assert_eq!(rl.admit("a", "x", 2), Admit::Ok { remaining: 0 });
        assert_eq!(rl.admit("a", "x", 2), Admit::Limited { retry_after: 1 });
        assert_eq!(rl.admit("b", "x", 2), Admit::Ok { remaining: 1 });
        assert_eq!(rl.admit("a", "x", 0), Admit::Unlimited);
        std::thread::sleep(Duration::from_millis(220));
        assert_eq!(rl.admit("a", "x", 2), Admit::Ok { remaining: 1 });
        assert_eq!(rl.remaining("a", "x", 2), 1);
    }
}
