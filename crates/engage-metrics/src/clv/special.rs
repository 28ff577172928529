//! Special functions for the buy-till-you-die models: log-gamma, log-beta, log-sum-exp and the
//! Gauss hypergeometric function 2F1 on [0, 1).

/// ln Γ(x) for x > 0 (libm's `lgamma`, accurate to a few ulps).
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(e^x + e^y) without overflow.
pub fn log_sum_exp(x: f64, y: f64) -> f64 {
    let m = x.max(y);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((x - m).exp() + (y - m).exp()).ln()
}

/// Terms summed at most by [`hyp2f1`] before it gives up.
const HYP2F1_MAX_TERMS: usize = 1_000_000;

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1 and c > 0, by its power
/// series Σ (a)ₖ(b)ₖ/((c)ₖ k!) zᵏ, summed until a term no longer changes the sum (relative
/// 1e-16). `None` when z is outside [0, 1), c ≤ 0, or the series has not converged within a
/// million terms (z very close to 1 with large parameters).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) || c <= 0.0 || !a.is_finite() || !b.is_finite() || !c.is_finite() {
        return None;
    }
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    for k in 0..HYP2F1_MAX_TERMS {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term == 0.0 || (term / sum).abs() < 1e-16 && k > 2.0 {
            return sum.is_finite().then_some(sum);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-15));
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-15));
        assert!(close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-15));
        // ln Γ(100) = ln(99!)
        let ln_99_fact: f64 = (1..100).map(|k| (k as f64).ln()).sum();
        assert!(close(ln_gamma(100.0), ln_99_fact, 1e-14));
    }

    #[test]
    fn ln_beta_known_values() {
        // B(2, 3) = 1/12
        assert!(close(ln_beta(2.0, 3.0), (1.0f64 / 12.0).ln(), 1e-14));
    }

    #[test]
    fn log_sum_exp_is_stable() {
        assert!(close(log_sum_exp(1000.0, 1000.0), 1000.0 + 2f64.ln(), 1e-15));
        assert!(close(log_sum_exp(-1000.0, -1001.0), -1000.0 + (1.0 + (-1f64).exp()).ln(), 1e-15));
        assert_eq!(log_sum_exp(f64::NEG_INFINITY, f64::NEG_INFINITY), f64::NEG_INFINITY);
    }

    #[test]
    fn hyp2f1_closed_forms() {
        // 2F1(1, 1; 2; z) = −ln(1 − z)/z
        for z in [0.1, 0.5, 0.9, 0.99] {
            let want = -(1.0f64 - z).ln() / z;
            assert!(close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), want, 1e-13), "z={z}");
        }
        // 2F1(a, b; b; z) = (1 − z)^(−a)
        assert!(close(hyp2f1(0.7, 2.5, 2.5, 0.6).unwrap(), 0.4f64.powf(-0.7), 1e-13));
        // 2F1(1/2, 1/2; 3/2; z²) = arcsin(z)/z
        let z = 0.8f64;
        assert!(close(hyp2f1(0.5, 0.5, 1.5, z * z).unwrap(), z.asin() / z, 1e-13));
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 0.0), Some(1.0));
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0), None);
        assert_eq!(hyp2f1(1.0, 1.0, -1.0, 0.5), None);
    }
}
