//! Trend charts as hand-made SVG: a line (rates, scores, means) or bars (counts) per bucket,
//! every point carrying its bucket and value in `data-` attributes.

use std::fmt::Write;

use engage_metrics::Unit;

use crate::html::{esc, shown};

const W: f64 = 320.0;
const H: f64 = 140.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// Whether a unit reads better as bars (counts per bucket) than as a line.
pub fn bars(unit: Unit) -> bool {
    matches!(unit, Unit::Count)
}

/// The chart of one metric's buckets (`label`, value); `None` values leave a gap. The previous
/// period's value, when there is one, is a dashed line across the chart.
pub fn chart(
    metric: &str,
    title: &str,
    unit: Unit,
    points: &[(String, Option<f64>)],
    previous: Option<f64>,
) -> String {
    let mut svg = String::new();
    let values: Vec<f64> = points.iter().filter_map(|(_, v)| *v).filter(|v| v.is_finite()).collect();
    let previous = previous.filter(|v| v.is_finite() && !values.is_empty() && !bars(unit));
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{} by bucket" data-chart="{}" preserveAspectRatio="xMidYMid meet">"#,
        esc(title),
        esc(metric)
    );
    if points.is_empty() || values.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" class="empty">no data in this window</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return svg;
    }
    let (mut lo, mut hi) =
        values.iter().chain(&previous).fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    lo = lo.min(0.0);
    hi = hi.max(0.0);
    if unit == Unit::Ratio {
        hi = hi.max(lo + 1e-9);
    }
    if (hi - lo).abs() < 1e-12 {
        hi = lo + 1.0;
    }
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = points.len();
    let slot = plot_w / n as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let y = |v: f64| TOP + plot_h * (1.0 - (v - lo) / (hi - lo));
    // Axes, the zero line and the extremes.
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}"/><line class="axis" x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}"/>"#,
        b = TOP + plot_h,
        r = W - RIGHT
    );
    if lo < 0.0 {
        let _ = write!(
            svg,
            r#"<line class="zero" x1="{LEFT}" y1="{z:.2}" x2="{}" y2="{z:.2}"/>"#,
            W - RIGHT,
            z = y(0.0)
        );
    }
    for v in [hi, lo] {
        let _ = write!(
            svg,
            r#"<text class="tick" x="{}" y="{:.2}" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            y(v) + 3.0,
            esc(&shown(unit, Some(v)))
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            svg,
            r#"<text class="tick" x="{LEFT}" y="{}" text-anchor="start">{}</text>"#,
            H - 6.0,
            esc(&first.0)
        );
        if n > 1 {
            let _ = write!(
                svg,
                r#"<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
                W - RIGHT,
                H - 6.0,
                esc(&last.0)
            );
        }
    }
    if let Some(p) = previous {
        let _ = write!(
            svg,
            r#"<line class="previous" x1="{LEFT}" y1="{y:.2}" x2="{}" y2="{y:.2}" data-previous="{p}"><title>previous period: {}</title></line>"#,
            W - RIGHT,
            esc(&shown(unit, Some(p))),
            y = y(p)
        );
    }
    let point_attrs = |label: &str, v: f64| {
        format!(r#"data-metric="{}" data-bucket="{}" data-value="{v}""#, esc(metric), esc(label))
    };
    if bars(unit) {
        let width = (slot * 0.7).max(1.0);
        for (i, (label, v)) in points.iter().enumerate() {
            let Some(v) = v.filter(|v| v.is_finite()) else { continue };
            let (top, bottom) = (y(v.max(0.0)), y(v.min(0.0)));
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{:.2}" y="{top:.2}" width="{width:.2}" height="{:.2}" {}><title>{}: {}</title></rect>"#,
                x(i) - width / 2.0,
                (bottom - top).max(0.5),
                point_attrs(label, v),
                esc(label),
                esc(&shown(unit, Some(v)))
            );
        }
    } else {
        // One polyline per run of buckets with values: a missing value is a gap, not a zero.
        let mut run: Vec<String> = Vec::new();
        let mut lines = Vec::new();
        for (i, (_, v)) in points.iter().enumerate() {
            match v.filter(|v| v.is_finite()) {
                Some(v) => run.push(format!("{:.2},{:.2}", x(i), y(v))),
                None => lines.push(std::mem::take(&mut run)),
            }
        }
        lines.push(run);
        for line in lines.iter().filter(|l| l.len() > 1) {
            let _ = write!(svg, r#"<polyline class="line" points="{}"/>"#, line.join(" "));
        }
        for (i, (label, v)) in points.iter().enumerate() {
            let Some(v) = v.filter(|v| v.is_finite()) else { continue };
            let _ = write!(
                svg,
                r#"<circle class="point" cx="{:.2}" cy="{:.2}" r="3" {}><title>{}: {}</title></circle>"#,
                x(i),
                y(v),
                point_attrs(label, v),
                esc(label),
                esc(&shown(unit, Some(v)))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(values: &[Option<f64>]) -> Vec<(String, Option<f64>)> {
        values.iter().enumerate().map(|(i, v)| (format!("2024-W{:02}", i + 1), *v)).collect()
    }

    #[test]
    fn a_line_breaks_at_missing_values_and_marks_each_point() {
        let svg = chart(
            "open_rate",
            "Open rate",
            Unit::Ratio,
            &pts(&[Some(0.5), Some(0.25), None, Some(1.0)]),
            Some(0.5),
        );
        assert_eq!(svg.matches("<polyline").count(), 1, "the lone last point has no line: {svg}");
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains(r#"data-metric="open_rate" data-bucket="2024-W01" data-value="0.5""#));
        assert!(svg.contains(r#"data-bucket="2024-W04" data-value="1""#));
        assert!(!svg.contains("2024-W03\" data-value"), "no point for a bucket without a value");
        // 0.5 of a 0..1 axis sits half-way down the plot.
        assert!(svg.contains(r#"cy="63.00""#), "{svg}");
        assert!(svg.contains(
            r#"<line class="previous" x1="44" y1="63.00" x2="312" y2="63.00" data-previous="0.5">"#
        ));
    }

    #[test]
    fn counts_are_bars_and_negative_values_get_a_zero_line() {
        let svg = chart("reviews", "Reviews", Unit::Count, &pts(&[Some(3.0), Some(0.0)]), Some(9.0));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert!(!svg.contains("class=\"previous\""), "a count's previous total is no bucket's scale");
        let nps = chart("nps", "NPS", Unit::Nps, &pts(&[Some(-20.0), Some(40.0)]), None);
        assert!(nps.contains("class=\"zero\""));
        assert!(nps.contains(">+40.0<") && nps.contains(">-20.0<"), "{nps}");
    }

    #[test]
    fn no_values_say_so_and_labels_are_escaped() {
        let svg = chart("x", "<b>", Unit::Ratio, &pts(&[None]), Some(0.5));
        assert!(svg.contains("no data in this window"));
        assert!(svg.contains("aria-label=\"&lt;b&gt; by bucket\""));
        assert!(!svg.contains("<circle"));
    }
}
