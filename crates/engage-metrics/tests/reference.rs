#![allow(clippy::unwrap_used)]
//! Hand-computed fixtures for every metric of the catalogue, with the empty and single-record
//! cases. Window: January 2024, UTC, unless a test says otherwise.

mod fixtures;

use chrono_tz::Tz;
use engage_metrics::reference::{Ctx, NeutralPolicy, OneTouch, Outcome, Params};
use engage_metrics::{METRICS, Period, Rows, find};
use engage_model::*;
use fixtures::*;

fn jan() -> Period {
    Period { from: t("2024-01-01T00:00:00Z"), to: t("2024-02-01T00:00:00Z") }
}

fn run_with(name: &str, rows: &Rows, period: Period, params: &Params) -> Outcome {
    (find(name).unwrap().compute)(rows, Ctx { period, tz: Tz::UTC, params })
}

fn run(name: &str, rows: &Rows) -> Outcome {
    run_with(name, rows, jan(), &Params::default())
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("no value, expected {b}"));
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} != {b}");
}

fn surveys(v: Vec<SurveyResponse>) -> Rows {
    Rows { surveys: rows(v), ..Rows::default() }
}

#[test]
fn empty_rows_give_no_value_for_every_ratio() {
    let empty = Rows::default();
    for m in METRICS {
        let o = run(m.name, &empty);
        match m.name {
            // Denominators that are not empty: days of the window; the count itself.
            "review_velocity" | "review_distribution" => assert_eq!(o.value, Some(0.0), "{}", m.name),
            _ => assert_eq!(o.value, None, "{} must have no value over no rows", m.name),
        }
        assert_eq!(o.n, 0, "{}", m.name);
        assert!(o.details.iter().all(|(_, v)| v.is_none_or(f64::is_finite)), "{}", m.name);
    }
}

#[test]
fn nps_published_vectors() {
    let nps = |scores: &[f64]| {
        let v = scores
            .iter()
            .map(|s| survey(SurveyKind::Nps, Some(*s), (0.0, 10.0), "2024-01-10T00:00:00Z"))
            .collect();
        run("nps", &surveys(v))
    };
    // One answer of each score 0..=10: 2 promoters, 7 detractors, n = 11 → −45.4545…
    let o = nps(&(0..=10).map(f64::from).collect::<Vec<_>>());
    close(o.value, 100.0 * (2.0 - 7.0) / 11.0);
    assert_eq!(
        (o.detail("promoters"), o.detail("passives"), o.detail("detractors")),
        (Some(2.0), Some(2.0), Some(7.0))
    );
    // 100 promoters, 30 passives, 80 detractors → +9.5238, SE 0.0636 (6.36 points).
    let mut scores = vec![10.0; 100];
    scores.extend([8.0; 30]);
    scores.extend([3.0; 80]);
    let o = nps(&scores);
    close(o.value, 100.0 * 20.0 / 210.0);
    let (pp, pd) = (100.0 / 210.0, 80.0 / 210.0);
    close(o.detail("standard_error"), 100.0 * (((pp + pd) - (pp - pd) * (pp - pd)) / 210.0f64).sqrt());
    assert!((o.detail("standard_error").unwrap() - 6.36).abs() < 0.01);
    // Single answer.
    let o = nps(&[9.0]);
    close(o.value, 100.0);
    close(o.detail("standard_error"), 0.0);
}

#[test]
fn nps_excludes_invalid_and_out_of_window_answers() {
    let at = "2024-01-10T00:00:00Z";
    let v = vec![
        survey(SurveyKind::Nps, Some(10.0), (0.0, 10.0), at),
        survey(SurveyKind::Nps, Some(11.0), (0.0, 10.0), at),
        survey(SurveyKind::Nps, Some(7.5), (0.0, 10.0), at),
        survey(SurveyKind::Nps, None, (0.0, 10.0), at),
        survey(SurveyKind::Nps, Some(0.0), (0.0, 10.0), "2024-02-01T00:00:00Z"),
        survey(SurveyKind::Csat, Some(0.0), (0.0, 10.0), at),
    ];
    let o = run("nps", &surveys(v));
    assert_eq!((o.value, o.n), (Some(100.0), 1));
}

#[test]
fn csat_binary_and_five_point_with_both_neutral_policies() {
    let at = "2024-01-10T00:00:00Z";
    // Zendesk good/bad as 1/0 on a 0–1 scale: 8 good + 2 bad → 80 %.
    let mut v: Vec<_> = (0..8).map(|_| survey(SurveyKind::Csat, Some(1.0), (0.0, 1.0), at)).collect();
    v.extend((0..2).map(|_| survey(SurveyKind::Csat, Some(0.0), (0.0, 1.0), at)));
    close(run("csat", &surveys(v)).value, 0.8);
    // Simplesat: 7 positive, 1 neutral, 2 negative on 1–5 → 70 %; neutral excluded → 7/9.
    let mut v: Vec<_> = (0..7).map(|_| survey(SurveyKind::Csat, Some(5.0), (1.0, 5.0), at)).collect();
    v.push(survey(SurveyKind::Csat, Some(3.0), (1.0, 5.0), at));
    v.extend((0..2).map(|_| survey(SurveyKind::Csat, Some(1.0), (1.0, 5.0), at)));
    v.push(survey(SurveyKind::Csat, Some(6.0), (1.0, 5.0), at)); // off scale
    let rows = surveys(v);
    let o = run("csat", &rows);
    close(o.value, 0.7);
    assert_eq!((o.detail("neutral"), o.n), (Some(1.0), 10));
    close(o.detail("mean_score"), (35.0 + 3.0 + 2.0) / 10.0);
    let exclude = Params { csat_neutral: NeutralPolicy::ExcludeFromDenominator, ..Params::default() };
    close(run_with("csat", &rows, jan(), &exclude).value, 7.0 / 9.0);
    // Single answer of 4 on 1–5 is positive.
    close(run("csat", &surveys(vec![survey(SurveyKind::Csat, Some(4.0), (1.0, 5.0), at)])).value, 1.0);
}

#[test]
fn ces_on_its_own_scale() {
    let at = "2024-01-10T00:00:00Z";
    let mut v: Vec<_> =
        [7.0, 6.0, 5.0, 2.0].iter().map(|s| survey(SurveyKind::Ces, Some(*s), (1.0, 7.0), at)).collect();
    v.push(survey(SurveyKind::Ces, Some(1.0), (1.0, 5.0), at)); // CES 1.0 answer: left out
    let o = run("ces", &surveys(v));
    close(o.value, 5.0);
    close(o.detail("agree_share"), 0.75);
    assert_eq!(o.n, 4);
    let five = Params { ces_points: 5, ..Params::default() };
    let o = run_with("ces", &surveys(vec![survey(SurveyKind::Ces, Some(2.0), (1.0, 5.0), at)]), jan(), &five);
    assert_eq!((o.value, o.detail("agree_share")), (Some(2.0), Some(1.0)));
}

fn review_fixture() -> Rows {
    with_reviews(vec![
        review(Some(5.0), "2024-01-02T00:00:00Z", Some(2)),
        review(Some(4.0), "2024-01-03T00:00:00Z", Some(4)),
        review(Some(4.0), "2024-01-04T00:00:00Z", None),
        review(Some(2.0), "2024-01-05T00:00:00Z", Some(30)),
        review(Some(1.0), "2024-01-06T00:00:00Z", None),
        review(None, "2024-01-07T00:00:00Z", None),
        review(Some(5.0), "2024-02-01T00:00:00Z", Some(1)),
    ])
}

#[test]
fn review_metrics() {
    let r = review_fixture();
    close(run("review_rating", &r).value, 16.0 / 5.0);
    let dist = run("review_distribution", &r);
    assert_eq!(dist.value, Some(5.0));
    let counts: Vec<_> = (1..=5).map(|s| dist.detail(&format!("stars_{s}")).unwrap()).collect();
    assert_eq!(counts, [1.0, 1.0, 0.0, 2.0, 1.0]);
    assert_eq!(dist.details.iter().find(|(n, _)| n == "share_3").unwrap().1, Some(0.0));
    close(dist.detail("share_4"), 0.4);
    close(run("review_positive_share", &r).value, 0.6);
    close(run("review_bayesian_rating", &r).value, (24.5 + 16.0) / 12.0);
    close(run("review_velocity", &r).value, 6.0 * 30.0 / 31.0);
    close(run("review_response_rate", &r).value, 0.5);
    let time = run("review_response_time", &r);
    close(time.value, 4.0);
    close(time.detail("mean"), 12.0);
    close(time.detail("p90"), 4.0 + 0.8 * 26.0);
    // Single review.
    let one = with_reviews(vec![review(Some(3.0), "2024-01-02T00:00:00Z", Some(5))]);
    close(run("review_rating", &one).value, 3.0);
    close(run("review_positive_share", &one).value, 0.0);
    close(run("review_response_time", &one).value, 5.0);
    close(run("review_bayesian_rating", &one).value, 27.5 / 8.0);
}

#[test]
fn email_metrics_pool_over_campaigns() {
    let rows = Rows {
        campaigns: fixtures::rows(vec![
            campaign("2024-01-05T00:00:00Z", 100, 2, 3, 40, Some(30), 10, 1, 0),
            campaign("2024-01-15T00:00:00Z", 50, 0, 0, 20, Some(20), 5, 0, 1),
            campaign("2024-01-25T00:00:00Z", 10, 0, 0, 5, None, 1, 0, 0),
            campaign("2024-02-05T00:00:00Z", 1000, 0, 0, 1000, Some(1000), 1000, 0, 0),
        ]),
        ..Rows::default()
    };
    close(run("email_delivery_rate", &rows).value, 155.0 / 160.0);
    let open = run("email_open_rate", &rows);
    close(open.value, 50.0 / 145.0);
    assert_eq!(open.n, 2, "the campaign without human opens is left out");
    let raw = Params { human_opens: false, ..Params::default() };
    close(run_with("email_open_rate", &rows, jan(), &raw).value, 65.0 / 155.0);
    close(run("email_click_rate", &rows).value, 16.0 / 155.0);
    close(run("email_click_to_open", &rows).value, 0.3);
    let bounce = run("email_bounce_rate", &rows);
    close(bounce.value, 5.0 / 160.0);
    close(bounce.detail("hard_rate"), 2.0 / 160.0);
    close(bounce.detail("soft_rate"), 3.0 / 160.0);
    close(run("email_unsubscribe_rate", &rows).value, 1.0 / 155.0);
    close(run("email_spam_rate", &rows).value, 1.0 / 155.0);
    // A single campaign, everything bounced: delivered 0 → no open rate.
    let bounced = Rows {
        campaigns: fixtures::rows(vec![campaign("2024-01-05T00:00:00Z", 10, 6, 4, 0, Some(0), 0, 0, 0)]),
        ..Rows::default()
    };
    assert_eq!(run("email_open_rate", &bounced).value, None);
    close(run("email_bounce_rate", &bounced).value, 1.0);
    close(run("email_delivery_rate", &bounced).value, 0.0);
}

#[test]
fn helpdesk_metrics() {
    let rows = Rows { tickets: fixtures::rows(tickets()), ..Rows::default() };
    let frt = run("first_reply_time", &rows);
    assert_eq!((frt.value, frt.n), (Some(60.0), 2));
    close(frt.detail("p90"), 84.0);
    let first = run("first_resolution_time", &rows);
    close(first.value, 100.0);
    close(first.detail("mean"), 1600.0 / 3.0);
    close(first.detail("p90"), 1172.0);
    let full = run("full_resolution_time", &rows);
    close(full.value, 1440.0);
    close(full.detail("mean"), 2900.0);
    close(full.detail("p90"), 6048.0);
    close(run("one_touch_rate", &rows).value, 1.0 / 3.0);
    let legacy = Params { one_touch: OneTouch::ZendeskLegacy, ..Params::default() };
    close(run_with("one_touch_rate", &rows, jan(), &legacy).value, 2.0 / 3.0);
    close(run("reopen_rate", &rows).value, 1.0 / 3.0);
    close(run("ticket_csat", &rows).value, 0.5);
    // Single ticket: T1 alone.
    let one = Rows { tickets: fixtures::rows(vec![tickets().remove(0)]), ..Rows::default() };
    close(run("one_touch_rate", &one).value, 1.0);
    close(run("reopen_rate", &one).value, 0.0);
    close(run("first_reply_time", &one).value, 30.0);
    close(run("ticket_csat", &one).value, 1.0);
}

#[test]
fn shop_metrics() {
    let rows = Rows { orders: fixtures::rows(orders()), ..Rows::default() };
    let aov = run("aov", &rows);
    close(aov.value, 46.0);
    assert_eq!(aov.n, 5);
    close(run("purchase_frequency", &rows).value, 4.0 / 3.0);
    close(run("repeat_purchase_rate", &rows).value, 1.0 / 3.0);
    close(run("returning_customer_rate", &rows).value, 1.0 / 3.0);
    close(run("guest_checkout_rate", &rows).value, 0.4);
    close(run("churn_rate", &rows).value, 0.5);
    let crr = run("retention_rate", &rows);
    close(crr.value, 0.5);
    assert_eq!(
        (crr.detail("start"), crr.detail("end"), crr.detail("new")),
        (Some(2.0), Some(3.0), Some(2.0))
    );
    close(run("historical_clv", &rows).value, 295.0 / 4.0);
    // Cohorts over December–February: December {a, b}, January {c, g}.
    let wide = Period { from: t("2023-12-01T00:00:00Z"), to: t("2024-03-01T00:00:00Z") };
    let cohorts = run_with("cohort_retention", &rows, wide, &Params::default());
    close(cohorts.value, 0.25);
    assert_eq!(cohorts.detail("2023-12 size"), Some(2.0));
    close(cohorts.detail("2023-12 m1"), 0.5);
    close(cohorts.detail("2023-12 m2"), 0.5);
    close(cohorts.detail("2024-01 m1"), 0.0);
    assert!(cohorts.details.iter().all(|(n, _)| n != "2024-01 m2"), "March has not ended");
    // January alone: the January cohort has no complete next month.
    assert_eq!(run("cohort_retention", &rows).value, None);
    // Single order.
    let one = Rows { orders: fixtures::rows(vec![orders().remove(1)]), ..Rows::default() };
    close(run("aov", &one).value, 100.0);
    close(run("repeat_purchase_rate", &one).value, 0.0);
    close(run("guest_checkout_rate", &one).value, 0.0);
    assert_eq!(run("churn_rate", &one).value, None, "nobody bought in the previous period");
    close(run("historical_clv", &one).value, 100.0);
}

#[test]
fn web_social_and_referral_metrics() {
    let rows = Rows {
        interactions: fixtures::rows(interactions()),
        orders: fixtures::rows(orders()),
        surveys: fixtures::rows(vec![
            SurveyResponse {
                comment: Some("A friend told me".into()),
                ..survey(SurveyKind::Referral, None, (0.0, 1.0), "2024-01-03T00:00:00Z")
            },
            SurveyResponse {
                comment: Some("Google".into()),
                ..survey(SurveyKind::Referral, None, (0.0, 1.0), "2024-01-03T00:00:00Z")
            },
            survey(SurveyKind::Referral, Some(1.0), (0.0, 1.0), "2024-01-04T00:00:00Z"),
        ]),
        ..Rows::default()
    };
    let tos = run("time_on_site", &rows);
    close(tos.value, 52.5);
    close(tos.detail("median"), 45.0);
    close(run("returning_visitor_rate", &rows).value, 1.0 / 3.0);
    close(run("dau_mau", &rows).value, 4.0 / 93.0);
    close(run("conversion_rate", &rows).value, 5.0 / 3.0);
    close(run("social_engagement_rate", &rows).value, 4.0 / 1500.0);
    close(run("referral_rate", &rows).value, 2.0 / 3.0);
    close(run("advocate_rate", &rows).value, 1.0 / 3.0);
    // Single visit.
    let one = Rows { interactions: fixtures::rows(vec![interactions().remove(1)]), ..Rows::default() };
    close(run("time_on_site", &one).value, 60.0);
    close(run("returning_visitor_rate", &one).value, 0.0);
    close(run("dau_mau", &one).value, 1.0 / 31.0);
}

#[test]
fn dau_uses_local_days() {
    // 23:30 UTC on Jan 3 is Jan 4 in Warsaw: u1's two visits fall on one local day.
    let v = vec![
        interaction(Some("u1"), Channel::Web, "visit", "2024-01-03T23:30:00Z", Some(1.0)),
        interaction(Some("u1"), Channel::Web, "visit", "2024-01-04T10:00:00Z", Some(1.0)),
    ];
    let rows = Rows { interactions: fixtures::rows(v), ..Rows::default() };
    let warsaw: Tz = "Europe/Warsaw".parse().unwrap();
    let period = Period { from: t("2024-01-02T23:00:00Z"), to: t("2024-01-04T23:00:00Z") };
    let o = (find("dau_mau").unwrap().compute)(&rows, Ctx { period, tz: warsaw, params: &Params::default() });
    close(o.value, 0.5);
    let utc =
        (find("dau_mau").unwrap().compute)(&rows, Ctx { period, tz: Tz::UTC, params: &Params::default() });
    close(utc.value, 2.0 / 3.0);
}

#[test]
fn every_metric_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md")).unwrap();
    for m in METRICS {
        assert!(doc.contains(&format!("`{}`", m.name)), "docs/metrics.md lacks `{}`", m.name);
        assert!(!m.formula.is_empty() && !m.edge_cases.is_empty() && !m.variant.is_empty());
    }
}

#[test]
fn non_finite_source_values_never_make_a_nan() {
    let mut bad_review = review(Some(f64::NAN), "2024-01-02T00:00:00Z", None);
    bad_review.reply_at = None;
    let rows = Rows {
        reviews: fixtures::rows(vec![bad_review, review(Some(4.0), "2024-01-03T00:00:00Z", Some(2))]),
        tickets: fixtures::rows(vec![
            Ticket {
                created_at: Some(t("2024-01-02T00:00:00Z")),
                first_reply_minutes: Some(f64::NAN),
                ..Ticket::default()
            },
            Ticket {
                created_at: Some(t("2024-01-02T00:00:00Z")),
                first_reply_minutes: Some(f64::INFINITY),
                ..Ticket::default()
            },
        ]),
        interactions: fixtures::rows(vec![
            interaction(Some("u1"), Channel::Web, "visit", "2024-01-03T00:00:00Z", Some(f64::NAN)),
            interaction(Some("u1"), Channel::Web, "visit", "2024-01-04T00:00:00Z", Some(30.0)),
        ]),
        ..Rows::default()
    };
    for m in METRICS {
        let o = run(m.name, &rows);
        assert!(o.value.is_none_or(f64::is_finite), "{}: {:?}", m.name, o.value);
        assert!(o.details.iter().all(|(_, v)| v.is_none_or(f64::is_finite)), "{}", m.name);
    }
    close(run("review_rating", &rows).value, 4.0);
    close(run("time_on_site", &rows).value, 30.0);
    assert_eq!(run("first_reply_time", &rows).value, None);
}
