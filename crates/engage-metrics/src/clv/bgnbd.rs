//! The BG/NBD model of repeat transactions (Fader, Hardie & Lee 2005, "'Counting Your
//! Customers' the Easy Way: An Alternative to the Pareto/NBD Model", *Marketing Science*
//! 24(2):275–284; P(alive) from Fader, Hardie & Lee 2008, note 021).
//!
//! While alive a customer buys at a Poisson rate λ ~ Gamma(r, α); after each purchase they
//! drop out with probability p ~ Beta(a, b).

use serde::Serialize;

use super::optim::{Settings, nelder_mead};
use super::special::{hyp2f1, ln_beta, ln_gamma, log_sum_exp};
use super::{ClvError, Fit};

/// BG/NBD parameters under the paper's names.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BgNbd {
    /// Shape of the gamma distribution of purchase rates.
    pub r: f64,
    /// Scale (rate) of the gamma distribution of purchase rates, in model time units.
    pub alpha: f64,
    /// First shape of the beta distribution of dropout probabilities.
    pub a: f64,
    /// Second shape of the beta distribution of dropout probabilities.
    pub b: f64,
}

/// One customer's data for the model: x repeat transactions, the last at t_x, observed for T.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rft {
    /// Repeat transactions in (0, T].
    pub x: u32,
    /// Time of the last repeat transaction (0 when x = 0).
    pub t_x: f64,
    /// Time from the first purchase to the end of calibration.
    pub t: f64,
}

impl BgNbd {
    /// ln L for one customer, where L = B(a, b+x)/B(a, b) · Γ(r+x) αʳ / (Γ(r) (α+T)^(r+x)) +
    /// [x>0] · B(a+1, b+x−1)/B(a, b) · Γ(r+x) αʳ / (Γ(r) (α+t_x)^(r+x)), evaluated in logs with log-sum-exp (Hardie's note 027 on the #NUM! error).
    pub fn ln_likelihood(&self, c: Rft) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(c.x);
        let common = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let alive = ln_beta(a, b + x) - ln_beta(a, b) - (r + x) * (alpha + c.t).ln();
        if c.x == 0 {
            return common + alive;
        }
        let dropped = ln_beta(a + 1.0, b + x - 1.0) - ln_beta(a, b) - (r + x) * (alpha + c.t_x).ln();
        common + log_sum_exp(alive, dropped)
    }

    /// Σ ln L over customers.
    pub fn log_likelihood(&self, customers: &[Rft]) -> f64 {
        customers.iter().map(|c| self.ln_likelihood(*c)).sum()
    }

    /// P(alive | x, t_x, T) = 1 / (1 + [x>0] · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)). It is 1 for
    /// x = 0 (a model artefact: dropout happens only right after a purchase).
    pub fn p_alive(&self, c: Rft) -> f64 {
        if c.x == 0 {
            return 1.0;
        }
        let x = f64::from(c.x);
        let ln_odds = self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + c.t).ln() - (self.alpha + c.t_x).ln());
        1.0 / (1.0 + ln_odds.exp())
    }

    /// E[X(t)], expected transactions of a new customer in (0, t]:
    /// (a+b−1)/(a−1) · [1 − (α/(α+t))ʳ · ₂F₁(r, b; a+b−1; t/(α+t))]. The removable singularity
    /// at a = 1 is bridged by averaging a = 1 ± 1e-5.
    pub fn expected_transactions(&self, t: f64) -> Option<f64> {
        if t <= 0.0 {
            return Some(0.0);
        }
        if (self.a - 1.0).abs() < 1e-7 {
            let lo = BgNbd { a: 1.0 - 1e-5, ..*self }.expected_transactions(t)?;
            let hi = BgNbd { a: 1.0 + 1e-5, ..*self }.expected_transactions(t)?;
            return Some((lo + hi) / 2.0);
        }
        let BgNbd { r, alpha, a, b } = *self;
        let z = t / (alpha + t);
        let hyp = hyp2f1(r, b, a + b - 1.0, z)?;
        Some((a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)).powf(r) * hyp))
    }

    /// P(X(t) = n), the probability that a new customer makes n repeat transactions in (0, t]:
    /// B(a, b+n)/B(a, b) · Γ(r+n)/(Γ(r) n!) · (α/(α+t))ʳ (t/(α+t))ⁿ + [n>0] · B(a+1, b+n−1)/B(a, b)
    /// · [1 − (α/(α+t))ʳ Σⱼ₌₀ⁿ⁻¹ Γ(r+j)/(Γ(r) j!) (t/(α+t))ʲ].
    pub fn probability_of_purchases(&self, t: f64, n: u32) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let nf = f64::from(n);
        let ln_p0 = r * (alpha / (alpha + t)).ln();
        let ln_q = (t / (alpha + t)).ln();
        let nbd = |j: f64| ln_gamma(r + j) - ln_gamma(r) - ln_gamma(j + 1.0) + ln_p0 + j * ln_q;
        let first = (ln_beta(a, b + nf) - ln_beta(a, b) + nbd(nf)).exp();
        if n == 0 {
            return first;
        }
        let below: f64 = (0..n).map(|j| nbd(f64::from(j)).exp()).sum();
        first + (ln_beta(a + 1.0, b + nf - 1.0) - ln_beta(a, b)).exp() * (1.0 - below)
    }

    /// E[Y(t) | x, t_x, T], expected transactions in the next t time units of a customer with
    /// this history: (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ·
    /// ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))] · P(alive | x, t_x, T). `None` when the series does
    /// not converge (a horizon far beyond the data).
    pub fn conditional_expected_transactions(&self, c: Rft, t: f64) -> Option<f64> {
        if t <= 0.0 {
            return Some(0.0);
        }
        if (self.a - 1.0).abs() < 1e-7 {
            let lo = BgNbd { a: 1.0 - 1e-5, ..*self }.conditional_expected_transactions(c, t)?;
            let hi = BgNbd { a: 1.0 + 1e-5, ..*self }.conditional_expected_transactions(c, t)?;
            return Some((lo + hi) / 2.0);
        }
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(c.x);
        let z = t / (alpha + c.t + t);
        let hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z)?;
        let ratio = ((alpha + c.t) / (alpha + c.t + t)).powf(r + x);
        let e = (a + b + x - 1.0) / (a - 1.0) * (1.0 - ratio * hyp) * self.p_alive(c);
        e.is_finite().then_some(e)
    }

    /// Fits (r, α, a, b) by maximum likelihood: Nelder–Mead over the logarithms of the
    /// parameters from r = α = a = b = 1, restarted until the optimum holds.
    pub fn fit(customers: &[Rft]) -> Result<Fit<BgNbd>, ClvError> {
        if customers.is_empty() {
            return Err(ClvError::NoCustomers);
        }
        if customers.iter().all(|c| c.x == 0) {
            return Err(ClvError::NoRepeatPurchases);
        }
        let from_log = |p: &[f64]| BgNbd { r: p[0].exp(), alpha: p[1].exp(), a: p[2].exp(), b: p[3].exp() };
        let objective = |p: &[f64]| -from_log(p).log_likelihood(customers);
        let min = nelder_mead(objective, &[0.0; 4], Settings::default());
        let params = from_log(&min.x);
        let natural = |p: &[f64]| BgNbd { r: p[0], alpha: p[1], a: p[2], b: p[3] };
        let std_errors = super::standard_errors(
            |p: &[f64]| -natural(p).log_likelihood(customers),
            &[params.r, params.alpha, params.a, params.b],
        );
        Ok(Fit {
            params,
            log_likelihood: -min.value,
            customers: customers.len(),
            evaluations: min.evaluations,
            converged: min.converged,
            std_errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: BgNbd = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

    #[test]
    fn p_alive_edge_cases() {
        assert_eq!(PAPER.p_alive(Rft { x: 0, t_x: 0.0, t: 38.86 }), 1.0);
        // Bought recently (t_x = T): odds a/(b+x−1) only.
        let p = PAPER.p_alive(Rft { x: 2, t_x: 30.0, t: 30.0 });
        assert!((p - 1.0 / (1.0 + 0.793 / (2.426 + 1.0))).abs() < 1e-12);
        // Long silence lowers it.
        assert!(PAPER.p_alive(Rft { x: 2, t_x: 2.0, t: 38.0 }) < p);
    }

    #[test]
    fn likelihood_of_a_single_customer_matches_the_formula_in_plain_arithmetic() {
        let c = Rft { x: 2, t_x: 30.43, t: 38.86 };
        let BgNbd { r, alpha, a, b } = PAPER;
        let beta = |p: f64, q: f64| ln_beta(p, q).exp();
        let g = |v: f64| ln_gamma(v).exp();
        let x = 2.0;
        let l = beta(a, b + x) / beta(a, b) * g(r + x) * alpha.powf(r) / (g(r) * (alpha + c.t).powf(r + x))
            + beta(a + 1.0, b + x - 1.0) / beta(a, b) * g(r + x) * alpha.powf(r)
                / (g(r) * (alpha + c.t_x).powf(r + x));
        assert!((PAPER.ln_likelihood(c) - l.ln()).abs() < 1e-12);
    }

    #[test]
    fn expected_transactions_grow_from_zero_and_bridge_a_equal_one() {
        assert_eq!(PAPER.expected_transactions(0.0), Some(0.0));
        let e39 = PAPER.expected_transactions(39.0).unwrap();
        let e78 = PAPER.expected_transactions(78.0).unwrap();
        assert!(e39 > 0.0 && e78 > e39);
        let near = |a: f64| BgNbd { a, ..PAPER }.expected_transactions(20.0).unwrap();
        assert!((near(1.0) - near(1.0 + 1e-4)).abs() < 1e-3);
    }

    #[test]
    fn expected_transactions_agree_with_the_distribution() {
        // Σₙ n·P(X(t) = n) = E[X(t)] and Σₙ P = 1: an independent check of the 2F1 series.
        for t in [1.0, 39.0, 78.0] {
            let (mut total, mut mean) = (0.0, 0.0);
            for n in 0..3000 {
                let p = PAPER.probability_of_purchases(t, n);
                total += p;
                mean += f64::from(n) * p;
            }
            assert!((total - 1.0).abs() < 1e-9, "t={t}: {total}");
            let e = PAPER.expected_transactions(t).unwrap();
            assert!((mean - e).abs() < 1e-8 * e.max(1.0), "t={t}: {mean} vs {e}");
        }
    }

    #[test]
    fn fit_refuses_empty_data() {
        assert!(matches!(BgNbd::fit(&[]), Err(ClvError::NoCustomers)));
        assert!(matches!(BgNbd::fit(&[Rft { x: 0, t_x: 0.0, t: 5.0 }]), Err(ClvError::NoRepeatPurchases)));
    }
}
