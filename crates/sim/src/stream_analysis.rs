//! The game analysis of the stream market (dissertation §4.5; spec section 6): the one-input
//! game (Table 4.2, Theorem 7), the game with the customer's commitment (Tables 4.3, 4.4,
//! eq. 4.4), partial processing (eq. 4.5, 4.6), the customer's break-even (Fig. 4.6) and the
//! replica count (eq. 4.3, corrected). Pure functions of [`Params`], in dollars as the seed's
//! Table 4.7; `f64` is exact enough for a calculator (the ledger itself uses integers).

use serde::{Deserialize, Serialize};

/// The model's parameters; [`Default`] is the seed's Table 4.7.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// λ: inputs per second.
    pub lambda: f64,
    /// Δ: allocation length in seconds.
    pub delta_s: f64,
    /// n: test outputs the customer commits to.
    pub n: f64,
    /// ρ: penalty rate (π_cd = π_sd = ρ·π_s).
    pub rho: f64,
    /// π_s: price of processing one input.
    pub pi_s: f64,
    /// b: the customer's benefit per processed output.
    pub b: f64,
    /// π_sε: the supplier's electricity per input.
    pub pi_se: f64,
    /// π_cg: the customer's cost to generate one test output.
    pub pi_cg: f64,
    /// π_cc: the customer's cost of writing its commitment (gas in the seed).
    pub pi_cc: f64,
    /// π_v: the supplier's cost of posting its output (gas in the seed).
    pub pi_v: f64,
    /// π_a: each participant's cost of accepting (gas and allocator share in the seed).
    pub pi_a: f64,
    /// π_A: the allocator's payout.
    pub pi_allocator: f64,
    /// π_m: the mediator's payout for availability.
    pub pi_m: f64,
    /// π_vε: the mediator's electricity per re-processed input.
    pub pi_ve: f64,
    /// π_mc: the mediator's cost of posting a result.
    pub pi_mc: f64,
    /// P(b): the success probability the customer wants (eq. 4.3).
    pub p_b: f64,
    /// p_f: one replica's failure probability over the allocation (eq. 4.3).
    pub p_f: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            lambda: 20.0,
            delta_s: 600.0,
            n: 12.0,
            rho: 1000.0,
            pi_s: 2.0e-5,
            b: 3.5e-5,
            pi_se: 7e-8,
            pi_cg: 7e-8,
            pi_cc: 1.1257,
            pi_v: 1.0669,
            pi_a: 3.02994,
            pi_allocator: 0.0,
            pi_m: 3.3e-5,
            pi_ve: 7e-8,
            pi_mc: 0.0,
            p_b: 0.99,
            p_f: 0.05,
        }
    }
}

impl Params {
    /// λΔ: inputs per replica.
    pub fn inputs(&self) -> f64 {
        self.lambda * self.delta_s
    }

    /// π_d = π_cd = π_sd = ρ·π_s.
    pub fn deposit(&self) -> f64 {
        self.rho * self.pi_s
    }

    /// The same parameters without the seed's gas costs (Agora charges none, spec A10).
    pub fn without_gas(mut self) -> Self {
        self.pi_cc = 0.0;
        self.pi_v = 0.0;
        self.pi_a = 0.0;
        self
    }
}

/// One cell of a 2×2 game: payoffs and whether each player's choice is a best response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cell {
    pub supplier: f64,
    pub customer: f64,
    pub supplier_best: bool,
    pub customer_best: bool,
}

/// A 2×2 game: rows are the supplier's s (process) and s̄, columns the customer's s_c (check)
/// and s̄_c.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Game {
    pub rows: [&'static str; 2],
    pub columns: [&'static str; 2],
    pub cells: [[Cell; 2]; 2],
    /// The pure-strategy Nash equilibria, as "row/column".
    pub pure_nash: Vec<String>,
}

/// Marks best responses (ties count as best) and lists the pure equilibria.
fn game(payoffs: [[(f64, f64); 2]; 2]) -> Game {
    let rows = ["s", "not_s"];
    let columns = ["s_c", "not_s_c"];
    let cell = |r: usize, c: usize| {
        let (supplier, customer) = payoffs[r][c];
        Cell {
            supplier,
            customer,
            supplier_best: supplier >= payoffs[1 - r][c].0,
            customer_best: customer >= payoffs[r][1 - c].1,
        }
    };
    let cells = [[cell(0, 0), cell(0, 1)], [cell(1, 0), cell(1, 1)]];
    let mut pure_nash = Vec::new();
    for (r, row) in cells.iter().enumerate() {
        for (c, x) in row.iter().enumerate() {
            if x.supplier_best && x.customer_best {
                pure_nash.push(format!("{}/{}", rows[r], columns[c]));
            }
        }
    }
    Game {
        rows,
        columns,
        cells,
        pure_nash,
    }
}

/// Table 4.2 as printed (spec A6: it charges the checking customer π_v too). Theorem 7 says it
/// has no pure equilibrium; that holds only while b > π_sε + π_v (else the customer never
/// checks and (s̄, s̄_c) is one), which Table 4.7's gas breaks.
pub fn one_input_game(p: &Params) -> Game {
    let (s, se, v, a, d, b) = (p.pi_s, p.pi_se, p.pi_v, p.pi_a, p.deposit(), p.b);
    game([
        [
            (s - se - v - a, b - s - se - v - a),
            (s - se - v - a, b - s - a),
        ],
        [(-v - d - a, b - s - se - v - a), (s - v - a, -a - s)],
    ])
}

/// Table 4.3: the game once the customer commits to n tests.
pub fn commitment_game(p: &Params) -> Game {
    let (l, d) = (p.inputs(), p.deposit());
    let supplier_s = l * (p.pi_s - p.pi_se) - p.pi_v - p.pi_a;
    let supplier_not = -p.pi_v - d - p.pi_a;
    let tests = p.n * p.pi_cg;
    game([
        [
            (supplier_s, l * (p.b - p.pi_s) - tests - p.pi_cc - p.pi_a),
            (supplier_s, l * (p.b - p.pi_s) - p.pi_cc - d - p.pi_a),
        ],
        [
            (supplier_not, -l * p.pi_s - tests - p.pi_cc - p.pi_a),
            (supplier_not, -l * p.pi_s - p.pi_cc - d - p.pi_a),
        ],
    ])
}

/// Table 4.4's outcome o1..o4 for the four parties.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub name: &'static str,
    pub strategies: &'static str,
    pub customer: f64,
    pub supplier: f64,
    pub allocator: f64,
    /// The mediator as the seed prints it: π_m − n(π_sε − π_vε + π_s) − π_mc.
    pub mediator_printed: f64,
    /// The mediator as the text says (spec A7): paid π_m + n·π_s from fines, re-processing
    /// costs n·π_vε, posting π_mc.
    pub mediator: f64,
}

pub fn outcomes(p: &Params) -> Vec<Outcome> {
    let g = commitment_game(p);
    let mediated_printed = p.pi_m - p.n * (p.pi_se - p.pi_ve + p.pi_s) - p.pi_mc;
    let mediated = p.pi_m + p.n * p.pi_s - p.n * p.pi_ve - p.pi_mc;
    [
        ("o1", "s/s_c", 0, 0),
        ("o2", "not_s/s_c", 1, 0),
        ("o3", "s/not_s_c", 0, 1),
        ("o4", "not_s/not_s_c", 1, 1),
    ]
    .into_iter()
    .map(|(name, strategies, r, c)| {
        let cell = &g.cells[r][c];
        let honest = r == 0 && c == 0;
        Outcome {
            name,
            strategies,
            customer: cell.customer,
            supplier: cell.supplier,
            allocator: p.pi_allocator,
            mediator_printed: if honest { p.pi_m } else { mediated_printed },
            mediator: if honest { p.pi_m } else { mediated },
        }
    })
    .collect()
}

/// Eq. 4.4 and the supplier's dominance condition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dominance {
    /// n·π_cg < π_cd: committing dominates for the customer.
    pub n_pi_cg: f64,
    pub pi_cd: f64,
    pub customer_commits: bool,
    /// n·e_c < n < ρ: the sufficient form the ledger enforces.
    pub n_below_rho: bool,
    /// λΔ(π_s − π_sε) + π_sd > 0: processing dominates for the supplier.
    pub supplier_margin: f64,
    pub supplier_processes: bool,
}

pub fn dominance(p: &Params) -> Dominance {
    let margin = p.inputs() * (p.pi_s - p.pi_se) + p.deposit();
    Dominance {
        n_pi_cg: p.n * p.pi_cg,
        pi_cd: p.deposit(),
        customer_commits: p.n * p.pi_cg < p.deposit(),
        n_below_rho: p.n < p.rho,
        supplier_margin: margin,
        supplier_processes: margin > 0.0,
    }
}

/// Eq. 4.5: the supplier's utility when it processes each input with probability `prob`.
pub fn supplier_utility(p: &Params, prob: f64) -> f64 {
    let l = p.inputs();
    let pass = prob.powf(p.n);
    pass * (l * p.pi_s - l * p.pi_se * prob) + (1.0 - pass) * -p.deposit() - p.pi_v - p.pi_a
}

/// Eq. 4.6's general form: P* = (1/e_s)(n/(n+1) + nρ/(λΔ(n+1))), where dU/dP = 0.
pub fn p_star(p: &Params, rho: f64) -> f64 {
    let (n, l) = (p.n, p.inputs());
    (p.pi_s / p.pi_se) * (n / (n + 1.0) + n * rho / (l * (n + 1.0)))
}

/// Partial processing (eq. 4.5, 4.6).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Partial {
    /// e_s = π_sε/π_s.
    pub e_s: f64,
    /// P* at the market's ρ.
    pub p_star: f64,
    /// P* at ρ = λΔ/n (eq. 4.6: 1/e_s).
    pub p_star_eq_4_6: f64,
    /// P* at ρ = 0.
    pub p_star_no_penalty: f64,
    /// ρ = λΔ/n, eq. 4.6's choice.
    pub rho_eq_4_6: f64,
    /// The least ρ with P* ≥ 1 (spec A5: ρ = λΔ/n is sufficient, not necessary).
    pub rho_min: f64,
    /// U[S](P) at P = 0, 0.5, 0.9, 0.99, 1.
    pub utility: Vec<(f64, f64)>,
    /// 1 when P* ≥ 1: the supplier processes every input.
    pub best_response: f64,
    /// Passing all n tests after processing 99 % of inputs: independent (P^n) and exact
    /// (a random 99 % of λΔ, hypergeometric).
    pub pass_99_independent: f64,
    pub pass_99_exact: f64,
}

/// C(z, n)/C(N, n): a supplier that processed z of N inputs passes n random tests.
pub fn pass_probability(total: u64, processed: u64, n: u64) -> f64 {
    (0..n)
        .map(|i| processed.saturating_sub(i) as f64 / (total - i) as f64)
        .product()
}

pub fn partial(p: &Params) -> Partial {
    let l = p.inputs();
    let e_s = p.pi_se / p.pi_s;
    let star = p_star(p, p.rho);
    let rho_min = (l * ((p.n + 1.0) * e_s - p.n) / p.n).max(0.0);
    let total = l.round() as u64;
    Partial {
        e_s,
        p_star: star,
        p_star_eq_4_6: p_star(p, l / p.n),
        p_star_no_penalty: p_star(p, 0.0),
        rho_eq_4_6: l / p.n,
        rho_min,
        utility: [0.0, 0.5, 0.9, 0.99, 1.0]
            .into_iter()
            .map(|x| (x, supplier_utility(p, x)))
            .collect(),
        best_response: star.min(1.0),
        pass_99_independent: 0.99f64.powf(p.n),
        pass_99_exact: pass_probability(total, total * 99 / 100, p.n.round() as u64),
    }
}

/// Fig. 4.6: a verifying customer's utility U_v(P) = P·λΔ·b − λΔπ_s − nπ_cg − K is zero at
/// P*_c = (λΔπ_s + nπ_cg + K)/(λΔ·b), K = π_cc + π_a (Table 4.4's fixed costs).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BreakEven {
    pub fixed_costs: f64,
    /// The supplier honesty at which verifying breaks even (> 1: never).
    pub formula: f64,
    /// U_v(1) − U_nv(1) = π_cd − nπ_cg: what committing gains against honest suppliers.
    pub verifying_advantage: f64,
}

pub fn break_even(p: &Params) -> BreakEven {
    let l = p.inputs();
    let k = p.pi_cc + p.pi_a;
    BreakEven {
        fixed_costs: k,
        formula: (l * p.pi_s + p.n * p.pi_cg + k) / (l * p.b),
        verifying_advantage: p.deposit() - p.n * p.pi_cg,
    }
}

/// Eq. 4.3 as printed, r = (1 − P(b))/p_f, which is not a replica count (spec A1).
pub fn replicas_printed(p_b: f64, p_f: f64) -> f64 {
    (1.0 - p_b) / p_f
}

/// The least r with p_f^r ≤ 1 − P(b): independent replicas all failing is rare enough.
pub fn replicas(p_b: f64, p_f: f64) -> u32 {
    ((1.0 - p_b).ln() / p_f.ln()).ceil().max(1.0) as u32
}

/// p_f = 1 − e^{−q t}: failure within t of a replica with failure rate q.
pub fn failure_probability(rate: f64, time: f64) -> f64 {
    1.0 - (-rate * time).exp()
}

/// Everything `agora analyze stream` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub params: Params,
    pub inputs: f64,
    pub deposit: f64,
    pub one_input_game: Game,
    pub commitment_game: Game,
    pub outcomes: Vec<Outcome>,
    pub dominance: Dominance,
    pub partial: Partial,
    pub break_even: BreakEven,
    pub replicas_printed: f64,
    pub replicas: u32,
}

pub fn analyze(p: &Params) -> Report {
    Report {
        params: p.clone(),
        inputs: p.inputs(),
        deposit: p.deposit(),
        one_input_game: one_input_game(p),
        commitment_game: commitment_game(p),
        outcomes: outcomes(p),
        dominance: dominance(p),
        partial: partial(p),
        break_even: break_even(p),
        replicas_printed: replicas_printed(p.p_b, p.p_f),
        replicas: replicas(p.p_b, p.p_f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} != {b}");
    }

    /// G1: P* = 1/e_s = 285.714 at ρ = λΔ/n = 1000, 263.736 at ρ = 0.
    #[test]
    fn g1_eq_4_6() {
        let p = Params::default();
        let r = partial(&p);
        close(r.e_s, 0.0035, 1e-12);
        close(r.rho_eq_4_6, 1000.0, 1e-9);
        close(r.p_star, 285.714, 1e-3);
        close(r.p_star_eq_4_6, 1.0 / 0.0035, 1e-9);
        close(r.p_star_no_penalty, 263.736, 1e-3);
        assert_eq!(r.best_response, 1.0);
        // e_s ≤ n/(n+1): P* ≥ 1 for any ρ ≥ 0.
        assert_eq!(r.rho_min, 0.0);
    }

    /// Spec 6.4: U[S] without gas at Table 4.7, and every value negative with its gas.
    #[test]
    fn eq_4_5_utilities() {
        let free = Params::default().without_gas();
        let want = [
            (0.0, -0.02),
            (0.5, -0.01994),
            (0.9, 0.05322),
            (0.99, 0.20972),
            (1.0, 0.23916),
        ];
        for (x, u) in want {
            close(supplier_utility(&free, x), u, 5e-6);
        }
        let gas = Params::default();
        assert!(partial(&gas).utility.iter().all(|(_, u)| *u < 0.0));
    }

    /// Spec 6.3: n·e_c = 0.042 < 1000 and the supplier's margin 0.25916 $.
    #[test]
    fn eq_4_4_and_supplier_dominance() {
        let d = dominance(&Params::default());
        close(d.n_pi_cg / 2e-5, 0.042, 1e-12);
        assert!(d.customer_commits && d.n_below_rho && d.supplier_processes);
        close(d.supplier_margin, 0.25916, 1e-9);
    }

    /// Theorem 7 holds without gas (no pure equilibrium) and fails with Table 4.7's gas: the
    /// customer then never checks and (s̄, s̄_c) is an equilibrium.
    #[test]
    fn theorem_7() {
        assert!(one_input_game(&Params::default().without_gas())
            .pure_nash
            .is_empty());
        assert_eq!(
            one_input_game(&Params::default()).pure_nash,
            ["not_s/not_s_c"]
        );
        // With the commitment, processing and checking is the equilibrium.
        let g = commitment_game(&Params::default().without_gas());
        assert_eq!(g.pure_nash, ["s/s_c"]);
    }

    /// Table 4.4: o1's customer λΔ(b − π_s) − nπ_cg; the mediator paid n·π_s from fines
    /// (spec A7) where the seed prints it paying n·π_s.
    #[test]
    fn table_4_4_outcomes() {
        let p = Params::default().without_gas();
        let o = outcomes(&p);
        close(o[0].customer, 12_000.0 * 1.5e-5 - 12.0 * 7e-8, 1e-12);
        close(o[1].supplier, -0.02, 1e-12);
        close(o[1].mediator, 3.3e-5 + 12.0 * 2e-5 - 12.0 * 7e-8, 1e-12);
        close(o[1].mediator_printed, 3.3e-5 - 12.0 * 2e-5, 1e-12);
        close(o[2].customer, 12_000.0 * 1.5e-5 - 0.02, 1e-12);
    }

    /// Spec 6.6: 57.14 % without gas, 10.47 (never) with Table 4.7's gas.
    #[test]
    fn fig_4_6_break_even() {
        close(
            break_even(&Params::default().without_gas()).formula,
            0.571_430_6,
            1e-6,
        );
        close(break_even(&Params::default()).formula, 10.47, 5e-3);
        close(
            break_even(&Params::default()).verifying_advantage,
            0.01999916,
            1e-12,
        );
    }

    /// G6: eq. 4.3 printed gives 0.2, corrected 2; p_f for q = 0.5/h over 10 min; passing 12
    /// tests at 99 %.
    #[test]
    fn g6_helpers() {
        close(replicas_printed(0.99, 0.05), 0.2, 1e-12);
        assert_eq!(replicas(0.99, 0.05), 2);
        close(failure_probability(0.5, 1.0 / 6.0), 0.07996, 1e-5);
        let r = partial(&Params::default());
        close(r.pass_99_independent, 0.886385, 1e-6);
        close(r.pass_99_exact, 0.886336, 1e-6);
    }
}
