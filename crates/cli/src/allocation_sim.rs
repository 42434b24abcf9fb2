//! `agora sim carpool` and `agora sim allocation-energy`: the SolidWorx case studies (seed
//! section 6.5) on a fresh local chain, with prosumer agents, a director and solver daemons.

use crate::{
    output::Output,
    sim::{on_devnet, write_out},
};
use agora_sim::allocation::{
    carpool::{read_commuters, read_pickups, Carpool, CarpoolConfig, Pickups},
    energy,
    harness::AllocationSimConfig,
    objective::CarpoolObjective,
    summary::failover_svg,
    CarpoolRun, SolverKind,
};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Solvers, failure and lies, and the phases: what both case studies share.
#[derive(Args)]
pub struct MarketArgs {
    /// Honest solver daemons, each with its own key.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    solvers: u64,
    /// Solver kinds, given to the daemons in turn: lp (HiGHS) or greedy (no LP).
    #[arg(long, value_delimiter = ',', default_value = "lp")]
    solver_kinds: Vec<SolverKind>,
    /// One more daemon that submits only solutions the ledger must refuse (over capacity,
    /// above a bid, an offer of an earlier cycle, a copy of the candidate).
    #[arg(long)]
    byzantine_solver: bool,
    /// Length of the offering phase (ms on the block clock); the director also waits for the
    /// cycle's offers.
    #[arg(long)]
    receive_ms: Option<u64>,
    /// Length of the solving phase (ms on the block clock).
    #[arg(long)]
    solve_ms: Option<u64>,
    /// Write summary.json and failover.svg (Fig. 6.9: whose solution was on top per cycle);
    /// the carpool adds map.svg, offers.svg and matched.svg (Fig. 6.5-6.7, the first cycle).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl MarketArgs {
    fn config(&self, receive_ms: u64, solve_ms: u64) -> AllocationSimConfig {
        AllocationSimConfig {
            receive_ms: self.receive_ms.unwrap_or(receive_ms).max(1),
            solve_ms: self.solve_ms.unwrap_or(solve_ms).max(1),
            solvers: self.solvers as usize,
            kinds: self.solver_kinds.clone(),
            byzantine: self.byzantine_solver,
            ..AllocationSimConfig::default()
        }
    }
}

#[derive(Args)]
pub struct CarpoolArgs {
    /// Directory with latlng.csv (the 75 commuters).
    #[arg(long, default_value = "data/carpool")]
    data: PathBuf,
    /// Seeds every random choice (k-means, roles, seats, slots).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pick-up points by k-means over the residences.
    #[arg(long, default_value_t = 20, conflicts_with = "pickups_file")]
    pickups: usize,
    /// Pick-up points from a CSV with the header id,lat,lng.
    #[arg(long)]
    pickups_file: Option<PathBuf>,
    /// Golden check G5's instance: driver iff the ID is even, 1 + ID mod 3 seats, slot
    /// (ID / 2) mod 10; needs --pickups-file.
    #[arg(long, requires = "pickups_file")]
    reference: bool,
    /// Radius = this × distance(residence, garage).
    #[arg(long, default_value_t = 0.5)]
    radius_factor: f64,
    /// Slack of the in-range test (m).
    #[arg(long, default_value_t = 1.0)]
    radius_tolerance_m: f64,
    /// 15-minute departure slots from 07:00.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=96))]
    slots: u32,
    /// Slots an offer lists: the drawn one and the next ones.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=96))]
    slot_flex: u32,
    /// Seats offered or requested: uniform in 1..=this.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_seats: u64,
    /// Every rider requests exactly this many seats (1: eq. 6.9's riders); drivers still draw.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    rider_seats: Option<u64>,
    /// Draw every commuter's garage uniformly each cycle (the seed's set-up) instead of
    /// keeping the one of the data.
    #[arg(long)]
    random_garage: bool,
    /// Probability that a commuter drives.
    #[arg(long, default_value_t = 0.5)]
    driver_share: f64,
    /// Every offer's value per seat (micro-tokens).
    #[arg(long, default_value_t = 10)]
    price: u64,
    /// Each offer's value drawn uniformly in price ± this (drivers' asks, riders' bids; with
    /// --reference: price - spread + ID mod (2 spread + 1)).
    #[arg(long, default_value_t = 0)]
    price_spread: u64,
    /// What the market maximizes: seats (eq. 6.5), β-weighted seats with β = pick-up to garage
    /// distance in 100 m (eq. 6.10), or Σ seats × (bid − ask) (eq. 6.12).
    #[arg(long, default_value = "quantity")]
    objective: CarpoolObjective,
    /// Riders pay drivers: a rider's offer holds its worst case when posted, finalize pays
    /// each assignment's seats × price, and each rider takes back the rest.
    #[arg(long)]
    settle: bool,
    /// Cycles (days) to run, with new draws each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    cycles: u64,
    /// Solver 0 stops at this cycle (0-based).
    #[arg(long)]
    fail_solver_at: Option<u64>,
    #[command(flatten)]
    market: MarketArgs,
}

#[derive(Args)]
pub struct AllocationEnergyArgs {
    /// Directory of prosumer_<id>.csv profiles.
    #[arg(long, default_value = "data/microgrid-102/noBattery")]
    profiles: PathBuf,
    /// One cycle per interval (cycle k holds the rows starting in interval k) instead of one
    /// cycle for the day.
    #[arg(long)]
    per_interval: bool,
    /// Only intervals A..B of the day (1-based, inclusive).
    #[arg(long, value_parser = crate::sim::parse_intervals)]
    intervals: Option<(u32, u32)>,
    /// Solver 0 stops at the cycle of this interval (1-based; implies --per-interval).
    #[arg(long)]
    fail_solver_at: Option<u32>,
    /// Every offer's value per Wh (uniform prices: the case maximizes energy traded).
    #[arg(long, default_value_t = 10)]
    price: u64,
    #[command(flatten)]
    market: MarketArgs,
}

fn write_results(
    dir: &std::path::Path,
    summary: &impl serde::Serialize,
    svgs: Vec<(String, String)>,
) -> Result<()> {
    let mut files = vec![(
        "summary.json".to_string(),
        serde_json::to_string_pretty(summary)?,
    )];
    files.extend(svgs);
    write_out(dir, &files)
}

pub fn run_carpool(args: CarpoolArgs, out: &Output) -> Result<()> {
    if !(0.0..=1.0).contains(&args.driver_share) || args.radius_factor < 0.0 {
        bail!("--driver-share must be in [0, 1] and --radius-factor non-negative");
    }
    if args.price_spread > args.price {
        bail!("--price-spread must be at most --price (values are not negative)");
    }
    let commuters = read_commuters(&args.data.join("latlng.csv"))?;
    let pickups = match &args.pickups_file {
        Some(f) => Pickups::Points(read_pickups(f)?),
        None => Pickups::KMeans(args.pickups),
    };
    let carpool = Carpool::new(
        commuters,
        CarpoolConfig {
            seed: args.seed,
            pickups,
            radius_factor: args.radius_factor,
            radius_tolerance_m: args.radius_tolerance_m,
            slots: args.slots,
            slot_flex: args.slot_flex,
            max_seats: args.max_seats,
            rider_seats: args.rider_seats,
            driver_share: args.driver_share,
            price: args.price,
            price_spread: args.price_spread,
            random_garage: args.random_garage,
            reference: args.reference,
            ..CarpoolConfig::default()
        },
    )?;
    let mut cfg = args.market.config(2_000, 2_000);
    cfg.cycles = args.cycles;
    cfg.fail_solver_at = args.fail_solver_at;
    cfg.objective = carpool.objective(args.objective)?;
    cfg.settle = args.settle;
    let CarpoolRun {
        summary,
        run,
        mut figures,
    } = on_devnet(cfg.cycles, "cycle", async |client, faucet, _| {
        Ok(agora_sim::allocation::run_carpool(client, faucet, carpool, &cfg).await?)
    })?;
    if let Some(dir) = &args.market.out {
        let fail = cfg.fail_solver_at.map(|c| c as f64);
        let svg = failover_svg(&run, |c| c as f64, fail, "seats");
        figures.push(("failover.svg".into(), svg));
        write_results(dir, &summary, figures)?;
    }
    out.print(&summary, || {
        format!(
            "{} commuters ({} drivers, {} riders) over {} cycle(s): {} offers posted ({} without a pick-up point), {} seats offered, {} requested, {} matched, {} {} (LP bound {}); solve {:.1} ms, finalize {:.0} ms (submitted to receipt); solutions {} submitted, {} accepted, {} rejected{}",
            summary.commuters,
            summary.totals.drivers,
            summary.totals.riders,
            summary.cycles,
            summary.totals.offers_posted,
            summary.totals.offers_without_pickup,
            summary.totals.seats_offered,
            summary.totals.seats_requested,
            summary.totals.seats_matched,
            summary.objective,
            summary.totals.score.primary,
            summary.finals.lp_objective.map_or("-".into(), |b| format!("{b:.1}")),
            summary.finals.solve_ms,
            summary.finals.finalize_ms,
            summary.solutions.submitted,
            summary.solutions.accepted,
            summary.solutions.rejected,
            summary.settlement.as_ref().map_or(String::new(), |s| format!(
                "; settled: {} paid by riders to drivers, conservation {}",
                s.paid,
                if s.conserved { "holds" } else { "BROKEN" }
            )),
        )
    })
}

pub fn run_allocation_energy(args: AllocationEnergyArgs, out: &Output) -> Result<()> {
    let mut profiles = agora_sim::profiles::read_profiles(&args.profiles)?;
    if let Some((a, b)) = args.intervals {
        profiles = agora_sim::profiles::window(&profiles, a, b)?;
    }
    let per_interval = args.per_interval || args.fail_solver_at.is_some();
    let mut cfg = if per_interval {
        args.market.config(500, 1_500)
    } else {
        args.market.config(1_000, 5_000)
    };
    if let Some(interval) = args.fail_solver_at {
        cfg.fail_solver_at =
            Some(energy::fail_cycle(&profiles, interval).context("the profiles have no offers")?);
    }
    let (summary, run) = on_devnet(0, "cycle", async |client, faucet, _| {
        Ok(energy::run(
            client,
            faucet,
            &profiles,
            cfg.clone(),
            per_interval,
            args.price,
        )
        .await?)
    })?;
    if let Some(dir) = &args.market.out {
        let first = summary.intervals.first().map_or(0, |i| i.interval);
        let fail = args.fail_solver_at.map(f64::from);
        let x = |c: u64| match per_interval {
            true => (first + c) as f64,
            false => c as f64,
        };
        let svgs = vec![
            ("energy.svg".to_string(), summary.energy_svg()),
            (
                "failover.svg".to_string(),
                failover_svg(&run, x, fail, "Wh"),
            ),
        ];
        write_results(dir, &summary, svgs)?;
    }
    out.print(&summary, || {
        format!(
            "{} homes, {} offers in {} cycle(s): offered {} Wh, requested {} Wh, traded {} Wh; solutions {} submitted, {} accepted, {} rejected",
            summary.homes,
            summary.offers_posted,
            summary.cycles,
            summary.offered_wh,
            summary.requested_wh,
            summary.traded_wh,
            summary.solutions.submitted,
            summary.solutions.accepted,
            summary.solutions.rejected,
        )
    })
}
