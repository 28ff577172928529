//! Engagement metrics: every metric of METRICS.md with its formula and edge cases, windows and
//! grouping, the unified customer, the engagement score and predictive CLV.
//!
//! Conventions (METRICS.md §0): rates are ratios in [0, 1] (percent only for display; NPS is
//! on −100…+100 by convention); an empty denominator is `None`, never 0 or NaN; nothing is
//! rounded inside; windows are half-open `[from, to)` in an explicit time zone; where
//! definitions compete the variant is a parameter and is named in the output.

pub mod clv;
