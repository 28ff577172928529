//! Due-time arithmetic for one scheduled stream: the first due time, the stable jitter, and the
//! next due time after one was served (computed from the schedule, never from when the sync
//! ended).

use std::time::Duration;

use chrono::{DateTime, Utc};
use engage_config::Schedule;

/// Most occurrences counted as skipped after a long outage (the count is for the log only).
const MAX_SKIPPED_COUNT: u64 = 100_000;

/// The schedule of one (connection, stream).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Connection name.
    pub connection: String,
    /// Stream name.
    pub stream: String,
    /// Its effective schedule (the stream's own, the connection's, or the default).
    pub schedule: Schedule,
}

/// The due time to serve after one was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Next {
    /// The next due time.
    pub due: DateTime<Utc>,
    /// Due times passed over because they were all already past (served once, as `due`).
    pub skipped: u64,
}

impl Plan {
    /// The schedule as stored in `sync_schedule.cadence`.
    pub fn cadence(&self) -> String {
        self.schedule.cadence.to_string()
    }

    /// The due time a newly scheduled stream serves first: the latest at or before `now`, so a
    /// new stream syncs at once.
    pub fn first_due(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.schedule.latest_at_or_before(now)
    }

    /// When the sync of `due` may start: `due` plus a stable share of the jitter (the same in
    /// every runner, different for each stream and due time).
    pub fn start_after(&self, due: DateTime<Utc>) -> DateTime<Utc> {
        let jitter = self.schedule.jitter.as_millis() as u64;
        if jitter == 0 {
            return due;
        }
        let key = format!("{}/{}/{}", self.connection, self.stream, due.timestamp());
        let offset = fnv1a(key.as_bytes()) % jitter;
        due + chrono::Duration::milliseconds(offset as i64)
    }

    /// The due time after `served`: the schedule's next one; when that is already past and
    /// later ones are too (the sync or an outage ran long), the latest past one, served once.
    pub fn next_after(&self, served: DateTime<Utc>, now: DateTime<Utc>) -> Next {
        let next = self.schedule.next_after(served);
        let latest = self.schedule.latest_at_or_before(now);
        if latest <= next {
            return Next { due: next, skipped: 0 };
        }
        let mut skipped = 0;
        let mut t = next;
        while t < latest && skipped < MAX_SKIPPED_COUNT {
            skipped += 1;
            t = self.schedule.next_after(t);
        }
        Next { due: latest, skipped }
    }
}

/// Wait before retry number `attempt` (1-based): `base`, doubled for each further retry, at
/// most a day.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(Duration::from_secs(86_400))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_config::{Cadence, Cron};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn plan(cadence: Cadence, jitter: u64) -> Plan {
        let mut schedule = Schedule::new(cadence);
        schedule.jitter = Duration::from_secs(jitter);
        Plan { connection: "support".into(), stream: "tickets".into(), schedule }
    }

    #[test]
    fn next_due_comes_from_the_schedule_not_from_the_end_of_the_sync() {
        let p = plan(Cadence::Every(Duration::from_secs(900)), 0);
        assert_eq!(p.first_due(at("2025-06-01T10:07:00Z")), at("2025-06-01T10:00:00Z"));
        // Served quickly, or ending after the next due time: the next one is the next slot.
        let next = p.next_after(at("2025-06-01T10:00:00Z"), at("2025-06-01T10:01:00Z"));
        assert_eq!(next, Next { due: at("2025-06-01T10:15:00Z"), skipped: 0 });
        let next = p.next_after(at("2025-06-01T10:00:00Z"), at("2025-06-01T10:20:00Z"));
        assert_eq!(next, Next { due: at("2025-06-01T10:15:00Z"), skipped: 0 });
        // Down for an hour: the four slots passed are served once, as the latest.
        let next = p.next_after(at("2025-06-01T10:00:00Z"), at("2025-06-01T11:05:00Z"));
        assert_eq!(next, Next { due: at("2025-06-01T11:00:00Z"), skipped: 3 });
    }

    #[test]
    fn cron_plans_follow_the_time_zone() {
        let p = plan(Cadence::Cron(Cron::parse("0 */6 * * *", "America/New_York").unwrap()), 0);
        // 10:07Z is 06:07 EDT: the 06:00 slot (10:00Z) is the first.
        assert_eq!(p.first_due(at("2025-06-01T10:07:00Z")), at("2025-06-01T10:00:00Z"));
        assert_eq!(
            p.next_after(at("2025-06-01T10:00:00Z"), at("2025-06-01T10:30:00Z")).due,
            at("2025-06-01T16:00:00Z")
        );
    }

    #[test]
    fn jitter_is_stable_and_within_bounds() {
        let p = plan(Cadence::Every(Duration::from_secs(900)), 120);
        let due = at("2025-06-01T10:00:00Z");
        let start = p.start_after(due);
        assert_eq!(start, p.start_after(due));
        assert!(start >= due && start < due + chrono::Duration::seconds(120));
        let other = Plan { stream: "users".into(), ..p.clone() };
        let starts: std::collections::BTreeSet<_> =
            (0..20).map(|i| other.start_after(due + chrono::Duration::seconds(900 * i))).collect();
        assert!(starts.len() == 20);
        assert_eq!(plan(Cadence::Every(Duration::from_secs(900)), 0).start_after(due), due);
    }

    #[test]
    fn backoff_doubles() {
        let base = Duration::from_secs(60);
        assert_eq!([1, 2, 3, 4].map(|a| backoff(base, a).as_secs()), [60, 120, 240, 480]);
        assert_eq!(backoff(base, 40), Duration::from_secs(86_400));
    }
}
