//! Predictive customer lifetime value for non-contractual settings: BG/NBD for the number of
//! transactions, Gamma-Gamma for spend per transaction, both fitted by maximum likelihood, and
//! the discounted CLV that combines them (METRICS.md §7–§8).

use serde::Serialize;

mod bgnbd;
mod gamma_gamma;
pub mod optim;
pub mod special;
mod summary;

pub use bgnbd::{BgNbd, Rft};
pub use gamma_gamma::{GammaGamma, Spend};
pub use summary::{CustomerSummary, Purchase, SummaryOptions, summarize};

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClvError {
    /// No customer was born in the calibration period.
    #[error("no customers made a first purchase in the calibration period")]
    NoCustomers,
    /// Nobody bought twice, so the models have nothing to learn from.
    #[error("no customer made a repeat purchase in the calibration period")]
    NoRepeatPurchases,
}

/// A fitted model with its diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit<P> {
    /// The maximum-likelihood parameters.
    pub params: P,
    /// The log-likelihood at the optimum.
    pub log_likelihood: f64,
    /// Customers the likelihood summed over.
    pub customers: usize,
    /// Objective evaluations used by the optimiser.
    pub evaluations: usize,
    /// Whether the optimiser converged (simplex collapsed and a restart confirmed the optimum).
    pub converged: bool,
    /// Asymptotic standard errors of the parameters, in their order, from the inverse of the
    /// numerical Hessian of −ln L; `None` when the Hessian is not positive definite.
    pub std_errors: Option<Vec<f64>>,
}

/// Standard errors from the inverse of the central-difference Hessian of `neg_ll` at `at`.
fn standard_errors(neg_ll: impl Fn(&[f64]) -> f64, at: &[f64]) -> Option<Vec<f64>> {
    let n = at.len();
    let h: Vec<f64> = at.iter().map(|v| 1e-4 * v.abs().max(1e-3)).collect();
    let f = |dx: &[(usize, f64)]| {
        let mut p = at.to_vec();
        for &(i, d) in dx {
            p[i] += d;
        }
        neg_ll(&p)
    };
    let mut hess = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in i..n {
            let v = if i == j {
                (f(&[(i, h[i])]) - 2.0 * f(&[]) + f(&[(i, -h[i])])) / (h[i] * h[i])
            } else {
                (f(&[(i, h[i]), (j, h[j])]) - f(&[(i, h[i]), (j, -h[j])]) - f(&[(i, -h[i]), (j, h[j])])
                    + f(&[(i, -h[i]), (j, -h[j])]))
                    / (4.0 * h[i] * h[j])
            };
            hess[i][j] = v;
            hess[j][i] = v;
        }
    }
    let inv = invert(hess)?;
    let se: Vec<f64> = (0..n).map(|i| inv[i][i]).map(f64::sqrt).collect();
    se.iter().all(|v| v.is_finite() && *v > 0.0).then_some(se)
}

/// Gauss–Jordan inverse with partial pivoting; `None` when singular.
fn invert(mut m: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let mut inv: Vec<Vec<f64>> =
        (0..n).map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-300 {
            return None;
        }
        m.swap(col, pivot);
        inv.swap(col, pivot);
        let d = m[col][col];
        for j in 0..n {
            m[col][j] /= d;
            inv[col][j] /= d;
        }
        for row in 0..n {
            if row != col {
                let factor = m[row][col];
                for j in 0..n {
                    m[row][j] -= factor * m[col][j];
                    inv[row][j] -= factor * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

/// How CLV is discounted and over which horizon (the discrete form `lifetimes` implements).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClvOptions {
    /// Horizon in months of 30 days.
    pub horizon_months: u32,
    /// Discount rate per month.
    pub monthly_discount_rate: f64,
    /// Share of revenue kept as margin (1 = revenue).
    pub margin: f64,
    /// Days in one model time unit (7 when fitted in weeks).
    pub days_per_period: f64,
}

impl Default for ClvOptions {
    fn default() -> Self {
        ClvOptions { horizon_months: 12, monthly_discount_rate: 0.01, margin: 1.0, days_per_period: 7.0 }
    }
}

/// One customer's predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerValue {
    /// The customer's key.
    pub customer: String,
    /// Repeat transactions in calibration.
    pub x: u32,
    /// Recency t_x (model time units).
    pub t_x: f64,
    /// Age T (model time units).
    pub t: f64,
    /// P(alive | x, t_x, T).
    pub p_alive: f64,
    /// Expected transactions over the horizon.
    pub expected_purchases: f64,
    /// Expected spend per transaction, E[M | z̄, x].
    pub expected_spend: f64,
    /// Discounted CLV over the horizon:
    /// Σₖ (E[Y(kΔ)] − E[Y((k−1)Δ)]) · E[M] · margin / (1+d)ᵏ, Δ = 30 days.
    pub clv: f64,
}

/// Predicts P(alive), purchases, spend and discounted CLV for one customer; `None` when a
/// quantity is undefined (Gamma-Gamma with q ≤ 1, or a series that does not converge).
pub fn customer_value(
    transactions: &BgNbd,
    spend: &GammaGamma,
    c: &CustomerSummary,
    options: ClvOptions,
) -> Option<CustomerValue> {
    let rft = Rft { x: c.x, t_x: c.t_x, t: c.t };
    let step = 30.0 / options.days_per_period;
    let expected_spend = spend.expected_spend(c.x, c.zbar)?;
    let mut clv = 0.0;
    let mut previous = 0.0;
    for k in 1..=options.horizon_months {
        let cumulative = transactions.conditional_expected_transactions(rft, step * f64::from(k))?;
        clv += (cumulative - previous) * expected_spend * options.margin
            / (1.0 + options.monthly_discount_rate).powi(k as i32);
        previous = cumulative;
    }
    Some(CustomerValue {
        customer: c.customer.clone(),
        x: c.x,
        t_x: c.t_x,
        t: c.t,
        p_alive: transactions.p_alive(rft),
        expected_purchases: previous,
        expected_spend,
        clv,
    })
}

/// Both models fitted on one calibration summary, with aggregate diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClvFit {
    /// BG/NBD: r, alpha, a, b.
    pub bgnbd: Fit<BgNbd>,
    /// Gamma-Gamma: p, q, gamma.
    pub gamma_gamma: Fit<GammaGamma>,
    /// Σ x: repeat transactions observed in calibration.
    pub observed_repeat_transactions: u64,
    /// Σ E[X(Tᵢ)]: repeat transactions the fitted BG/NBD expects over the same spans.
    pub expected_repeat_transactions: f64,
    /// Customers by repeat transactions in calibration (0, 1, …, 6, "7+"): observed against
    /// expected Σᵢ P(X(Tᵢ) = n) under the fitted BG/NBD (Fader, Hardie & Lee 2005, figure 2).
    pub frequency_fit: Vec<FrequencyBin>,
    /// Mean of z̄ over repeat customers.
    pub observed_mean_spend: f64,
    /// pγ/(q−1), the fitted population mean spend (None unless q > 1).
    pub expected_mean_spend: Option<f64>,
}

/// One bar of the frequency histogram: customers with `repeats` repeat transactions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrequencyBin {
    /// "0" … "6", or "7+".
    pub repeats: String,
    /// Customers observed.
    pub observed: u64,
    /// Customers the model expects.
    pub expected: f64,
}

const FREQUENCY_BINS: u32 = 7;

fn frequency_fit(model: &BgNbd, customers: &[Rft]) -> Vec<FrequencyBin> {
    let mut bins: Vec<FrequencyBin> = (0..=FREQUENCY_BINS)
        .map(|n| FrequencyBin {
            repeats: if n == FREQUENCY_BINS { format!("{n}+") } else { n.to_string() },
            observed: 0,
            expected: 0.0,
        })
        .collect();
    for c in customers {
        bins[c.x.min(FREQUENCY_BINS) as usize].observed += 1;
        let mut below = 0.0;
        for n in 0..FREQUENCY_BINS {
            let p = model.probability_of_purchases(c.t, n);
            bins[n as usize].expected += p;
            below += p;
        }
        bins[FREQUENCY_BINS as usize].expected += (1.0 - below).max(0.0);
    }
    bins
}

/// Fits BG/NBD on every customer of `summary` and Gamma-Gamma on those with repeat purchases.
pub fn fit(summary: &[CustomerSummary]) -> Result<ClvFit, ClvError> {
    let rft: Vec<Rft> = summary.iter().map(|c| Rft { x: c.x, t_x: c.t_x, t: c.t }).collect();
    let spend: Vec<Spend> = summary.iter().filter_map(|c| Some(Spend { x: c.x, zbar: c.zbar? })).collect();
    let bgnbd = BgNbd::fit(&rft)?;
    let gamma_gamma = GammaGamma::fit(&spend)?;
    let expected_repeat_transactions =
        rft.iter().filter_map(|c| bgnbd.params.expected_transactions(c.t)).sum();
    let usable: Vec<f64> = spend.iter().map(|s| s.zbar).filter(|z| *z > 0.0).collect();
    Ok(ClvFit {
        observed_repeat_transactions: rft.iter().map(|c| u64::from(c.x)).sum(),
        expected_repeat_transactions,
        observed_mean_spend: usable.iter().sum::<f64>() / usable.len() as f64,
        expected_mean_spend: gamma_gamma.params.population_mean(),
        frequency_fit: frequency_fit(&bgnbd.params, &rft),
        bgnbd,
        gamma_gamma,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverts_a_small_matrix() {
        let inv = invert(vec![vec![4.0, 7.0], vec![2.0, 6.0]]).unwrap();
        let want = [[0.6, -0.7], [-0.2, 0.4]];
        for i in 0..2 {
            for j in 0..2 {
                assert!((inv[i][j] - want[i][j]).abs() < 1e-12);
            }
        }
        assert!(invert(vec![vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
    }

    #[test]
    fn standard_errors_of_a_normal_mean() {
        // −ln L of n = 100 draws with σ = 2 around μ: SE(μ) = σ/√n = 0.2.
        let neg_ll = |p: &[f64]| 100.0 * (p[0] - 1.0).powi(2) / (2.0 * 4.0);
        let se = standard_errors(neg_ll, &[1.0]).unwrap();
        assert!((se[0] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn clv_of_a_customer_discounts_each_month() {
        let bg = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        let gg = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };
        let c = CustomerSummary {
            customer: "1".into(),
            first_purchase: chrono::NaiveDate::from_ymd_opt(1997, 1, 1).unwrap(),
            x: 2,
            t_x: 30.43,
            t: 38.86,
            zbar: Some(22.35),
            first_amount: 29.33,
            holdout_x: 0,
            holdout_amount: 0.0,
        };
        let undiscounted =
            customer_value(&bg, &gg, &c, ClvOptions { monthly_discount_rate: 0.0, ..ClvOptions::default() })
                .unwrap();
        let horizon = bg.conditional_expected_transactions(Rft { x: 2, t_x: 30.43, t: 38.86 }, 360.0 / 7.0);
        assert!((undiscounted.expected_purchases - horizon.unwrap()).abs() < 1e-12);
        assert!(
            (undiscounted.clv - undiscounted.expected_purchases * undiscounted.expected_spend).abs() < 1e-9
        );
        let discounted = customer_value(&bg, &gg, &c, ClvOptions::default()).unwrap();
        assert!(discounted.clv < undiscounted.clv && discounted.clv > undiscounted.clv / 1.01f64.powi(12));
    }
}
