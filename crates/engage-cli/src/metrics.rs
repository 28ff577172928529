//! `engage metrics`, `engage customers` and `engage clv`: the metric catalogue and values,
//! one customer seen whole, and the predictive CLV fit.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use engage_metrics::engine::{self, Path as ComputePath, Report, Request};
use engage_metrics::reference::Outcome;
use engage_metrics::score::ScoreConfig;
use engage_metrics::{
    Filters, Grain, METRICS, NeutralPolicy, OVERVIEW, OneTouch, Params, Unit, Window, customers, find, view,
};
use engage_store::Store;
use serde_json::{Value, json};

use crate::Format;
use crate::commands::{Failure, load, store_url};
use crate::output::{Table, print_table};

/// Window, grouping and filter options shared by the metric commands.
#[derive(Debug, Clone, clap::Args)]
pub struct WindowArgs {
    /// First local date inside the window (default: 30 days before --to).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// First local date after the window, exclusive (default: tomorrow, so today is inside).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Time zone of the dates and of day/week/month buckets (IANA name).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Group by day, week or month.
    #[arg(long, value_parser = ["day", "week", "month"])]
    pub by: Option<String>,
    /// Only this connection (repeatable).
    #[arg(long)]
    pub connection: Vec<String>,
    /// Only tickets and interactions of this channel (repeatable).
    #[arg(long)]
    pub channel: Vec<String>,
    /// Only reviews of this location or app (repeatable).
    #[arg(long)]
    pub location: Vec<String>,
    /// Also compute the previous period of the same length.
    #[arg(long)]
    pub compare: bool,
    /// Compute in Rust over the rows instead of in the database.
    #[arg(long)]
    pub reference: bool,
    #[command(flatten)]
    pub variants: VariantArgs,
}

/// The variants of the metrics whose definitions compete (defaults as in `engage metrics list`).
#[derive(Debug, Clone, clap::Args)]
pub struct VariantArgs {
    /// CSAT: the neutral midpoint of an odd scale counts as negative, or leaves the denominator.
    #[arg(long, value_parser = ["negative", "exclude"], default_value = "negative")]
    pub csat_neutral: String,
    /// Open rate and click-to-open: count every unique open, machine opens included.
    #[arg(long)]
    pub all_opens: bool,
    /// One-touch: `strict` (one reply, no reopen) or Zendesk's legacy (fewer than two replies).
    #[arg(long, value_parser = ["strict", "zendesk-legacy"], default_value = "strict")]
    pub one_touch: String,
    /// A review is positive at this many stars or more.
    #[arg(long, default_value_t = 4.0)]
    pub positive_stars: f64,
    /// CES: the scale aggregated (7 for CES 2.0, 5 for CES 1.0).
    #[arg(long, default_value_t = 7)]
    pub ces_points: u32,
    /// Social interaction kinds that count as engagements (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub engagement_kinds: Vec<String>,
}

impl VariantArgs {
    /// The metric parameters these flags select.
    pub fn params(&self) -> Result<Params, Failure> {
        if !(1.0..=5.0).contains(&self.positive_stars) {
            return Err(anyhow::anyhow!("--positive-stars must be between 1 and 5").into());
        }
        let defaults = Params::default();
        Ok(Params {
            csat_neutral: if self.csat_neutral == "exclude" {
                NeutralPolicy::ExcludeFromDenominator
            } else {
                NeutralPolicy::CountAsNegative
            },
            human_opens: !self.all_opens,
            one_touch: if self.one_touch == "zendesk-legacy" {
                OneTouch::ZendeskLegacy
            } else {
                OneTouch::Strict
            },
            positive_stars: self.positive_stars,
            ces_points: self.ces_points,
            engagement_kinds: if self.engagement_kinds.is_empty() {
                defaults.engagement_kinds
            } else {
                self.engagement_kinds.clone()
            },
            ..defaults
        })
    }
}

impl WindowArgs {
    fn window(&self) -> Result<(Window, Option<Grain>), Failure> {
        let tz = engage_metrics::parse_tz(&self.tz).map_err(|e| anyhow::anyhow!(e))?;
        let today = Utc::now().with_timezone(&tz).date_naive();
        let to = self.to.unwrap_or(today + chrono::Duration::days(1));
        let from = self.from.unwrap_or(to - chrono::Duration::days(30));
        let window = Window::new(from, to, tz).map_err(|e| anyhow::anyhow!(e))?;
        let grain =
            self.by.as_deref().map(str::parse::<Grain>).transpose().map_err(|e| anyhow::anyhow!(e))?;
        Ok((window, grain))
    }

    fn filters(&self) -> Filters {
        Filters {
            connections: self.connection.clone(),
            channels: self.channel.clone(),
            locations: self.location.clone(),
        }
    }
}

async fn open(config_path: &Path) -> Result<Store, Failure> {
    let config = load(config_path)?;
    Ok(Store::open(&store_url(&config, config_path)).await?)
}

/// A value for people: ratios as percentages, NPS and the rest with two decimals.
fn display(unit: Unit, value: Option<f64>) -> Value {
    match value {
        None => json!("—"),
        Some(v) => match unit {
            Unit::Ratio => json!(format!("{:.1}%", v * 100.0)),
            Unit::Nps => json!(format!("{v:+.1}")),
            Unit::Count => json!(v),
            _ => json!(format!("{v:.2}")),
        },
    }
}

/// Pretty JSON on standard output; a closed pipe is an error, not a panic.
fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn number(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |v| json!(v))
}

/// `engage metrics list`.
pub fn list(format: Format) -> Result<(), Failure> {
    let columns = ["metric", "group", "title", "unit", "formula", "edge_cases", "variant"];
    let rows: Vec<Vec<Value>> = METRICS
        .iter()
        .map(|m| {
            vec![
                json!(m.name),
                json!(m.group),
                json!(m.title),
                serde_json::to_value(m.unit).unwrap_or_default(),
                json!(m.formula),
                json!(m.edge_cases),
                json!(m.variant),
            ]
        })
        .collect();
    let columns = if format == Format::Table { &columns[..4] } else { &columns[..] };
    let rows: Vec<Vec<Value>> = rows.into_iter().map(|r: Vec<Value>| r[..columns.len()].to_vec()).collect();
    print_table(&Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows }, format)?;
    Ok(())
}

/// `engage metrics NAME`.
pub async fn metric(
    config_path: &Path,
    name: &str,
    args: &WindowArgs,
    format: Format,
) -> Result<(), Failure> {
    let metric = find(name)
        .ok_or_else(|| anyhow::anyhow!("unknown metric `{name}`: `engage metrics list` names them all"))?;
    let (window, grain) = args.window()?;
    let store = open(config_path).await?;
    let request = Request {
        metric,
        window,
        grain,
        filters: args.filters(),
        params: args.variants.params()?,
        compare: args.compare,
        path: if args.reference { ComputePath::Reference } else { ComputePath::Auto },
    };
    let report = engine::compute(&store, &request).await?;
    store.close().await;
    print_report(&report, format)
}

fn print_report(report: &Report, format: Format) -> Result<(), Failure> {
    if format == Format::Json {
        print_json(report)?;
        return Ok(());
    }
    let mut points = vec![("window", &report.total)];
    points.extend(report.buckets.iter().map(|b| ("bucket", b)));
    if let Some(p) = &report.previous {
        points.push(("previous", p));
    }
    let mut detail_names: Vec<String> = Vec::new();
    for (_, p) in &points {
        for (k, _) in &p.outcome.details {
            if !detail_names.contains(k) {
                detail_names.push(k.clone());
            }
        }
    }
    let mut columns: Vec<String> = ["row", "bucket", "value", "n"].map(String::from).to_vec();
    columns.extend(detail_names.iter().cloned());
    let cell = |o: &Outcome, k: &str| {
        let v = o.details.iter().find(|(n, _)| n == k).and_then(|(_, v)| *v);
        if format == Format::Table {
            v.map_or(json!("—"), |v| json!((v * 1e4).round() / 1e4))
        } else {
            number(v)
        }
    };
    let rows = points
        .iter()
        .map(|(kind, p)| {
            let mut row = vec![
                json!(kind),
                json!(p.bucket),
                if format == Format::Table {
                    display(report.unit, p.outcome.value)
                } else {
                    number(p.outcome.value)
                },
                json!(p.outcome.n),
            ];
            row.extend(detail_names.iter().map(|k| cell(&p.outcome, k)));
            row
        })
        .collect();
    if format == Format::Table {
        println!("{} ({}, {}; computed by {})", report.metric, report.variant, report.tz, report.computed_by);
    }
    print_table(&Table { columns, rows }, format)?;
    if format == Format::Table
        && let Some(change) = report.change
    {
        let shown = if report.unit == Unit::Ratio {
            format!("{:+.1} points", change * 100.0)
        } else {
            format!("{change:+.2}")
        };
        println!("change against the previous period: {shown}");
    }
    Ok(())
}

/// `engage metrics overview`: the headline metrics by channel group for a window, with the
/// previous period.
pub async fn overview(config_path: &Path, args: &WindowArgs, format: Format) -> Result<(), Failure> {
    let (window, grain) = args.window()?;
    let params = args.variants.params()?;
    let store = open(config_path).await?;
    // The metrics are independent queries: they run side by side on the store's read pool.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, name) in OVERVIEW.iter().enumerate() {
        let Some(metric) = find(name) else { continue };
        let request = Request {
            metric,
            window,
            grain,
            filters: args.filters(),
            params: params.clone(),
            compare: true,
            path: if args.reference { ComputePath::Reference } else { ComputePath::Auto },
        };
        let store = store.clone();
        tasks.spawn(async move { (i, engine::compute(&store, &request).await) });
    }
    let mut computed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (i, report) = done.map_err(|e| anyhow::anyhow!("a metric task failed: {e}"))?;
        computed.push((i, report?));
    }
    computed.sort_by_key(|(i, _)| *i);
    store.close().await;
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    for (_, report) in computed {
        let Some(metric) = find(report.metric) else { continue };
        let shown = |v| if format == Format::Table { display(report.unit, v) } else { number(v) };
        rows.push(vec![
            json!(metric.group),
            json!(metric.name),
            shown(report.total.outcome.value),
            shown(report.previous.as_ref().and_then(|p| p.outcome.value)),
            json!(report.total.outcome.n),
        ]);
        reports.push(report);
    }
    if format == Format::Json {
        print_json(&reports)?;
        return Ok(());
    }
    if format == Format::Table {
        println!("overview {}..{} ({})", window.from, window.to, window.tz.name());
    }
    let columns = ["group", "metric", "value", "previous", "n"].map(String::from).to_vec();
    print_table(&Table { columns, rows }, format)?;
    Ok(())
}

/// `engage customers link [--full]`: links identities into customers now.
pub async fn link(config_path: &Path, full: bool, format: Format) -> Result<(), Failure> {
    let store = open(config_path).await?;
    let stats = if full { customers::link_full(&store).await? } else { customers::link(&store).await? };
    store.close().await;
    let value = serde_json::to_value(&stats)?;
    let columns: Vec<String> = value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    let row = columns.iter().map(|c| value[c].clone()).collect();
    print_table(&Table { columns, rows: vec![row] }, format)?;
    Ok(())
}

/// `engage customers show EMAIL`.
pub async fn show(
    config_path: &Path,
    email: &str,
    tz: &str,
    score_config: Option<&PathBuf>,
    format: Format,
) -> Result<(), Failure> {
    let tz: Tz = engage_metrics::parse_tz(tz).map_err(|e| anyhow::anyhow!(e))?;
    let config = match score_config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            ScoreConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => ScoreConfig::default(),
    };
    let store = open(config_path).await?;
    let found = view::customer(&store, email, &config, Utc::now(), tz).await?;
    store.close().await;
    let Some(v) = found else {
        return Err(anyhow::anyhow!("no customer is known by {email}").into());
    };
    if format == Format::Json {
        print_json(&v)?;
        return Ok(());
    }
    let score = |s: Option<f64>| s.map_or(json!("—"), |s| json!(format!("{s:.1}")));
    if format == Format::Table {
        println!("customer {} ({} linked key(s))", v.email, v.keys.len());
        println!(
            "engagement score: {} ({})",
            score(v.score.total).as_str().unwrap_or_default(),
            v.score.band.unwrap_or("no data")
        );
    }
    let columns = ["component", "score", "weight", "effective_weight", "signals"].map(String::from).to_vec();
    let rows = v
        .score
        .components
        .iter()
        .map(|c| {
            vec![
                json!(c.name),
                score(c.score),
                json!(c.weight),
                c.effective_weight.map_or(json!("—"), |w| json!(format!("{:.0}%", w * 100.0))),
                json!(c.signals),
            ]
        })
        .collect();
    print_table(&Table { columns, rows }, format)?;
    if format == Format::Table {
        match &v.clv {
            Some(c) => println!(
                "predicted: P(alive) {:.2}, {:.2} purchases and CLV {:.2} over 12 months, {:.2} per purchase",
                c.p_alive, c.expected_purchases, c.clv, c.expected_spend
            ),
            None => println!("predicted: no CLV (no orders, or too few in the store to fit the models)"),
        }
        println!("timeline ({} entries, latest 50):", v.timeline.len());
    }
    let columns = ["at", "connection", "channel", "kind", "value"].map(String::from).to_vec();
    let skip = v.timeline.len().saturating_sub(50);
    let rows = v.timeline[skip..]
        .iter()
        .map(|e| {
            vec![
                json!(e.at.to_rfc3339()),
                json!(e.connection),
                json!(e.channel),
                json!(e.kind),
                number(e.value),
            ]
        })
        .collect();
    print_table(&Table { columns, rows }, format)?;
    Ok(())
}

/// `engage clv fit`.
pub async fn clv_fit(
    config_path: &Path,
    calibration_end: NaiveDate,
    tz: &str,
    connection: &[String],
    format: Format,
) -> Result<(), Failure> {
    let tz: Tz = engage_metrics::parse_tz(tz).map_err(|e| anyhow::anyhow!(e))?;
    let store = open(config_path).await?;
    let filter = engage_store::ReadFilter { connections: connection.to_vec(), ..Default::default() };
    let mut rows = engage_metrics::Rows::default();
    rows.extend(store.read_entities(engage_model::EntityKind::Order, &filter).await?);
    rows.extend(store.read_entities(engage_model::EntityKind::Identity, &filter).await?);
    store.close().await;
    let (fit, summary) = view::fit_orders(&rows, calibration_end, tz).map_err(|e| anyhow::anyhow!(e))?;
    let bg = &fit.bgnbd;
    let gg = &fit.gamma_gamma;
    let se = |s: &Option<Vec<f64>>, names: &[&str]| match s {
        Some(v) => Value::Object(names.iter().zip(v).map(|(n, v)| ((*n).to_owned(), json!(v))).collect()),
        None => Value::Null,
    };
    let out = json!({
        "calibration_end": calibration_end.to_string(),
        "time_zone": tz.name(),
        "time_unit": "weeks",
        "customers": summary.len(),
        "bgnbd": {
            "r": bg.params.r, "alpha": bg.params.alpha, "a": bg.params.a, "b": bg.params.b,
            "log_likelihood": bg.log_likelihood,
            "customers": bg.customers,
            "converged": bg.converged,
            "evaluations": bg.evaluations,
            "std_errors": se(&bg.std_errors, &["r", "alpha", "a", "b"]),
        },
        "gamma_gamma": {
            "p": gg.params.p, "q": gg.params.q, "gamma": gg.params.gamma,
            "log_likelihood": gg.log_likelihood,
            "customers": gg.customers,
            "converged": gg.converged,
            "evaluations": gg.evaluations,
            "std_errors": se(&gg.std_errors, &["p", "q", "gamma"]),
        },
        "diagnostics": {
            "observed_repeat_transactions": fit.observed_repeat_transactions,
            "expected_repeat_transactions": fit.expected_repeat_transactions,
            "observed_mean_spend": fit.observed_mean_spend,
            "expected_mean_spend": fit.expected_mean_spend,
            "frequency_fit": fit.frequency_fit,
        },
    });
    if format == Format::Json {
        print_json(&out)?;
        return Ok(());
    }
    let columns = ["model", "parameter", "estimate", "std_error"].map(String::from).to_vec();
    let mut rows = Vec::new();
    for (model, names) in
        [("bgnbd", &["r", "alpha", "a", "b"][..]), ("gamma_gamma", &["p", "q", "gamma"][..])]
    {
        for n in names {
            rows.push(vec![
                json!(model),
                json!(n),
                out[model][n].clone(),
                out[model]["std_errors"][n].clone(),
            ]);
        }
        rows.push(vec![
            json!(model),
            json!("log_likelihood"),
            out[model]["log_likelihood"].clone(),
            Value::Null,
        ]);
    }
    print_table(&Table { columns, rows }, format)?;
    if format == Format::Table {
        println!(
            "{} customers; repeat transactions observed {} vs expected {:.1}; mean spend observed {:.2} vs expected {}",
            summary.len(),
            fit.observed_repeat_transactions,
            fit.expected_repeat_transactions,
            fit.observed_mean_spend,
            fit.expected_mean_spend.map_or("—".to_owned(), |v| format!("{v:.2}"))
        );
    }
    Ok(())
}
