//! The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
//! Using Iso-Value Curves for Customer Base Analysis", *JMR* 42(4):415–430; Fader & Hardie 2013,
//! "The Gamma-Gamma Model of Monetary Value", note 025).
//!
//! Each transaction's value z ~ Gamma(p, ν); ν ~ Gamma(q, γ) across customers, so a customer's
//! mean spend is ζ = p/ν.

use serde::Serialize;

use super::optim::{Settings, nelder_mead};
use super::special::ln_gamma;
use super::{ClvError, Fit};

/// Gamma-Gamma parameters under the paper's names.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GammaGamma {
    /// Shape of the per-transaction spend distribution.
    pub p: f64,
    /// Shape of the gamma distribution of ν across customers.
    pub q: f64,
    /// Rate of the gamma distribution of ν across customers.
    pub gamma: f64,
}

/// One repeat customer's spend data: x repeat transactions with mean value z̄.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    /// Repeat transactions (x > 0).
    pub x: u32,
    /// Mean value of those transactions (> 0).
    pub zbar: f64,
}

impl GammaGamma {
    /// ln f(z̄ | x) = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln z̄ + px ln x
    /// − (px+q) ln(γ + x z̄).
    pub fn ln_likelihood(&self, s: Spend) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let x = f64::from(s.x);
        let px = p * x;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * gamma.ln()
            + (px - 1.0) * s.zbar.ln()
            + px * x.ln()
            - (px + q) * (gamma + x * s.zbar).ln()
    }

    /// Σ ln f over customers.
    pub fn log_likelihood(&self, customers: &[Spend]) -> f64 {
        customers.iter().map(|s| self.ln_likelihood(*s)).sum()
    }

    /// Population mean spend per transaction, pγ/(q−1); `None` unless q > 1.
    pub fn population_mean(&self) -> Option<f64> {
        (self.q > 1.0).then(|| self.p * self.gamma / (self.q - 1.0))
    }

    /// E[M | z̄, x] = (γ + x z̄) p / (px + q − 1), the customer's expected spend per transaction
    /// — a weighted average of the population mean and their own mean. For x = 0 (or no z̄) it
    /// is the population mean. `None` unless q > 1.
    pub fn expected_spend(&self, x: u32, zbar: Option<f64>) -> Option<f64> {
        let GammaGamma { p, q, gamma } = *self;
        if q <= 1.0 {
            return None;
        }
        match zbar {
            Some(z) if x > 0 => {
                let x = f64::from(x);
                Some((gamma + x * z) * p / (p * x + q - 1.0))
            }
            _ => self.population_mean(),
        }
    }

    /// Fits (p, q, γ) by maximum likelihood on repeat customers with z̄ > 0 (others carry no
    /// spend information): Nelder–Mead over log-parameters from p = q = γ = 1.
    pub fn fit(customers: &[Spend]) -> Result<Fit<GammaGamma>, ClvError> {
        let usable: Vec<Spend> =
            customers.iter().copied().filter(|s| s.x > 0 && s.zbar > 0.0 && s.zbar.is_finite()).collect();
        if usable.is_empty() {
            return Err(ClvError::NoRepeatPurchases);
        }
        let from_log = |v: &[f64]| GammaGamma { p: v[0].exp(), q: v[1].exp(), gamma: v[2].exp() };
        let objective = |v: &[f64]| -from_log(v).log_likelihood(&usable);
        let min = nelder_mead(objective, &[0.0; 3], Settings::default());
        let params = from_log(&min.x);
        let natural = |v: &[f64]| GammaGamma { p: v[0], q: v[1], gamma: v[2] };
        let std_errors = super::standard_errors(
            |v: &[f64]| -natural(v).log_likelihood(&usable),
            &[params.p, params.q, params.gamma],
        );
        Ok(Fit {
            params,
            log_likelihood: -min.value,
            customers: usable.len(),
            evaluations: min.evaluations,
            converged: min.converged,
            std_errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: GammaGamma = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };

    #[test]
    fn expected_spend_is_a_weighted_average() {
        let pop = PAPER.population_mean().unwrap();
        assert!((pop - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        assert_eq!(PAPER.expected_spend(0, None), Some(pop));
        let e = PAPER.expected_spend(2, Some(50.0)).unwrap();
        let w = (3.74 - 1.0) / (6.25 * 2.0 + 3.74 - 1.0);
        assert!((e - (w * pop + (1.0 - w) * 50.0)).abs() < 1e-9);
        assert_eq!(GammaGamma { q: 0.9, ..PAPER }.expected_spend(2, Some(50.0)), None);
    }

    #[test]
    fn density_integrates_to_one() {
        // Trapezoid over z̄ for x = 3: ∫ f(z̄ | x) dz̄ = 1.
        let ln_f = |z: f64| PAPER.ln_likelihood(Spend { x: 3, zbar: z });
        let (lo, hi, n) = (1e-6, 2000.0, 400_000);
        let h = (hi - lo) / f64::from(n);
        let mut total = 0.0;
        for i in 0..=n {
            let z = lo + h * f64::from(i);
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            total += w * ln_f(z).exp();
        }
        assert!((total * h - 1.0).abs() < 1e-4, "{}", total * h);
    }

    #[test]
    fn fit_needs_spend() {
        assert!(matches!(GammaGamma::fit(&[Spend { x: 2, zbar: 0.0 }]), Err(ClvError::NoRepeatPurchases)));
    }
}
