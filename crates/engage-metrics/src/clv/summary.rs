//! From purchases to the per-customer summary the models are fitted on: frequency x,
//! recency t_x, age T and mean repeat spend z̄ — derived exactly as Fader, Hardie & Lee do
//! for CDNOW.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

/// One purchase: who, on which (local) day, for how much.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    /// The customer's key (any stable id).
    pub customer: String,
    /// The day of the purchase, in the time zone the analysis uses.
    pub day: NaiveDate,
    /// Amount spent (net of refunds, in one currency).
    pub amount: f64,
}

/// How purchases become a calibration summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryOptions {
    /// Last day of the calibration period, inclusive.
    pub calibration_end: NaiveDate,
    /// Last day of the holdout period, inclusive; purchases after it are ignored.
    pub holdout_end: Option<NaiveDate>,
    /// Days in one model time unit (7: weeks, as in the papers).
    pub days_per_period: f64,
}

/// One customer's calibration summary (and holdout count).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerSummary {
    /// The customer's key.
    pub customer: String,
    /// Day of the first purchase (the customer's "birth").
    pub first_purchase: NaiveDate,
    /// x: repeat transactions in the calibration period (days with a purchase after the first).
    pub x: u32,
    /// t_x: time of the last calibration transaction since the first purchase (0 when x = 0).
    pub t_x: f64,
    /// T: time from the first purchase to the end of calibration.
    pub t: f64,
    /// z̄: mean value of the repeat transactions in calibration (None when x = 0).
    pub zbar: Option<f64>,
    /// Amount of the first purchase (day total).
    pub first_amount: f64,
    /// Repeat transactions after calibration, up to the holdout end (0 without a holdout).
    pub holdout_x: u32,
    /// Amount spent after calibration, up to the holdout end.
    pub holdout_amount: f64,
}

/// Summarises purchases per customer as the papers do: purchases on the same day merge into
/// one transaction (amounts summed); the first purchase day is the birth and is not a repeat;
/// x counts later purchase days up to `calibration_end` inclusive; t_x and T are day
/// differences divided by `days_per_period`; z̄ is the mean of the repeat days' totals.
/// Customers whose first purchase falls after `calibration_end` are left out. The result is
/// ordered by customer key.
pub fn summarize(purchases: &[Purchase], options: SummaryOptions) -> Vec<CustomerSummary> {
    let mut by_customer: BTreeMap<&str, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for p in purchases {
        if options.holdout_end.is_some_and(|end| p.day > end) {
            continue;
        }
        *by_customer.entry(&p.customer).or_default().entry(p.day).or_insert(0.0) += p.amount;
    }
    let period = options.days_per_period;
    let mut out = Vec::with_capacity(by_customer.len());
    for (customer, days) in by_customer {
        let Some((&first, &first_amount)) = days.iter().next() else { continue };
        if first > options.calibration_end {
            continue;
        }
        let mut x = 0u32;
        let mut last = first;
        let mut repeat_total = 0.0;
        let mut holdout_x = 0u32;
        let mut holdout_amount = 0.0;
        for (&day, &amount) in days.iter().skip(1) {
            if day <= options.calibration_end {
                x += 1;
                last = day;
                repeat_total += amount;
            } else {
                holdout_x += 1;
                holdout_amount += amount;
            }
        }
        let weeks = |d: NaiveDate| (d - first).num_days() as f64 / period;
        out.push(CustomerSummary {
            customer: customer.to_owned(),
            first_purchase: first,
            x,
            t_x: weeks(last),
            t: weeks(options.calibration_end),
            zbar: (x > 0).then(|| repeat_total / f64::from(x)),
            first_amount,
            holdout_x,
            holdout_amount,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn buy(c: &str, d: &str, amount: f64) -> Purchase {
        Purchase { customer: c.into(), day: day(d), amount }
    }

    #[test]
    fn merges_same_day_purchases_and_splits_calibration_from_holdout() {
        let purchases = vec![
            buy("a", "1997-01-01", 10.0),
            buy("a", "1997-01-01", 5.0),
            buy("a", "1997-01-15", 20.0),
            buy("a", "1997-01-15", 4.0),
            buy("a", "1997-01-29", 30.0),
            buy("a", "1997-02-05", 7.0),
            buy("a", "1997-03-01", 99.0),
            buy("b", "1997-01-08", 12.0),
            buy("c", "1997-02-02", 1.0),
        ];
        let options = SummaryOptions {
            calibration_end: day("1997-01-29"),
            holdout_end: Some(day("1997-02-28")),
            days_per_period: 7.0,
        };
        let s = summarize(&purchases, options);
        assert_eq!(s.len(), 2, "c was born after calibration");
        let a = &s[0];
        assert_eq!((a.x, a.t_x, a.t), (2, 4.0, 4.0));
        assert_eq!(a.zbar, Some(27.0));
        assert_eq!(a.first_amount, 15.0);
        assert_eq!((a.holdout_x, a.holdout_amount), (1, 7.0));
        let b = &s[1];
        assert_eq!((b.x, b.t_x, b.t, b.zbar), (0, 0.0, 3.0, None));
    }

    #[test]
    fn no_purchases_no_customers() {
        let options =
            SummaryOptions { calibration_end: day("2020-01-01"), holdout_end: None, days_per_period: 7.0 };
        assert!(summarize(&[], options).is_empty());
    }
}
