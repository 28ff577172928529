//! Time windows: half-open `[from, to)` ranges of local dates in an explicit time zone, their
//! day/week/month buckets, and the previous period.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// A half-open range of instants `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    /// First instant inside.
    pub from: DateTime<Utc>,
    /// First instant after.
    pub to: DateTime<Utc>,
}

impl Period {
    /// Whether `t` lies inside.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// Whether an optional time lies inside (a missing time never does).
    pub fn holds(&self, t: Option<DateTime<Utc>>) -> bool {
        t.is_some_and(|t| self.contains(t))
    }

    /// Length in days (fractional).
    pub fn days(&self) -> f64 {
        (self.to - self.from).num_milliseconds() as f64 / 86_400_000.0
    }
}

/// Bucket size of a grouped metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// Local calendar days.
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
}

impl std::str::FromStr for Grain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(Grain::Day),
            "week" => Ok(Grain::Week),
            "month" => Ok(Grain::Month),
            other => Err(format!("unknown grouping `{other}`: use day, week or month")),
        }
    }
}

/// A window of local dates `[from, to)` in a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First local date inside.
    pub from: NaiveDate,
    /// First local date after.
    pub to: NaiveDate,
    /// The time zone the dates are in.
    pub tz: Tz,
}

/// One bucket of a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// `2024-03-05` (day), `2024-W10` (ISO week), `2024-03` (month), or `from..to` for the whole
    /// window.
    pub label: String,
    /// The bucket's instants.
    pub period: Period,
}

/// The first instant of a local date: local midnight, or the first valid local time after it
/// when a DST gap swallows midnight.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut t = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..48 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt.with_timezone(&Utc);
        }
        t += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

impl Window {
    /// A window, or an error when `to` is not after `from`.
    pub fn new(from: NaiveDate, to: NaiveDate, tz: Tz) -> Result<Window, String> {
        if to <= from {
            return Err(format!("the window is empty: --to {to} is not after --from {from}"));
        }
        Ok(Window { from, to, tz })
    }

    /// The window's instants.
    pub fn period(&self) -> Period {
        Period { from: start_of_day(self.from, self.tz), to: start_of_day(self.to, self.tz) }
    }

    /// The window of the same number of days just before this one.
    pub fn previous(&self) -> Window {
        let days = (self.to - self.from).num_days().max(0) as u64;
        let from = self.from.checked_sub_days(Days::new(days)).unwrap_or(self.from);
        Window { from, to: self.from, tz: self.tz }
    }

    /// The window split into buckets (the first and last clipped to the window); the whole
    /// window as one bucket when `grain` is `None`.
    pub fn buckets(&self, grain: Option<Grain>) -> Vec<Bucket> {
        let Some(grain) = grain else {
            return vec![Bucket { label: format!("{}..{}", self.from, self.to), period: self.period() }];
        };
        let mut out = Vec::new();
        let mut start = self.from;
        while start < self.to {
            let (label, natural_end) = match grain {
                Grain::Day => (start.to_string(), start.succ_opt().unwrap_or(start)),
                Grain::Week => {
                    let monday =
                        start - chrono::Duration::days(i64::from(start.weekday().num_days_from_monday()));
                    let iso = monday.iso_week();
                    (format!("{}-W{:02}", iso.year(), iso.week()), monday + chrono::Duration::days(7))
                }
                Grain::Month => {
                    let first = start.with_day(1).unwrap_or(start);
                    (format!("{:04}-{:02}", first.year(), first.month()), first + Months::new(1))
                }
            };
            let end = natural_end.min(self.to);
            if end <= start {
                break;
            }
            out.push(Bucket {
                label,
                period: Period { from: start_of_day(start, self.tz), to: start_of_day(end, self.tz) },
            });
            start = end;
        }
        out
    }
}

/// Parses a time zone name: an IANA name (`Europe/Warsaw`) or `UTC`.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("unknown time zone `{name}`: use an IANA name such as Europe/Warsaw or UTC"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_window_is_half_open_in_its_time_zone() {
        let w = Window::new(d("2024-03-01"), d("2024-03-02"), parse_tz("Europe/Warsaw").unwrap()).unwrap();
        let p = w.period();
        assert_eq!(p.from.to_rfc3339(), "2024-02-29T23:00:00+00:00");
        assert_eq!(p.to.to_rfc3339(), "2024-03-01T23:00:00+00:00");
        assert!(p.contains(p.from) && !p.contains(p.to));
        assert!(Window::new(d("2024-03-01"), d("2024-03-01"), Tz::UTC).is_err());
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        let tz = parse_tz("Europe/Warsaw").unwrap();
        let spring = Window::new(d("2024-03-31"), d("2024-04-01"), tz).unwrap();
        assert_eq!(spring.period().days(), 23.0 / 24.0);
        let autumn = Window::new(d("2024-10-27"), d("2024-10-28"), tz).unwrap();
        assert_eq!(autumn.period().days(), 25.0 / 24.0);
    }

    #[test]
    fn buckets_by_day_week_and_month() {
        let w = Window::new(d("2024-01-30"), d("2024-02-13"), Tz::UTC).unwrap();
        let days = w.buckets(Some(Grain::Day));
        assert_eq!(days.len(), 14);
        assert_eq!(days[0].label, "2024-01-30");
        let weeks: Vec<String> = w.buckets(Some(Grain::Week)).into_iter().map(|b| b.label).collect();
        assert_eq!(weeks, ["2024-W05", "2024-W06", "2024-W07"]);
        let weeks = w.buckets(Some(Grain::Week));
        assert_eq!(weeks[0].period.from.to_rfc3339(), "2024-01-30T00:00:00+00:00", "clipped to the window");
        assert_eq!(weeks[1].period.from.to_rfc3339(), "2024-02-05T00:00:00+00:00", "a Monday");
        assert_eq!(weeks[2].period.to.to_rfc3339(), "2024-02-13T00:00:00+00:00");
        let months: Vec<String> = w.buckets(Some(Grain::Month)).into_iter().map(|b| b.label).collect();
        assert_eq!(months, ["2024-01", "2024-02"]);
        assert_eq!(w.buckets(None)[0].label, "2024-01-30..2024-02-13");
    }

    #[test]
    fn previous_period_has_the_same_length() {
        let w = Window::new(d("2024-03-01"), d("2024-03-31"), Tz::UTC).unwrap();
        let p = w.previous();
        assert_eq!((p.from, p.to), (d("2024-01-31"), d("2024-03-01")));
    }
}
