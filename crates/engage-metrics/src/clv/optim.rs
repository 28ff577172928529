//! Nelder–Mead minimisation with restarts, for the models' negative log-likelihoods (fitted
//! over log-parameters, so the search is unconstrained).

/// Where a minimisation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// The best point found.
    pub x: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// Objective evaluations used.
    pub evaluations: usize,
    /// Restarts of the simplex around the best point (each restart confirms or improves it).
    pub restarts: usize,
    /// True when the simplex shrank below the tolerances and a restart found no better point.
    pub converged: bool,
}

/// Settings of [`nelder_mead`].
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Stop when the simplex's objective values differ by less than this.
    pub f_tol: f64,
    /// ...and its vertices lie within this distance of the best one.
    pub x_tol: f64,
    /// Initial step along each axis.
    pub step: f64,
    /// Evaluation budget.
    pub max_evaluations: usize,
    /// Most restarts.
    pub max_restarts: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { f_tol: 1e-11, x_tol: 1e-9, step: 0.5, max_evaluations: 200_000, max_restarts: 20 }
    }
}

/// Minimises `f` from `start` with the Nelder–Mead simplex (reflection 1, expansion 2,
/// contraction ½, shrink ½). A non-finite objective counts as +∞, so the search steps away from
/// where the model is undefined. After the simplex collapses, it is rebuilt around the best point
/// and run again until a restart improves the objective by less than `f_tol`, which guards
/// against the method's known premature stalls.
pub fn nelder_mead(f: impl Fn(&[f64]) -> f64, start: &[f64], settings: Settings) -> Minimum {
    let n = start.len();
    let eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut evaluations = 0usize;
    let mut best_x = start.to_vec();
    let mut best_v = eval(start);
    evaluations += 1;
    let mut restarts = 0usize;
    let mut converged = false;
    let mut step = settings.step;
    loop {
        // Build a simplex around the best point.
        let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
        simplex.push((best_x.clone(), best_v));
        for i in 0..n {
            let mut x = best_x.clone();
            x[i] += step;
            let v = eval(&x);
            evaluations += 1;
            simplex.push((x, v));
        }
        let mut collapsed = false;
        while evaluations < settings.max_evaluations {
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            let spread = simplex[n].1 - simplex[0].1;
            let size = simplex[1..]
                .iter()
                .map(|(x, _)| x.iter().zip(&simplex[0].0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max))
                .fold(0.0, f64::max);
            if spread.abs() <= settings.f_tol && size <= settings.x_tol
                || spread.is_finite() && spread <= settings.f_tol * 1e-3
            {
                collapsed = true;
                break;
            }
            let centroid: Vec<f64> =
                (0..n).map(|j| simplex[..n].iter().map(|(x, _)| x[j]).sum::<f64>() / n as f64).collect();
            let worst = simplex[n].clone();
            let towards = |t: f64| -> Vec<f64> {
                centroid.iter().zip(&worst.0).map(|(c, w)| c + t * (w - c)).collect()
            };
            let reflected = towards(-1.0);
            let fr = eval(&reflected);
            evaluations += 1;
            if fr < simplex[0].1 {
                let expanded = towards(-2.0);
                let fe = eval(&expanded);
                evaluations += 1;
                simplex[n] = if fe < fr { (expanded, fe) } else { (reflected, fr) };
            } else if fr < simplex[n - 1].1 {
                simplex[n] = (reflected, fr);
            } else {
                let (contracted, fc) = if fr < worst.1 {
                    let c = towards(-0.5);
                    let v = eval(&c);
                    (c, v)
                } else {
                    let c = towards(0.5);
                    let v = eval(&c);
                    (c, v)
                };
                evaluations += 1;
                if fc < fr.min(worst.1) {
                    simplex[n] = (contracted, fc);
                } else {
                    let best = simplex[0].0.clone();
                    for vertex in simplex.iter_mut().skip(1) {
                        let x: Vec<f64> =
                            best.iter().zip(&vertex.0).map(|(b, v)| b + 0.5 * (v - b)).collect();
                        let v = eval(&x);
                        evaluations += 1;
                        *vertex = (x, v);
                    }
                }
            }
        }
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let improvement = best_v - simplex[0].1;
        if simplex[0].1 < best_v {
            best_x = simplex[0].0.clone();
            best_v = simplex[0].1;
        }
        if !collapsed || evaluations >= settings.max_evaluations {
            break;
        }
        if restarts > 0 && improvement <= settings.f_tol {
            converged = true;
            break;
        }
        if restarts >= settings.max_restarts {
            break;
        }
        restarts += 1;
        step = (step * 0.5).max(1e-3);
    }
    Minimum { x: best_x, value: best_v, evaluations, restarts, converged }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_quadratic() {
        let f = |x: &[f64]| (x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2) + (x[2] - 0.5).powi(2);
        let m = nelder_mead(f, &[0.0, 0.0, 0.0], Settings::default());
        assert!(m.converged);
        assert!((m.x[0] - 3.0).abs() < 1e-5, "{m:?}");
        assert!((m.x[1] + 1.0).abs() < 1e-5, "{m:?}");
        assert!((m.x[2] - 0.5).abs() < 1e-5, "{m:?}");
        assert!(m.value < 1e-10);
    }

    #[test]
    fn finds_the_rosenbrock_valley_minimum() {
        let f = |x: &[f64]| 100.0 * (x[1] - x[0] * x[0]).powi(2) + (1.0 - x[0]).powi(2);
        let m = nelder_mead(f, &[-1.2, 1.0], Settings::default());
        assert!(m.converged);
        assert!((m.x[0] - 1.0).abs() < 1e-5 && (m.x[1] - 1.0).abs() < 1e-5, "{m:?}");
    }

    #[test]
    fn steps_away_from_undefined_regions() {
        // Undefined (NaN) for x < 0; minimum at x = 2.
        let f = |x: &[f64]| if x[0] < 0.0 { f64::NAN } else { (x[0].sqrt() - 2f64.sqrt()).powi(2) };
        let m = nelder_mead(f, &[0.1], Settings::default());
        assert!((m.x[0] - 2.0).abs() < 1e-4, "{m:?}");
    }
}
