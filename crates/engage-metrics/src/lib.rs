//! Engagement metrics: every metric of METRICS.md with its formula and edge cases, windows and
//! grouping, the unified customer, the engagement score and predictive CLV.
//!
//! Conventions (METRICS.md §0): rates are ratios in [0, 1] (percent only for display; NPS is
//! on −100…+100 by convention); an empty denominator is `None`, never 0 or NaN; nothing is
//! rounded inside; windows are half-open `[from, to)` in an explicit time zone; where
//! definitions compete the variant is a parameter and is named in the output.
//!
//! The pure parts (`reference`, `clv`, `window`, `catalog`) do no I/O; `engine` reads the
//! store through engage-store's typed read and aggregation API, and `sql` describes the
//! aggregations the database computes.

pub mod catalog;
pub mod clv;
pub mod customers;
pub mod data;
pub mod engine;
pub mod reference;
pub mod score;
pub mod sql;
pub mod view;
pub mod window;

pub use catalog::{METRICS, Metric, OVERVIEW, Unit, find};
pub use data::{Filters, Row, Rows};
pub use engine::{MetricsError, Path, Point, Report, Request, compute};
pub use reference::{Ctx, NeutralPolicy, OneTouch, Outcome, Params};
pub use window::{Bucket, Grain, Period, Window, parse_tz};
