//! `agora compute`: tools for the MODiCuM compute market that need no chain.

use crate::output::Output;
use agora_sim::compute_game;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ComputeCommand {
    /// The game's numbers for a market: Theorem 3's optimal JC honesty in the worst case
    /// (g_m = 0, πd = πc, p_e = 1) and eq. 3.4's largest verification rate at it.
    Calc {
        /// n, the mediator's runs of a disputed job (>= 1).
        #[arg(long)]
        n: u32,
        /// θ, the penalty rate (>= 0; markets need >= 1).
        #[arg(long)]
        theta: f64,
        /// A target honesty in [0, 1): also print the smallest θ reaching it.
        #[arg(long)]
        pa: Option<f64>,
    },
}

pub fn run(cmd: ComputeCommand, out: &Output) -> Result<()> {
    match cmd {
        ComputeCommand::Calc { n, theta, pa } => {
            let c = compute_game::calc(n, theta, pa)?;
            out.print(&c, || {
                let mut text = format!(
                    "p_a {:.6}\np_v_max {:.6}\nmediation_rate_max {:.8}",
                    c.p_a, c.p_v_max, c.mediation_rate_max
                );
                if c.p_v_max >= 1.0 {
                    text.push_str(
                        "\n(p_v_max >= 1: no mix keeps the RP honest; verify every result)",
                    );
                }
                if let (Some(target), Some(t), Some(m)) =
                    (c.target_p_a, c.theta_min, c.theta_min_market)
                {
                    text.push_str(&format!(
                        "\ntheta_min {t:.4} (for p_a >= {target}; a market needs theta >= {m})"
                    ));
                }
                text
            })
        }
    }
}
