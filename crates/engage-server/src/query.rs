//! Query strings: the options of `engage metrics` (window, grouping, filters, variants) read
//! from `?from=...&to=...`, with repeated keys for the repeatable filters.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use engage_metrics::{Filters, Grain, NeutralPolicy, OneTouch, Params, Window};

use crate::api::ApiError;

/// The pairs of a query string, in order.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

/// Longest window served, in days (ten years).
pub const MAX_DAYS: i64 = 3_660;
/// Most buckets served in one answer.
pub const MAX_BUCKETS: usize = 1_000;

impl Query {
    /// Parses a raw query string (`None`: no query).
    pub fn parse(raw: Option<&str>) -> Query {
        Query(form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect())
    }

    /// The value of a single-valued key (the last one when repeated); empty counts as absent.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// Every value of a repeatable key (comma-separated values split), empty ones left out.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A boolean flag: `true`/`1`/`yes` or `false`/`0`/`no`; absent is `default`.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.one(key) {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(ApiError::bad(format!("`{key}` must be true or false, not `{other}`"))),
        }
    }

    /// A whole number within `min..=max`; absent is `default`.
    pub fn number(&self, key: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.one(key) {
            None => Ok(default),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad(format!("`{key}` must be a whole number from {min} to {max}"))),
            },
        }
    }

    /// The pairs, for links that keep the query.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The query with `key` set to `value` (other values of `key` dropped), encoded.
    pub fn with(&self, key: &str, value: &str) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| k != key) {
            out.append_pair(k, v);
        }
        out.append_pair(key, value);
        out.finish()
    }
}

/// What the metric endpoints compute: the options of `engage metrics NAME` and `overview`.
#[derive(Debug, Clone)]
pub struct MetricQuery {
    /// Window and time zone.
    pub window: Window,
    /// Buckets.
    pub grain: Option<Grain>,
    /// Filters.
    pub filters: Filters,
    /// Variants.
    pub params: Params,
    /// Previous period asked for.
    pub compare: bool,
    /// Reference path asked for.
    pub reference: bool,
}

fn date(q: &Query, key: &str) -> Result<Option<NaiveDate>, ApiError> {
    let Some(text) = q.one(key) else { return Ok(None) };
    let d = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ApiError::bad(format!("`{key}` must be a date such as 2024-03-01, not `{text}`")))?;
    if !(1900..=2200).contains(&d.year()) {
        return Err(ApiError::bad(format!("`{key}` must be a date between the years 1900 and 2200")));
    }
    Ok(Some(d))
}

/// Reads the metric options; an absent window is the `default_days` up to today (inclusive)
/// and an absent grouping is `default_by`.
pub fn metric_query(
    q: &Query,
    default_days: i64,
    default_by: Option<Grain>,
) -> Result<MetricQuery, ApiError> {
    let tz = engage_metrics::parse_tz(q.one("tz").unwrap_or("UTC")).map_err(ApiError::bad)?;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let to = date(q, "to")?.unwrap_or(today + Duration::days(1));
    let from = match date(q, "from")? {
        Some(d) => d,
        None => to.checked_sub_signed(Duration::days(default_days)).unwrap_or(to),
    };
    let window = Window::new(from, to, tz).map_err(ApiError::bad)?;
    if (to - from).num_days() > MAX_DAYS {
        return Err(ApiError::bad(format!("the window is longer than {MAX_DAYS} days")));
    }
    let grain = match q.one("by") {
        None => default_by,
        Some("none") => None,
        Some(by) => Some(by.parse::<Grain>().map_err(ApiError::bad)?),
    };
    if grain.is_some() && window.buckets(grain).len() > MAX_BUCKETS {
        return Err(ApiError::bad(format!("more than {MAX_BUCKETS} buckets: group by a longer period")));
    }
    let filters = Filters {
        connections: q.all("connection"),
        channels: q.all("channel"),
        locations: q.all("location"),
    };
    Ok(MetricQuery {
        window,
        grain,
        filters,
        params: params(q)?,
        compare: q.flag("compare", false)?,
        reference: q.flag("reference", false)?,
    })
}

/// The metric variants (defaults as in `engage metrics list`).
fn params(q: &Query) -> Result<Params, ApiError> {
    let defaults = Params::default();
    let csat_neutral = match q.one("csat_neutral") {
        None | Some("negative") => NeutralPolicy::CountAsNegative,
        Some("exclude") => NeutralPolicy::ExcludeFromDenominator,
        Some(_) => return Err(ApiError::bad("`csat_neutral` must be negative or exclude")),
    };
    let one_touch = match q.one("one_touch") {
        None | Some("strict") => OneTouch::Strict,
        Some("zendesk-legacy") => OneTouch::ZendeskLegacy,
        Some(_) => return Err(ApiError::bad("`one_touch` must be strict or zendesk-legacy")),
    };
    let positive_stars = match q.one("positive_stars") {
        None => 4.0,
        Some(text) => match text.parse::<f64>() {
            Ok(v) if (1.0..=5.0).contains(&v) => v,
            _ => return Err(ApiError::bad("`positive_stars` must be a number from 1 to 5")),
        },
    };
    let ces_points = q.number("ces_points", 7, 2, 100)? as u32;
    let kinds = q.all("engagement_kinds");
    Ok(Params {
        csat_neutral,
        human_opens: !q.flag("all_opens", false)?,
        one_touch,
        positive_stars,
        ces_points,
        engagement_kinds: if kinds.is_empty() { defaults.engagement_kinds.clone() } else { kinds },
        ..defaults
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_repeated_and_comma_separated_values() {
        let q = Query::parse(Some("connection=a&connection=b%2Cc&tz=Europe%2FWarsaw&compare=1&by="));
        assert_eq!(q.all("connection"), ["a", "b", "c"]);
        assert_eq!(q.one("tz"), Some("Europe/Warsaw"));
        assert_eq!(q.one("by"), None);
        assert!(q.flag("compare", false).is_ok_and(|f| f));
        assert!(q.flag("reference", false).is_ok_and(|f| !f));
        assert!(Query::parse(Some("compare=maybe")).flag("compare", false).is_err());
        assert_eq!(q.with("tz", "UTC"), "connection=a&connection=b%2Cc&compare=1&by=&tz=UTC");
    }

    #[test]
    fn a_metric_query_checks_every_option() {
        let q = Query::parse(Some("from=2024-03-01&to=2024-04-01&tz=Europe/Warsaw&by=week&compare=true"));
        let m = metric_query(&q, 30, None).map_err(|e| e.message).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.window.from, NaiveDate::from_ymd_opt(2024, 3, 1).unwrap_or_default());
        assert_eq!(m.grain, Some(Grain::Week));
        assert!(m.compare && !m.reference);
        for (bad, message) in [
            ("from=2024-04-01&to=2024-03-01", "the window is empty"),
            ("from=2024-13-01", "`from` must be a date"),
            ("from=0001-01-01", "between the years 1900 and 2200"),
            ("from=1990-01-01&to=2024-01-01", "longer than 3660 days"),
            ("from=2000-01-01&to=2009-01-01&by=day", "more than 1000 buckets"),
            ("tz=Mars/Olympus", "unknown time zone"),
            ("by=year", "unknown grouping"),
            ("positive_stars=6", "`positive_stars`"),
            ("ces_points=1", "`ces_points`"),
            ("csat_neutral=half", "`csat_neutral`"),
        ] {
            let err = metric_query(&Query::parse(Some(bad)), 30, None).err().map(|e| e.message);
            assert!(err.as_deref().is_some_and(|e| e.contains(message)), "{bad}: {err:?}");
        }
    }
}
