//! The dashboard: server-rendered pages without script. Every number shown is rendered from
//! the value the JSON API returns for the same query and carries it in `data-value`.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use engage_metrics::engine::Report;
use engage_metrics::{Grain, Unit, find};
use serde_json::Value;

use crate::AppState;
use crate::api::{self, ApiError};
use crate::chart;
use crate::query::{Query, metric_query};

/// The dashboard routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview_page))
        .route("/customers", get(customers_page))
        .route("/customers/{email}", get(customer_page))
        .route("/status", get(status_page))
}

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment, percent-encoded.
pub fn segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A value for people, as `engage metrics` prints it: ratios as percentages, NPS signed.
pub fn shown(unit: Unit, value: Option<f64>) -> String {
    match value {
        None => "—".to_owned(),
        Some(v) => match unit {
            Unit::Ratio => format!("{:.1}%", v * 100.0),
            Unit::Nps => format!("{v:+.1}"),
            Unit::Count => format!("{v}"),
            _ => format!("{v:.2}"),
        },
    }
}

fn change_shown(unit: Unit, change: f64) -> String {
    if unit == Unit::Ratio { format!("{:+.1} pts", change * 100.0) } else { format!("{change:+.2}") }
}

/// A number with its exact value in `data-value` (empty when there is none).
fn figure(class: &str, attrs: &str, unit: Unit, value: Option<f64>) -> String {
    let raw = value.map(|v| v.to_string()).unwrap_or_default();
    format!(r#"<span class="{class}" {attrs} data-value="{raw}">{}</span>"#, esc(&shown(unit, value)))
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center}
header strong{font-size:1.1rem;margin-right:.6rem}
header nav{display:flex;flex-wrap:wrap;gap:.3rem 1.1rem}
header a{color:#cfd6e4;text-decoration:none}header a:hover,header a[aria-current]{color:#fff;text-decoration:underline}
main{max-width:1200px;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0 .6rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem;text-transform:capitalize}
h3{font-size:.95rem;margin:0 0 .3rem}
.muted{color:#5b6578;font-size:.9rem}
form.window{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.4rem 0 1rem}
form.window label{display:flex;flex-direction:column;font-size:.8rem;color:#5b6578}
input,select,button{font:inherit;padding:.3rem .45rem;border:1px solid #c5cbd6;border-radius:4px;background:#fff}
button{background:#2f5bd3;color:#fff;border-color:#2f5bd3;cursor:pointer}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:.8rem}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:.8rem}
.value{font-size:1.6rem;font-weight:600}
.previous,.change{font-size:.85rem;color:#5b6578;margin-left:.4rem}
.change.up{color:#1b7f3b}.change.down{color:#b42318}
.chart{width:100%;height:auto;display:block;margin-top:.4rem}
.chart .axis{stroke:#9aa3b2;stroke-width:1}.chart .zero{stroke:#9aa3b2;stroke-dasharray:3 3}
.chart .line{fill:none;stroke:#2f5bd3;stroke-width:2}.chart .point{fill:#2f5bd3}
.chart .previous{stroke:#b0703a;stroke-width:1.2;stroke-dasharray:4 3}.chart .bar{fill:#6f8fe6}.chart .tick{font-size:9px;fill:#5b6578}.chart .empty{font-size:11px;fill:#5b6578}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde1e8;border-radius:8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #eef0f4;white-space:nowrap;vertical-align:top}
th{font-size:.8rem;color:#5b6578;font-weight:600;background:#fafbfc}
td.wrap{white-space:normal;max-width:28rem;overflow-wrap:anywhere}
.status-succeeded{color:#1b7f3b}.status-failed{color:#b42318}
.meter{background:#eef0f4;border-radius:3px;height:.55rem;min-width:6rem}.meter>div{background:#2f5bd3;height:100%;border-radius:3px}
.pager{display:flex;gap:1rem;margin:.6rem 0}
.score{font-size:2rem;font-weight:700}
@media (max-width:600px){main{padding:.6rem}.value{font-size:1.35rem}th,td{padding:.35rem .4rem}}
"#;

fn page(title: &str, current: &str, body: &str) -> Html<String> {
    let nav = [("/", "Overview"), ("/customers", "Customers"), ("/status", "Sync status")]
        .iter()
        .map(|(href, name)| {
            let current = if *href == current { r#" aria-current="page""# } else { "" };
            format!(r#"<a href="{href}"{current}>{name}</a>"#)
        })
        .collect::<String>();
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Engage</title><style>{STYLE}</style></head>\
         <body><header><strong>Engage</strong><nav>{nav}</nav></header><main>{body}</main></body></html>",
        esc(title)
    ))
}

fn error_page(e: ApiError) -> Response {
    let body = format!("<h1>{}</h1><p>{}</p>", e.status.as_u16(), esc(&e.message));
    (e.status, page("Error", "", &body)).into_response()
}

fn window_form(q: &Query, mq: &crate::query::MetricQuery, action: &str) -> String {
    let by = mq.grain.map_or("none", |g| match g {
        Grain::Day => "day",
        Grain::Week => "week",
        Grain::Month => "month",
    });
    let options: String = ["day", "week", "month", "none"]
        .iter()
        .map(|o| {
            let sel = if *o == by { " selected" } else { "" };
            format!(r#"<option value="{o}"{sel}>{o}</option>"#)
        })
        .collect();
    // Filters the form does not show are kept as hidden fields.
    let hidden: String = q
        .pairs()
        .iter()
        .filter(|(k, _)| !["from", "to", "tz", "by"].contains(&k.as_str()))
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, esc(k), esc(v)))
        .collect();
    format!(
        r#"<form class="window" method="get" action="{action}">
<label>From<input type="date" name="from" value="{}"></label>
<label>To (exclusive)<input type="date" name="to" value="{}"></label>
<label>Time zone<input name="tz" value="{}" size="14"></label>
<label>Buckets<select name="by">{options}</select></label>{hidden}
<button type="submit">Show</button></form>"#,
        mq.window.from,
        mq.window.to,
        esc(mq.window.tz.name())
    )
}

/// A metric's card: value, previous period, change, trend chart.
fn card(report: &Report) -> String {
    let Some(metric) = find(report.metric) else { return String::new() };
    let name = esc(metric.name);
    let unit = report.unit;
    let total = figure(
        "value",
        &format!(r#"data-metric="{name}" data-point="total""#),
        unit,
        report.total.outcome.value,
    );
    let previous = figure(
        "previous-value",
        &format!(r#"data-metric="{name}" data-point="previous""#),
        unit,
        report.previous.as_ref().and_then(|p| p.outcome.value),
    );
    let change = match report.change {
        Some(c) => format!(
            r#"<span class="change {}" data-metric="{name}" data-point="change" data-value="{c}">{}</span>"#,
            if c > 0.0 {
                "up"
            } else if c < 0.0 {
                "down"
            } else {
                "flat"
            },
            esc(&change_shown(unit, c))
        ),
        None => String::new(),
    };
    let points: Vec<(String, Option<f64>)> =
        report.buckets.iter().map(|b| (b.bucket.clone(), b.outcome.value)).collect();
    format!(
        r#"<article class="card" data-card="{name}"><h3>{}</h3><div>{total}<span class="previous">previous {previous}</span>{change}</div>
<div class="muted">n = <span data-metric="{name}" data-point="n" data-value="{n}">{n}</span> · {}</div>{}</article>"#,
        esc(metric.title),
        esc(report.variant),
        chart::chart(
            metric.name,
            metric.title,
            unit,
            &points,
            report.previous.as_ref().and_then(|p| p.outcome.value)
        ),
        n = report.total.outcome.n,
    )
}

fn status_table(rows: &[Value], full: bool) -> String {
    if rows.is_empty() {
        return r#"<p class="muted">No sync runs yet.</p>"#.to_owned();
    }
    let columns: &[&str] = if full {
        &[
            "connection",
            "stream",
            "status",
            "finished_at",
            "records",
            "stored_records",
            "last_success_at",
            "last_failure_at",
            "last_failure_error",
            "schedule",
            "next_due_at",
            "holder",
            "waiting",
        ]
    } else {
        &["connection", "stream", "status", "last_success_at", "stored_records", "last_failure_error"]
    };
    let mut out = String::from(r#"<div class="scroll"><table class="status"><thead><tr>"#);
    for c in columns {
        let _ = write!(out, "<th>{}</th>", esc(&c.replace('_', " ")));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        let conn = row["connection"].as_str().unwrap_or_default();
        let stream = row["stream"].as_str().unwrap_or_default();
        let _ = write!(out, r#"<tr data-connection="{}" data-stream="{}">"#, esc(conn), esc(stream));
        for c in columns {
            let v = &row[*c];
            let text = match v {
                Value::Null => "—".to_owned(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let class = match *c {
                "status" => format!(" class=\"status-{}\"", esc(&text)),
                "last_failure_error" => " class=\"wrap\"".to_owned(),
                _ => String::new(),
            };
            let raw = if v.is_number() { format!(r#" data-value="{v}""#) } else { String::new() };
            let _ = write!(out, r#"<td{class} data-field="{c}"{raw}>{}</td>"#, esc(&text));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

async fn overview_page(State(s): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let mq = match metric_query(&q, 90, Some(Grain::Week)) {
        Ok(mq) => mq,
        Err(e) => return error_page(e),
    };
    let (reports, status) = match tokio::try_join!(api::overview(&s, &mq), api::status(&s)) {
        Ok(done) => done,
        Err(e) => return error_page(e),
    };
    let mut body = format!(
        r#"<h1>Engagement overview</h1><p class="muted">{} to {} (exclusive), {}; each metric against the previous {} days.</p>{}"#,
        mq.window.from,
        mq.window.to,
        esc(mq.window.tz.name()),
        (mq.window.to - mq.window.from).num_days(),
        window_form(&q, &mq, "/")
    );
    // Groups in the order the overview names them.
    let mut groups: Vec<(&str, Vec<&Report>)> = Vec::new();
    for r in &reports {
        let group = find(r.metric).map_or("other", |m| m.group);
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, list)) => list.push(r),
            None => groups.push((group, vec![r])),
        }
    }
    for (group, list) in groups {
        let _ = write!(
            body,
            r#"<section class="group" data-group="{0}"><h2>{0}</h2><div class="cards">"#,
            esc(group)
        );
        for r in list {
            body.push_str(&card(r));
        }
        body.push_str("</div></section>");
    }
    let _ = write!(body, r#"<h2>Sync status</h2>{}"#, status_table(&status, false));
    page("Overview", "/", &body).into_response()
}

async fn status_page(State(s): State<AppState>) -> Response {
    match api::status(&s).await {
        Ok(rows) => {
            let mut per_connection: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            for r in &rows {
                let e = per_connection.entry(r["connection"].as_str().unwrap_or_default()).or_default();
                e.0 += 1;
                if r["status"].as_str() == Some("failed") {
                    e.1 += 1;
                }
            }
            let summary: String = per_connection
                .iter()
                .map(|(c, (n, failed))| {
                    format!(
                        r#"<li data-connection="{}">{}: {n} stream(s), {failed} failing</li>"#,
                        esc(c),
                        esc(c)
                    )
                })
                .collect();
            let body = format!(
                r#"<h1>Sync status</h1><ul class="muted">{summary}</ul>{}"#,
                status_table(&rows, true)
            );
            page("Sync status", "/status", &body).into_response()
        }
        Err(e) => error_page(e),
    }
}

async fn customers_page(State(s): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let list = match api::customers(&s, &q).await {
        Ok(list) => list,
        Err(e) => return error_page(e),
    };
    let mut body = format!(
        r#"<h1>Customers</h1><form class="window" method="get" action="/customers"><label>Email or name<input name="q" value="{}"></label><button type="submit">Search</button></form>
<p class="muted"><span data-field="total" data-value="{t}">{t}</span> customer(s)</p>"#,
        esc(q.one("q").unwrap_or_default()),
        t = list.total
    );
    body.push_str(r#"<div class="scroll"><table class="customers"><thead><tr><th>Id</th><th>Name</th><th>Email</th></tr></thead><tbody>"#);
    for c in &list.customers {
        let name = c.name.as_deref().map_or("—".to_owned(), esc);
        let email = match &c.email {
            Some(e) => {
                format!(r#"<a href="/customers/{}" data-customer="{}">{}</a>"#, segment(e), esc(e), esc(e))
            }
            None => "—".to_owned(),
        };
        let _ = write!(
            body,
            r#"<tr data-customer-id="{}"><td>{}</td><td class="wrap">{name}</td><td>{email}</td></tr>"#,
            c.customer_id, c.customer_id
        );
    }
    body.push_str("</tbody></table></div><div class=\"pager\">");
    if list.offset > 0 {
        let prev = list.offset.saturating_sub(list.limit);
        let _ = write!(
            body,
            r#"<a href="/customers?{}">← previous</a>"#,
            esc(&q.with("offset", &prev.to_string()))
        );
    }
    if list.offset + list.customers.len() < list.total {
        let next = list.offset + list.limit;
        let _ =
            write!(body, r#"<a href="/customers?{}">next →</a>"#, esc(&q.with("offset", &next.to_string())));
    }
    body.push_str("</div>");
    page("Customers", "/customers", &body).into_response()
}

async fn customer_page(
    State(s): State<AppState>,
    Path(email): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let v = match api::customer(&s, &email, &q).await {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let score = |x: Option<f64>| x.map_or("—".to_owned(), |x| format!("{x:.1}"));
    let raw_of = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    let mut body = format!(
        r#"<p><a href="/customers">← customers</a></p><h1 data-customer="{e}">{e}</h1>
<div class="card"><div class="muted">Engagement score</div><div><span class="score" data-score="total" data-value="{}">{}</span> <span class="muted" data-field="band">{}</span></div></div>"#,
        raw_of(v.score.total),
        score(v.score.total),
        esc(v.score.band.unwrap_or("no data")),
        e = esc(&v.email),
    );
    body.push_str(r#"<h2>Score breakdown</h2><div class="scroll"><table class="breakdown"><thead><tr><th>Component</th><th>Score</th><th></th><th>Weight</th><th>Share</th><th>Signals</th></tr></thead><tbody>"#);
    for c in &v.score.components {
        let width = c.score.unwrap_or(0.0).clamp(0.0, 100.0);
        let _ = write!(
            body,
            r#"<tr data-component="{n}"><td>{n}</td><td data-score="{n}" data-value="{}">{}</td><td><div class="meter"><div style="width:{width:.1}%"></div></div></td><td>{}</td><td data-value="{}">{}</td><td>{}</td></tr>"#,
            raw_of(c.score),
            score(c.score),
            c.weight,
            raw_of(c.effective_weight),
            c.effective_weight.map_or("—".to_owned(), |w| format!("{:.0}%", w * 100.0)),
            c.signals,
            n = esc(c.name),
        );
    }
    body.push_str("</tbody></table></div>");
    match &v.clv {
        Some(c) => {
            let _ = write!(
                body,
                r#"<h2>Predicted value</h2><p>P(alive) <span data-clv="p_alive" data-value="{}">{:.2}</span>; <span data-clv="expected_purchases" data-value="{}">{:.2}</span> purchases and CLV <span data-clv="clv" data-value="{}">{:.2}</span> over 12 months.</p>"#,
                c.p_alive, c.p_alive, c.expected_purchases, c.expected_purchases, c.clv, c.clv
            );
        }
        None => body.push_str(r#"<h2>Predicted value</h2><p class="muted">No CLV: no orders, or too few in the store to fit the models.</p>"#),
    }
    let keys: String = v
        .keys
        .iter()
        .map(|k| {
            let text = match k {
                engage_metrics::customers::Key::Source(c, id) => format!("{c} id {id}"),
                engage_metrics::customers::Key::Email(e) => format!("email {e}"),
                engage_metrics::customers::Key::Phone(p) => format!("phone {p}"),
            };
            format!("<li>{}</li>", esc(&text))
        })
        .collect();
    let _ = write!(body, r#"<h2>Linked identities</h2><ul class="keys">{keys}</ul>"#);
    let shown_entries = v.timeline.len().min(200);
    let _ = write!(
        body,
        r#"<h2>Timeline</h2><p class="muted"><span data-field="timeline" data-value="{n}">{n}</span> entries, the latest {shown_entries} first.</p><div class="scroll"><table class="timeline"><thead><tr><th>When (UTC)</th><th>Connection</th><th>Channel</th><th>What</th><th>Value</th></tr></thead><tbody>"#,
        n = v.timeline.len()
    );
    for t in v.timeline.iter().rev().take(200) {
        let _ = write!(
            body,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="wrap">{}</td><td data-value="{}">{}</td></tr>"#,
            t.at.format("%Y-%m-%d %H:%M"),
            esc(&t.connection),
            esc(&t.channel),
            esc(&t.kind),
            raw_of(t.value),
            t.value.map_or("—".to_owned(), |x| if x.fract() == 0.0 {
                format!("{x}")
            } else {
                format!("{x:.2}")
            }),
        );
    }
    body.push_str("</tbody></table></div>");
    page(&v.email, "/customers", &body).into_response()
}
