#![allow(clippy::unwrap_used)]
//! Predictive CLV on the CDNOW 1/10th sample (2,357 customers of the 1997-Q1 cohort),
//! calibration 1997-01-01 … 1997-09-30 (39 weeks), time in weeks, same-day purchases merged.
//!
//! Published estimates reproduced here:
//! - BG/NBD — Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
//!   Alternative to the Pareto/NBD Model", *Marketing Science* 24(2):275–284, estimated on this
//!   sample: r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4.
//! - Gamma-Gamma — Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for
//!   Customer Base Analysis", *JMR* 42(4):415–430, and Fader & Hardie (2013), "The Gamma-Gamma
//!   Model of Monetary Value" (note 025), on the 946 repeat customers: p = 6.25, q = 3.74,
//!   γ = 15.44. The log-likelihood at this optimum, −4055.92, is the one carried with these
//!   estimates in CLVTools' correctness test (`tests/testthat/test_correctness_gg.R`,
//!   `correct.LL = -4055.9177`), with z̄ the mean of the repeat transactions (first purchase
//!   excluded) in dollars.
//!
//! For BG/NBD the same figures are carried by CLVTools (`test_correctness_bgnbd.R`: r = 0.243,
//! α = 4.414, a = 0.793, b = 2.426, LL = −9582.4 "as reported in Fader, Hardie, Lee (2005)")
//! and by lifetimes (`test_estimation.py`).

use std::path::PathBuf;

use chrono::NaiveDate;
use engage_metrics::clv::{self, ClvOptions, Purchase, SummaryOptions};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/cdnow").join(name)
}

/// Parses `CDNOW_sample.txt`: master id, sample id, YYYYMMDD, CDs, dollars; whitespace split.
fn cdnow_sample() -> Vec<Purchase> {
    let text = std::fs::read_to_string(data("CDNOW_sample.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cols.len(), 5, "{line}");
            Purchase {
                customer: cols[1].to_owned(),
                day: NaiveDate::parse_from_str(cols[2], "%Y%m%d").unwrap(),
                amount: cols[4].parse().unwrap(),
            }
        })
        .collect()
}

fn options() -> SummaryOptions {
    SummaryOptions {
        calibration_end: NaiveDate::from_ymd_opt(1997, 9, 30).unwrap(),
        holdout_end: Some(NaiveDate::from_ymd_opt(1998, 6, 30).unwrap()),
        days_per_period: 7.0,
    }
}

/// Rounds to 3 significant digits.
fn sig3(v: f64) -> f64 {
    let magnitude = 10f64.powi(2 - v.abs().log10().floor() as i32);
    (v * magnitude).round() / magnitude
}

#[test]
fn the_summary_is_the_published_one() {
    let purchases = cdnow_sample();
    assert_eq!(purchases.len(), 6919);
    let summary = clv::summarize(&purchases, options());
    assert_eq!(summary.len(), 2357);
    assert_eq!(summary.iter().map(|c| u64::from(c.x)).sum::<u64>(), 2457);
    assert_eq!(summary.iter().filter(|c| c.x > 0).count(), 946);
    assert_eq!(summary.iter().map(|c| u64::from(c.holdout_x)).sum::<u64>(), 1882);
    let published = std::fs::read_to_string(data("cdnow_customers_summary_with_transactions.csv")).unwrap();
    let mut rows = 0;
    for (line, ours) in published.lines().skip(1).zip(&summary) {
        let cols: Vec<f64> = line.trim().split(',').map(|c| c.parse().unwrap()).collect();
        assert_eq!(ours.customer.parse::<f64>().unwrap(), cols[0]);
        assert_eq!(f64::from(ours.x), cols[1]);
        // The file rounds to 2 decimals (ties such as 18.135 either way).
        let same = |ours: f64, published: f64| (ours - published).abs() <= 0.005 + 1e-9;
        assert!(same(ours.t_x, cols[2]), "t_x of {}", ours.customer);
        assert!(same(ours.t, cols[3]), "T of {}", ours.customer);
        assert!(same(ours.zbar.unwrap_or(0.0), cols[4]), "zbar of {}", ours.customer);
        rows += 1;
    }
    assert_eq!(rows, 2357);
}

#[test]
fn reproduces_the_published_bgnbd_and_gamma_gamma_estimates() {
    let summary = clv::summarize(&cdnow_sample(), options());
    let fit = clv::fit(&summary).unwrap();
    let bg = fit.bgnbd.params;
    assert!(fit.bgnbd.converged);
    assert_eq!([sig3(bg.r), sig3(bg.alpha), sig3(bg.a), sig3(bg.b)], [0.243, 4.41, 0.793, 2.43]);
    assert!((fit.bgnbd.log_likelihood - -9582.4).abs() < 0.1, "{}", fit.bgnbd.log_likelihood);
    assert_eq!(fit.bgnbd.customers, 2357);

    let gg = fit.gamma_gamma.params;
    assert!(fit.gamma_gamma.converged);
    assert_eq!([sig3(gg.p), sig3(gg.q), sig3(gg.gamma)], [6.25, 3.74, 15.4]);
    assert!((fit.gamma_gamma.log_likelihood - -4055.92).abs() < 0.1, "{}", fit.gamma_gamma.log_likelihood);
    assert_eq!(fit.gamma_gamma.customers, 946);

    // Diagnostics: the fitted model explains the calibration data it was fitted on.
    assert_eq!(fit.observed_repeat_transactions, 2457);
    assert!((fit.expected_repeat_transactions - 2457.0).abs() / 2457.0 < 0.02);
    let zero = &fit.frequency_fit[0];
    assert_eq!((zero.repeats.as_str(), zero.observed), ("0", 1411));
    assert!((zero.expected - 1411.0).abs() < 15.0, "{}", zero.expected);
    let customers: u64 = fit.frequency_fit.iter().map(|b| b.observed).sum();
    let expected: f64 = fit.frequency_fit.iter().map(|b| b.expected).sum();
    assert_eq!(customers, 2357);
    assert!((expected - 2357.0).abs() < 1e-6);
}

#[test]
fn customer_predictions_on_cdnow() {
    let summary = clv::summarize(&cdnow_sample(), options());
    let fit = clv::fit(&summary).unwrap();
    let values: Vec<_> = summary
        .iter()
        .map(|c| {
            clv::customer_value(&fit.bgnbd.params, &fit.gamma_gamma.params, c, ClvOptions::default()).unwrap()
        })
        .collect();
    assert_eq!(values.len(), 2357);
    assert!(values.iter().all(|v| v.clv >= 0.0 && (0.0..=1.0).contains(&v.p_alive)));
    // Customers without repeat purchases are "alive" by the model's construction and get the
    // population mean spend.
    let first_timer = values.iter().find(|v| v.x == 0).unwrap();
    assert_eq!(first_timer.p_alive, 1.0);
    assert_eq!(Some(first_timer.expected_spend), fit.gamma_gamma.params.population_mean());
    // Customer 0001: x = 2, t_x = 30.43, T = 38.86 — alive with high probability, one expected
    // purchase in the year, CLV = discounted purchases × E[M].
    let one = &values[0];
    assert_eq!((one.customer.as_str(), one.x), ("0001", 2));
    assert!(one.p_alive > 0.7 && one.p_alive < 1.0, "{}", one.p_alive);
    assert!(one.clv < one.expected_purchases * one.expected_spend);
    assert!(one.clv > one.expected_purchases * one.expected_spend / 1.01f64.powi(12));
}
