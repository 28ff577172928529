//! Schedules: when a connection's streams are due. `every = "15m"` (instants aligned on the Unix
//! epoch, so every runner agrees on them) or `cron = "0 */6 * * *"` read in a `timezone`, plus a
//! `jitter` that delays each start by a stable amount so many streams do not start at once.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// When a connection (or one of its streams) is due.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The due instants.
    pub cadence: Cadence,
    /// Each start is delayed by a stable amount in `[0, jitter)` after its due time.
    pub jitter: Duration,
    /// Per-stream schedules that replace this one for the streams they name.
    pub streams: BTreeMap<String, Schedule>,
}

impl Schedule {
    /// A schedule of `cadence` with no jitter and no per-stream schedules.
    pub fn new(cadence: Cadence) -> Self {
        Self { cadence, jitter: Duration::ZERO, streams: BTreeMap::new() }
    }

    /// The schedule of `stream`: its own when it has one, else this one.
    pub fn for_stream(&self, stream: &str) -> &Schedule {
        self.streams.get(stream).unwrap_or(self)
    }

    /// The first due instant strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.cadence.next_after(t)
    }

    /// The last due instant at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.cadence.latest_at_or_before(t)
    }
}

/// The due instants of a schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Cadence {
    /// Every multiple of the interval since 1970-01-01T00:00:00Z.
    Every(Duration),
    /// The instants a cron expression names in its time zone.
    Cron(Cron),
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cadence::Every(d) => write!(f, "every {}", format_duration(*d)),
            Cadence::Cron(c) => write!(f, "cron {} {}", c.expression, c.timezone),
        }
    }
}

impl Cadence {
    /// The first due instant strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Cadence::Every(interval) => {
                let n = interval.as_secs().max(1) as i64;
                let base = t.timestamp().div_euclid(n) * n;
                DateTime::from_timestamp(base + n, 0).unwrap_or(t)
            }
            Cadence::Cron(cron) => cron.next_after(t),
        }
    }

    /// The last due instant at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Cadence::Every(interval) => {
                let n = interval.as_secs().max(1) as i64;
                DateTime::from_timestamp(t.timestamp().div_euclid(n) * n, 0).unwrap_or(t)
            }
            Cadence::Cron(cron) => cron.latest_at_or_before(t),
        }
    }
}

/// A five-field cron expression (`minute hour day-of-month month day-of-week`) read in a time
/// zone. Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, and names
/// for months (`jan`) and weekdays (`mon`; 0 and 7 are Sunday). When both day fields are
/// restricted, a day matching either is due (as in Vixie cron). A local time skipped by a
/// daylight-saving change does not occur; a repeated one occurs once, at its first instance.
#[derive(Clone, PartialEq)]
pub struct Cron {
    expression: String,
    timezone: Tz,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?} in {})", self.expression, self.timezone)
    }
}

/// Days searched for the next occurrence before giving up (an expression such as `0 0 31 2 *`
/// never occurs).
const SEARCH_DAYS: u64 = 366 * 8;

impl Cron {
    /// Parses `expression` (five fields, or `@hourly`, `@daily`, `@weekly`, `@monthly`,
    /// `@yearly`) to be read in `timezone` (an IANA name such as `Europe/Paris`, or `UTC`).
    pub fn parse(expression: &str, timezone: &str) -> Result<Cron, String> {
        let timezone: Tz = timezone.parse().map_err(|_| {
            format!(
                "unknown time zone `{}` (use an IANA name such as `Europe/Paris`)",
                timezone.escape_debug()
            )
        })?;
        let text = match expression.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(format!(
                "a cron expression has five fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        };
        const MONTHS: [&str; 12] =
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
        const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        let minutes = field(minute, "minute", 0, 59, &[])?;
        let hours = field(hour, "hour", 0, 23, &[])?;
        let days = field(day, "day-of-month", 1, 31, &[])?;
        let months = field(month, "month", 1, 12, &MONTHS)?;
        let mut weekdays = field(weekday, "day-of-week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f;
        }
        let cron = Cron {
            expression: expression.trim().to_owned(),
            timezone,
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_restricted: !day.starts_with('*'),
            weekdays_restricted: !weekday.starts_with('*'),
        };
        let epoch = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
        if !(0..SEARCH_DAYS)
            .any(|d| epoch.checked_add_days(Days::new(d)).is_some_and(|d| cron.day_matches(d)))
        {
            return Err(format!("the cron expression `{}` never occurs", text.escape_debug()));
        }
        Ok(cron)
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone it is read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let by_day = self.days & (1 << date.day()) != 0;
        let by_weekday = self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => by_day || by_weekday,
            _ => by_day && by_weekday,
        }
    }

    /// The instants of one local day, in order.
    fn occurrences(&self, date: NaiveDate) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        if !self.day_matches(date) {
            return out;
        }
        for hour in (0..24).filter(|h| self.hours & (1 << h) != 0) {
            for minute in (0..60).filter(|m| self.minutes & (1 << m) != 0) {
                let Some(local) = date.and_hms_opt(hour, minute, 0) else { continue };
                match self.timezone.from_local_datetime(&local) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => out.push(t.with_timezone(&Utc)),
                    LocalResult::None => {}
                }
            }
        }
        out.sort();
        out
    }

    /// The first instant strictly after `t` (`t` itself when the expression never occurs).
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let start = t.with_timezone(&self.timezone).date_naive() - Days::new(1);
        for offset in 0..SEARCH_DAYS {
            let Some(date) = start.checked_add_days(Days::new(offset)) else { break };
            if let Some(found) = self.occurrences(date).into_iter().find(|o| *o > t) {
                return found;
            }
        }
        t
    }

    /// The last instant at or before `t` (`t` itself when the expression never occurs).
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let start = t.with_timezone(&self.timezone).date_naive() + Days::new(1);
        for offset in 0..SEARCH_DAYS {
            let Some(date) = start.checked_sub_days(Days::new(offset)) else { break };
            if let Some(found) = self.occurrences(date).into_iter().rev().find(|o| *o <= t) {
                return found;
            }
        }
        t
    }
}

/// One cron field as a bit set of the allowed values.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let bad = |why: &str| format!("cron {name} field `{}`: {why}", text.escape_debug());
    let value = |s: &str| -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            // Month names count from 1, weekday names from 0 (Sunday).
            return Ok(i as u32 + min);
        }
        let n: u32 = s.parse().map_err(|_| bad(&format!("`{}` is not a number", s.escape_debug())))?;
        if n < min || n > max {
            return Err(bad(&format!("{n} is outside {min}-{max}")));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| bad("the step after `/` must be a number"))?;
                if step == 0 {
                    return Err(bad("the step must be at least 1"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if step > 1 { max } else { v })
        };
        if lo > hi {
            return Err(bad(&format!("the range {lo}-{hi} is backwards")));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

/// Parses a duration such as `90s`, `15m`, `1h30m`, `2d` or `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration `{}`: use a number and a unit (ms, s, m, h, d), e.g. `90s`, `15m`, `1h30m`",
            text.escape_debug()
        )
    };
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3_600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(unit);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A duration as the largest units that express it exactly (`1h30m`, `90s` → `1m30s`).
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.is_zero() {
        return format!("{}ms", d.as_millis());
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cron(e: &str, tz: &str) -> Cadence {
        Cadence::Cron(Cron::parse(e, tz).unwrap())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "15", "m", "1.5h", "10 minutes", "-1s", "1w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1500ms");
    }

    #[test]
    fn every_is_aligned_on_the_epoch() {
        let every = Cadence::Every(Duration::from_secs(900));
        assert_eq!(every.next_after(at("2025-06-01T10:07:12Z")), at("2025-06-01T10:15:00Z"));
        assert_eq!(every.next_after(at("2025-06-01T10:15:00Z")), at("2025-06-01T10:30:00Z"));
        assert_eq!(every.latest_at_or_before(at("2025-06-01T10:15:00Z")), at("2025-06-01T10:15:00Z"));
        assert_eq!(every.latest_at_or_before(at("2025-06-01T10:29:59.9Z")), at("2025-06-01T10:15:00Z"));
    }

    #[test]
    fn cron_steps_lists_and_names() {
        let c = cron("0 */6 * * *", "UTC");
        assert_eq!(c.next_after(at("2025-06-01T10:07:00Z")), at("2025-06-01T12:00:00Z"));
        assert_eq!(c.next_after(at("2025-06-01T18:00:00Z")), at("2025-06-02T00:00:00Z"));
        assert_eq!(c.latest_at_or_before(at("2025-06-01T10:07:00Z")), at("2025-06-01T06:00:00Z"));
        let c = cron("30 9 * * mon-fri", "UTC");
        // 2025-06-07 is a Saturday.
        assert_eq!(c.next_after(at("2025-06-06T10:00:00Z")), at("2025-06-09T09:30:00Z"));
        let c = cron("15,45 8-10/2 1 jan,jul *", "UTC");
        assert_eq!(c.next_after(at("2025-06-01T00:00:00Z")), at("2025-07-01T08:15:00Z"));
        assert_eq!(c.next_after(at("2025-07-01T08:45:00Z")), at("2025-07-01T10:15:00Z"));
        // Both day fields restricted: either matches (the 13th, or a Friday).
        let c = cron("0 0 13 * 5", "UTC");
        assert_eq!(c.next_after(at("2025-06-01T00:00:00Z")), at("2025-06-06T00:00:00Z"));
        assert_eq!(c.next_after(at("2025-06-06T00:00:00Z")), at("2025-06-13T00:00:00Z"));
        assert_eq!(
            cron("0 0 * * 7", "UTC").next_after(at("2025-06-01T00:00:00Z")),
            at("2025-06-08T00:00:00Z")
        );
        assert_eq!(cron("@daily", "UTC").next_after(at("2025-06-01T00:00:00Z")), at("2025-06-02T00:00:00Z"));
    }

    #[test]
    fn cron_in_a_time_zone_across_daylight_saving() {
        let c = cron("30 2 * * *", "Europe/Paris");
        // Summer: 02:30 CEST is 00:30Z.
        assert_eq!(c.next_after(at("2025-06-01T00:00:00Z")), at("2025-06-01T00:30:00Z"));
        // 2025-03-30: 02:30 does not exist in Paris; the next one is on the 31st.
        assert_eq!(c.next_after(at("2025-03-29T12:00:00Z")), at("2025-03-31T00:30:00Z"));
        // 2025-10-26: 02:30 happens twice; it runs once, at the first (CEST, 00:30Z).
        assert_eq!(c.next_after(at("2025-10-25T12:00:00Z")), at("2025-10-26T00:30:00Z"));
        assert_eq!(c.next_after(at("2025-10-26T00:30:00Z")), at("2025-10-27T01:30:00Z"));
        assert_eq!(c.latest_at_or_before(at("2025-10-27T01:29:00Z")), at("2025-10-26T00:30:00Z"));
    }

    #[test]
    fn cron_errors_say_which_field() {
        let err = |e: &str| Cron::parse(e, "UTC").unwrap_err();
        assert_eq!(
            err("0 */6 * *"),
            "a cron expression has five fields (minute hour day-of-month month day-of-week), found 4"
        );
        assert_eq!(err("60 * * * *"), "cron minute field `60`: 60 is outside 0-59");
        assert_eq!(err("0 * * foo *"), "cron month field `foo`: `foo` is not a number");
        assert_eq!(err("*/0 * * * *"), "cron minute field `*/0`: the step must be at least 1");
        assert_eq!(err("0 5-2 * * *"), "cron hour field `5-2`: the range 5-2 is backwards");
        assert_eq!(
            Cron::parse("0 * * * *", "Mars/Olympus").unwrap_err(),
            "unknown time zone `Mars/Olympus` (use an IANA name such as `Europe/Paris`)"
        );
        assert_eq!(err("0 0 31 2 *"), "the cron expression `0 0 31 2 *` never occurs");
        assert_eq!(
            cron("0 0 29 2 *", "UTC").next_after(at("2025-01-01T00:00:00Z")),
            at("2028-02-29T00:00:00Z")
        );
    }
}
