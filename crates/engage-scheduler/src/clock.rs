//! The scheduler's clock: wall time, wall time sped up (for accelerated tests across several
//! processes), or tokio's time (which tests pause and advance).

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What "now" is for the scheduler, and how to wait in its time.
#[derive(Clone, Debug)]
pub struct Clock {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// `epoch + (wall now - epoch) * scale`.
    Wall { epoch: DateTime<Utc>, scale: f64 },
    /// `origin` plus the tokio time elapsed since `start`.
    Tokio { origin: DateTime<Utc>, start: tokio::time::Instant },
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock { kind: Kind::Wall { epoch: Utc::now(), scale: 1.0 } }
    }

    /// Wall time running `scale` times faster from `epoch`. Processes given the same epoch
    /// and scale agree on the time.
    pub fn scaled(epoch: DateTime<Utc>, scale: f64) -> Clock {
        Clock {
            kind: Kind::Wall { epoch, scale: if scale.is_finite() && scale > 0.0 { scale } else { 1.0 } },
        }
    }

    /// Tokio's time from `origin` on: under `tokio::time::pause` it moves only when the test
    /// advances it (or the runtime has nothing else to do).
    pub fn tokio(origin: DateTime<Utc>) -> Clock {
        Clock { kind: Kind::Tokio { origin, start: tokio::time::Instant::now() } }
    }

    /// How many times faster than wall time this clock runs.
    pub fn scale(&self) -> f64 {
        match self.kind {
            Kind::Wall { scale, .. } => scale,
            Kind::Tokio { .. } => 1.0,
        }
    }

    /// Now, in scheduler time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.kind {
            Kind::Wall { epoch, scale } => {
                if *scale == 1.0 {
                    return Utc::now();
                }
                let elapsed = (Utc::now() - *epoch).num_microseconds().unwrap_or(i64::MAX) as f64;
                *epoch + chrono::Duration::microseconds((elapsed * scale) as i64)
            }
            Kind::Tokio { origin, start } => {
                *origin + chrono::Duration::from_std(start.elapsed()).unwrap_or(chrono::Duration::MAX)
            }
        }
    }

    /// The real time that `d` of scheduler time takes.
    pub fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.scale())
    }

    /// Waits `d` of scheduler time.
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(self.real(d)).await;
    }

    /// Waits until `t` in scheduler time.
    pub async fn sleep_until(&self, t: DateTime<Utc>) {
        loop {
            let left = (t - self.now()).to_std().unwrap_or(Duration::ZERO);
            if left.is_zero() {
                return;
            }
            self.sleep(left).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let origin = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let clock = Clock::tokio(origin);
        assert_eq!(clock.now(), origin);
        clock.sleep(Duration::from_secs(900)).await;
        assert_eq!(clock.now(), origin + chrono::Duration::seconds(900));
        clock.sleep_until(origin + chrono::Duration::seconds(3_600)).await;
        assert_eq!(clock.now(), origin + chrono::Duration::seconds(3_600));
    }

    #[test]
    fn scaled_clock_runs_faster() {
        let epoch = Utc::now() - chrono::Duration::seconds(10);
        let clock = Clock::scaled(epoch, 360.0);
        let ahead = clock.now() - epoch;
        // Ten real seconds are an hour.
        assert!(
            ahead >= chrono::Duration::seconds(3_600) && ahead < chrono::Duration::seconds(3_700),
            "{ahead}"
        );
        assert_eq!(clock.real(Duration::from_secs(3_600)), Duration::from_secs(10));
    }
}
