//! The MODiCuM game of the seed's section 3.6 (spec `compute.md` §5) as pure functions:
//! payoffs of Tables 3.2-3.3, Theorem 3's optimal JC honesty, the mixing rates of eq. 3.4 and
//! 3.5, the JC types of Table 3.4, and the smallest θ for a target honesty. Off the ledger, so
//! floats are fine.
//!
//! Notation: p_a is the JC's honesty (the chance a correct run of its job is "normal"), p_v its
//! verification rate, p_e the RP's rate of honest execution, n the mediator's runs, θ the
//! penalty rate, πc the job price, πd the compensation (πd = πc in the analysis), g_m the cost
//! of asking for mediation, c_v, c_e, c_d the costs to verify, execute and forge. The deposit
//! is d = πc·(n + θ) (spec §5.6 N1); participation costs and π_a shift every payoff alike and
//! are left out.

use serde::Serialize;

/// The parameters the payoffs depend on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Game {
    pub n: u32,
    pub theta: f64,
    pub price: f64,
    pub compensation: f64,
    pub mediation_cost: f64,
    /// The JC's benefit of a finished job.
    pub benefit: f64,
    pub verify_cost: f64,
    pub execute_cost: f64,
    pub deceive_cost: f64,
}

impl Game {
    /// The setting of Fig. 3.6: πc = 2, g_m = 0, c_v = 1, b = 4, πd = πc, with RP costs
    /// c_e = πc, c_d = 0 (the worst case of eq. 3.4).
    pub fn figure_3_6(n: u32, theta: f64) -> Self {
        Self {
            n,
            theta,
            price: 2.0,
            compensation: 2.0,
            mediation_cost: 0.0,
            benefit: 4.0,
            verify_cost: 1.0,
            execute_cost: 2.0,
            deceive_cost: 0.0,
        }
    }

    fn k(&self) -> f64 {
        f64::from(self.n) + self.theta
    }

    /// p_a^n: all n mediator runs normal.
    fn all_normal(&self, p_a: f64) -> f64 {
        p_a.powi(self.n as i32)
    }

    /// Table 3.3, the JC's payoff when the RP executes and the JC verifies (eq. 3.3).
    pub fn jc_ev(&self, p_a: f64) -> f64 {
        let pn = self.all_normal(p_a);
        self.benefit - self.price * self.k() * (1.0 - p_a) * (1.0 - pn)
            + (1.0 - p_a) * (-self.mediation_cost + pn * self.compensation)
            - self.verify_cost
            - p_a * self.price
    }

    /// Table 3.3: executes, passes.
    pub fn jc_ep(&self) -> f64 {
        self.benefit - self.price
    }

    /// Table 3.3: deceives, verifies.
    pub fn jc_dv(&self, p_a: f64) -> f64 {
        let pn = self.all_normal(p_a);
        -self.verify_cost - self.mediation_cost + pn * self.compensation
            - self.price * (f64::from(self.n) - pn * self.k() + self.theta)
    }

    /// Table 3.3: deceives, passes.
    pub fn jc_dp(&self) -> f64 {
        -self.price
    }

    /// Table 3.2, the RP's payoffs (EV, EP, DV, DP).
    pub fn rp(&self, p_a: f64) -> [f64; 4] {
        let pn = self.all_normal(p_a);
        let (c, n, t) = (self.price, f64::from(self.n), self.theta);
        let ev = -self.execute_cost
            + c * (n * pn * (p_a - 1.0) + p_a + pn * t * (p_a - 1.0))
            + self.compensation * (1.0 - p_a) * (1.0 - pn);
        let ep = c - self.execute_cost;
        let dv = -self.deceive_cost + pn * c * (-n - t) + self.compensation * (1.0 - pn);
        let dp = c - self.deceive_cost;
        [ev, ep, dv, dp]
    }

    /// Eq. 3.4: the verification rate that makes the RP indifferent between executing and
    /// deceiving, p_v = (c_e - c_d) / (p_a^(n+1)·πc·(θ + n + 1)) (πd = πc).
    pub fn verification_rate(&self, p_a: f64) -> f64 {
        (self.execute_cost - self.deceive_cost)
            / (p_a.powi(self.n as i32 + 1) * self.price * (self.k() + 1.0))
    }

    /// Table 3.4: P^JC_EV, below which c_v makes verifying beat passing against an executing RP.
    pub fn p_jc_ev(&self, p_a: f64) -> f64 {
        let pn = self.all_normal(p_a);
        -self.price * (1.0 - p_a) * (1.0 - pn) * (self.k() + 1.0)
            + (1.0 - p_a) * (-self.mediation_cost + 2.0 * self.price)
    }

    /// Table 3.4: P^JC_DV, the same against a deceiving RP.
    pub fn p_jc_dv(&self, p_a: f64) -> f64 {
        let pn = self.all_normal(p_a);
        2.0 * self.price - self.mediation_cost - self.price * (1.0 - pn) * (self.k() + 1.0)
    }

    /// Table 3.4's type of a JC with verification cost c_v (spec §5.6 N3: type 2 is empty).
    pub fn jc_type(&self, p_a: f64) -> JcType {
        let (ev, dv) = (self.p_jc_ev(p_a), self.p_jc_dv(p_a));
        match (self.verify_cost < ev, self.verify_cost < dv) {
            (true, true) => JcType::AlwaysVerifies,
            (true, false) => JcType::VerifiesAnExecutor,
            (false, true) => JcType::Mixes,
            (false, false) => JcType::NeverVerifies,
        }
    }

    /// Eq. 3.5: the RP's execution rate that makes the JC indifferent between verifying and
    /// passing, p_e = (P^JC_DV - c_v) / (p_a·P^JC_DV).
    pub fn execution_rate(&self, p_a: f64) -> f64 {
        let dv = self.p_jc_dv(p_a);
        (dv - self.verify_cost) / (p_a * dv)
    }
}

/// The JC types of Table 3.4 (Theorems 4-6, 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JcType {
    /// Type 1: verifies whatever the RP does (Theorem 4).
    AlwaysVerifies,
    /// Type 2: verifies an executing RP, passes a deceiving one (Theorem 5).
    VerifiesAnExecutor,
    /// Type 3: passes an executing RP, verifies a deceiving one: both mix (Theorem 6).
    Mixes,
    /// Type 4: never verifies, so it does not participate (Theorem 1).
    NeverVerifies,
}

/// L(p) = p^(n-1)·((n+1)·p - n): the left side of Theorem 3's first-order condition
/// L(p_a) = (K - 1)/(K + 1), K = n + θ. Increasing from 0 to 1 on [n/(n+1), 1].
fn optimality_lhs(p: f64, n: u32) -> f64 {
    p.powi(n as i32 - 1) * (f64::from(n + 1) * p - f64::from(n))
}

/// Theorem 3's worst case (g_m = 0, πd = πc, p_e = 1): the p_a maximizing the JC's expected
/// payoff, the root of dU^JC/dp_a = 0 in [n/(n+1), 1). It depends on n and θ only.
pub fn optimal_honesty(n: u32, theta: f64) -> f64 {
    let k = f64::from(n) + theta;
    let target = (k - 1.0) / (k + 1.0);
    let (mut lo, mut hi) = (f64::from(n) / f64::from(n + 1), 1.0);
    if target <= 0.0 {
        return lo;
    }
    // Bisection: 64 halvings of an interval shorter than 1 reach f64 resolution.
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if optimality_lhs(mid, n) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The eq. 3.4 bound with c_e = πc, c_d = 0: p_v,max = 1 / (p_a^(n+1)·(θ + n + 1)).
pub fn max_verification_rate(n: u32, theta: f64, p_a: f64) -> f64 {
    1.0 / (p_a.powi(n as i32 + 1) * (f64::from(n) + theta + 1.0))
}

/// The smallest θ whose optimal honesty is at least `p_a` (the inverse of
/// [`optimal_honesty`]): θ_min = (1 + L)/(1 - L) - n with L = L(p_a). May be negative: then
/// any θ >= 0 gives that honesty.
pub fn min_penalty_rate(n: u32, p_a: f64) -> f64 {
    let l = optimality_lhs(p_a, n);
    (1.0 + l) / (1.0 - l) - f64::from(n)
}

/// What `agora compute calc` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Calc {
    pub n: u32,
    pub theta: f64,
    /// Theorem 3's optimal JC honesty in the worst case.
    pub p_a: f64,
    /// Eq. 3.4 at that p_a with c_e = πc, c_d = 0.
    pub p_v_max: f64,
    /// The largest share of jobs mediated, min(p_v,max, 1)·(1 - p_a).
    pub mediation_rate_max: f64,
    /// With `--pa`: the target honesty and the smallest θ reaching it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_p_a: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theta_min: Option<f64>,
    /// The smallest integer θ a market accepts (θ >= 1) reaching the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theta_min_market: Option<u64>,
}

/// Error of a calculator input outside the game's domain.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalcError {
    #[error("n must be at least 1")]
    N,
    #[error("theta must be a finite number >= 0")]
    Theta,
    #[error("p_a must lie in [0, 1)")]
    Honesty,
}

pub fn calc(n: u32, theta: f64, target_p_a: Option<f64>) -> Result<Calc, CalcError> {
    if n == 0 {
        return Err(CalcError::N);
    }
    if !theta.is_finite() || theta < 0.0 {
        return Err(CalcError::Theta);
    }
    if target_p_a.is_some_and(|p| !(0.0..1.0).contains(&p)) {
        return Err(CalcError::Honesty);
    }
    let p_a = optimal_honesty(n, theta);
    let p_v_max = max_verification_rate(n, theta, p_a);
    let theta_min = target_p_a.map(|p| min_penalty_rate(n, p));
    Ok(Calc {
        n,
        theta,
        p_a,
        p_v_max,
        // p_v,max >= 1 means no mix keeps the RP honest: the JC verifies every result.
        mediation_rate_max: p_v_max.min(1.0) * (1.0 - p_a),
        target_p_a,
        theta_min,
        theta_min_market: theta_min.map(|t| t.ceil().max(1.0) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn theorem_3_reproduces_the_seed() {
        assert!(close(optimal_honesty(1, 0.0), 0.5, 1e-12));
        assert!(close(optimal_honesty(4, 0.0), 0.943, 5e-4));
        let p = optimal_honesty(2, 50.0);
        assert!(p >= 0.99, "{p}");
        let pv = max_verification_rate(2, 50.0, p);
        assert!(close(pv, 0.02, 1e-3), "{pv}");
    }

    #[test]
    fn spec_table_of_optimal_honesty() {
        let theta0 = [
            0.5000, 0.8047, 0.9032, 0.9431, 0.9627, 0.9737, 0.9805, 0.9850, 0.9881, 0.9903,
        ];
        for (i, want) in theta0.iter().enumerate() {
            assert!(
                close(optimal_honesty(i as u32 + 1, 0.0), *want, 5e-5),
                "n = {}",
                i + 1
            );
        }
        for (n, want) in [(1, 0.98077), (2, 0.99050), (3, 0.99377), (4, 0.99541)] {
            assert!(close(optimal_honesty(n, 50.0), want, 5e-6), "n = {n}");
        }
        for (theta, want) in [(1.0, 0.8604), (5.0, 0.9343), (10.0, 0.9604), (20.0, 0.9779)] {
            assert!(close(optimal_honesty(2, theta), want, 5e-5), "θ = {theta}");
        }
        // Closed forms: n = 1 gives (θ+1)/(θ+2).
        assert!(close(optimal_honesty(1, 7.0), 8.0 / 9.0, 1e-12));
        // Exact values behind the text's rounded "0.99" and "0.02" (spec §7 A23).
        assert!(close(optimal_honesty(2, 50.0), 0.990498, 5e-7));
        assert!(close(max_verification_rate(2, 50.0, 0.99), 0.019445, 5e-7));
        assert!(close(
            max_verification_rate(2, 50.0, optimal_honesty(2, 50.0)),
            0.019416,
            5e-7
        ));
    }

    /// The root is the maximum of eq. 3.3 itself, computed from Table 3.3's payoff, not from
    /// the derived condition.
    #[test]
    fn the_optimum_maximizes_the_jcs_payoff() {
        for (n, theta) in [(1, 0.0), (2, 0.0), (4, 0.0), (2, 50.0), (3, 10.0)] {
            let g = Game::figure_3_6(n, theta);
            let p = optimal_honesty(n, theta);
            let h = 1e-6;
            let slope = (g.jc_ev(p + h) - g.jc_ev(p - h)) / (2.0 * h);
            assert!(slope.abs() < 1e-6, "n {n} θ {theta}: dU/dp_a = {slope}");
            for dp in [-0.01, 0.01] {
                let q = (p + dp).clamp(0.0, 1.0);
                assert!(g.jc_ev(q) < g.jc_ev(p), "n {n} θ {theta}: U({q}) >= U({p})");
            }
        }
    }

    #[test]
    fn eq_3_4_makes_the_rp_indifferent() {
        let mut g = Game::figure_3_6(2, 50.0);
        g.execute_cost = 1.5;
        g.deceive_cost = 0.25;
        let p_a = 0.99;
        let pv = g.verification_rate(p_a);
        let [ev, ep, dv, dp] = g.rp(p_a);
        let execute = pv * ev + (1.0 - pv) * ep;
        let deceive = pv * dv + (1.0 - pv) * dp;
        assert!(close(execute, deceive, 1e-12), "{execute} vs {deceive}");
    }

    #[test]
    fn g3_table_3_4_and_eq_3_5() {
        // πc = 2, g_m = 0, n = 2, θ = 50, p_a = 0.99, c_v = 1.
        let g = Game::figure_3_6(2, 50.0);
        assert!(close(g.p_jc_dv(0.99), 1.8906, 1e-12));
        assert!(close(g.p_jc_ev(0.99), 0.018906, 1e-12));
        assert_eq!(g.jc_type(0.99), JcType::Mixes);
        assert!(close(g.execution_rate(0.99), 445_300.0 / 935_847.0, 1e-12));
        // And that p_e makes the JC indifferent between verifying and passing.
        let pe = g.execution_rate(0.99);
        let verify = pe * g.jc_ev(0.99) + (1.0 - pe) * g.jc_dv(0.99);
        let pass = pe * g.jc_ep() + (1.0 - pe) * g.jc_dp();
        assert!(close(verify, pass, 1e-12), "{verify} vs {pass}");
    }

    #[test]
    fn type_2_is_empty_and_the_others_occur() {
        for cv in [0.0, 0.01, 0.5, 1.0, 1.9, 3.0] {
            for p_a in [0.5, 0.9, 0.99, 0.999] {
                let mut g = Game::figure_3_6(2, 50.0);
                g.verify_cost = cv;
                assert_ne!(
                    g.jc_type(p_a),
                    JcType::VerifiesAnExecutor,
                    "c_v {cv} p_a {p_a}"
                );
            }
        }
        let mut g = Game::figure_3_6(2, 50.0);
        g.verify_cost = 0.01;
        assert_eq!(g.jc_type(0.99), JcType::AlwaysVerifies);
        g.verify_cost = 3.0;
        assert_eq!(g.jc_type(0.99), JcType::NeverVerifies);
    }

    #[test]
    fn theta_min_inverts_the_optimum() {
        assert!(close(min_penalty_rate(2, 0.99), 47.38, 5e-3));
        for (n, theta) in [(1, 3.0), (2, 50.0), (4, 12.5)] {
            let p = optimal_honesty(n, theta);
            assert!(
                close(min_penalty_rate(n, p), theta, 1e-6),
                "n {n} θ {theta}"
            );
        }
        let c = calc(2, 50.0, Some(0.99)).unwrap();
        assert_eq!(c.theta_min_market, Some(48));
        assert_eq!(calc(1, 0.0, Some(0.2)).unwrap().theta_min_market, Some(1));
    }

    #[test]
    fn a_bound_above_one_means_verifying_everything() {
        // n = 1, θ = 0: p_a = 1/2 and eq. 3.4 asks for p_v = 2.
        let c = calc(1, 0.0, None).unwrap();
        assert!(close(c.p_v_max, 2.0, 1e-12));
        assert!(close(c.mediation_rate_max, 0.5, 1e-12));
    }

    #[test]
    fn inputs_outside_the_domain_are_refused() {
        assert_eq!(calc(0, 1.0, None).unwrap_err(), CalcError::N);
        assert_eq!(calc(1, -1.0, None).unwrap_err(), CalcError::Theta);
        assert_eq!(calc(1, f64::NAN, None).unwrap_err(), CalcError::Theta);
        assert_eq!(calc(1, 1.0, Some(1.0)).unwrap_err(), CalcError::Honesty);
    }
}
