//! The energy market kept busy on a devnet, without end: the DSO finalizes intervals as they
//! fall due, one solver daemon solves the open problem, and the 102 homes of
//! `data/microgrid-102/noBattery` post their profiles' offers, cycling through the day.
//!
//! Intervals follow the wall clock: interval t starts at `start_ms + t·Δ`, and plays the
//! profiles' interval `(start_ms / Δ + t) mod 96 + 1`, so with Δ = 15 minutes the homes trade
//! the quarter hour of the (UTC) day it is, and with a shorter Δ the day comes round faster.
//! The market, its groups and registrations are set up once; the market id and every agent's
//! key go to `energy.json` in the devnet's market directory, and a later start that finds the
//! same market on the chain reuses it. Homes do not deposit their assets or get billed: the
//! demo shows trading, not the end of a day.

use super::{
    home::Home, market, now_ms, price, setup::set_up, solver::EnergyMarket, EnergySimConfig,
    SimError, CONCURRENCY, FUNDING, SOLVER_FUNDING,
};
use crate::{
    daemon::{self, DaemonConfig, SolverStats},
    demo::{
        key_from_json, key_to_json, pay, read_state, supervise, supervise_top_up, write_state,
        DemoContext, DemoError, DemoMarket, Started,
    },
    profiles::{read_profiles, Profile},
};
use agora_bank::BankCall;
use agora_client::Client;
use agora_energy::{intervals_due, EnergyCall, Interval, MarketParams, Side};
use agora_types::{Address, Keypair};
use futures::{future::BoxFuture, StreamExt};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};
use tokio::{sync::Mutex, task::JoinSet};
use tracing::{info, warn};

/// The profiles' 15-minute intervals per day, numbered from 1.
const DAY_INTERVALS: u64 = 96;
/// Intervals ahead of the next to finalize for which homes post their offers.
const WINDOW: u32 = 4;
/// The profiles the homes play, under the shipped data directory.
pub const PROFILES: &str = "microgrid-102/noBattery";

/// The energy market of `agora devnet --markets`.
pub struct EnergyDemo;

impl DemoMarket for EnergyDemo {
    fn name(&self) -> &'static str {
        "energy"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a DemoContext,
        agents: &'a mut JoinSet<()>,
    ) -> BoxFuture<'a, Result<Started, DemoError>> {
        Box::pin(start(ctx, agents))
    }
}

/// What a later start needs to resume: the market and the keys of its agents.
#[derive(Serialize, Deserialize)]
struct State {
    market: u64,
    dso: serde_json::Value,
    solver: serde_json::Value,
    homes: Vec<HomeState>,
}

#[derive(Serialize, Deserialize)]
struct HomeState {
    home: u32,
    group: u32,
    key: serde_json::Value,
}

/// A home as the demo runs it: its profile, key and group, and what it withdrew for the
/// intervals not yet final.
struct LiveHome {
    profile: Profile,
    key: Keypair,
    group: u32,
    withdrawn: BTreeMap<(Side, Interval), u64>,
}

fn config(interval_ms: u64) -> EnergySimConfig {
    EnergySimConfig {
        horizon: 2 * WINDOW,
        prediction_window: WINDOW,
        c_int: 2_500_000,
        c_ext: 2_000_000,
        solvers: 1,
        fail_solver_at: None,
        interval_ms,
        t_clear: 1,
        prediction_error: 0.0,
        seed: 0,
        battery: None,
        intervals: None,
        privacy_group_size: 1,
        mix: false,
        public_remainder: false,
    }
}

/// The profiles' interval (1 to 96) that market interval `t` plays.
pub fn data_interval(params: &MarketParams, t: Interval) -> u32 {
    let slot = (params.start_ms / params.interval_ms.max(1)).wrapping_add(t as u64);
    (slot % DAY_INTERVALS) as u32 + 1
}

async fn start(ctx: &DemoContext, agents: &mut JoinSet<()>) -> Result<Started, DemoError> {
    let profiles = read_profiles(&ctx.data.join(PROFILES))?;
    let path = ctx.dir.join("energy.json");
    let cfg = config(ctx.interval_ms.max(100));
    let stored = match read_state::<State>(&path)? {
        Some(state) if on_chain(&ctx.client, &path, &state).await? => Some(state),
        Some(state) => {
            warn!(
                market = state.market,
                file = %path.display(),
                "the stored energy market is not on this chain; setting up a new one"
            );
            None
        }
        None => None,
    };
    let resumed = stored.is_some();
    let state = match stored {
        Some(state) => state,
        None => set_up_new(ctx, profiles.clone(), &cfg, &path).await?,
    };
    let m = state.market;
    let params = market(&ctx.client, m).await?.params;
    let dso = key_from_json(&path, &state.dso)?;
    let solver = key_from_json(&path, &state.solver)?;
    let mut homes = Vec::new();
    for h in &state.homes {
        let profile =
            profiles
                .iter()
                .find(|p| p.home == h.home)
                .ok_or_else(|| DemoError::State {
                    path: path.clone(),
                    reason: format!("home {} has no profile in {PROFILES}", h.home),
                })?;
        homes.push(LiveHome {
            profile: profile.clone(),
            key: key_from_json(&path, &h.key)?,
            group: h.group,
            withdrawn: BTreeMap::new(),
        });
    }
    info!(
        market = m,
        resumed,
        homes = homes.len(),
        interval_ms = params.interval_ms,
        "energy market running"
    );

    let client = ctx.client.clone();
    let accounts: Vec<Address> = [dso.address(), solver.address()]
        .into_iter()
        .chain(homes.iter().map(|h| h.key.address()))
        .collect();
    {
        let (client, params) = (client.clone(), params.clone());
        supervise(agents, "energy DSO".into(), move || {
            let (client, dso, params) = (client.clone(), dso.clone(), params.clone());
            async move {
                super::dso::run_dso(client, dso, m, params, Interval::MAX)
                    .await
                    .map(drop)
            }
        });
    }
    let stats = Arc::new(SolverStats::default());
    {
        let (client, stats) = (client.clone(), stats.clone());
        let energy = Arc::new(EnergyMarket::new(&cfg, Interval::MAX));
        let period = Duration::from_millis((cfg.interval_ms / 4).max(50));
        supervise(agents, "energy solver".into(), move || {
            let daemon = DaemonConfig {
                period,
                fail_at_round: None,
                byzantine: false,
                label: "energy solver".into(),
            };
            daemon::run(
                client.clone(),
                solver.clone(),
                m,
                energy.clone(),
                daemon,
                stats.clone(),
            )
        });
    }
    {
        let homes = Arc::new(Mutex::new(homes));
        let (client, params) = (client.clone(), params.clone());
        supervise(agents, "energy homes".into(), move || {
            let (client, params, homes) = (client.clone(), params.clone(), homes.clone());
            async move { run_homes(&client, m, &params, &mut homes.lock().await).await }
        });
    }
    supervise_top_up(
        agents,
        ctx,
        "energy",
        accounts,
        FUNDING,
        Some(("energy solver", stats)),
    );
    Ok(Started {
        name: "energy",
        market: m,
        explorer: format!("/explorer/energy/{m}"),
        resumed,
    })
}

/// Whether the chain has the stored market, run by the stored DSO.
async fn on_chain(client: &Client, path: &Path, state: &State) -> Result<bool, DemoError> {
    let dso = key_from_json(path, &state.dso)?;
    match market(client, state.market).await {
        Ok(found) => Ok(found.dso == dso.address()),
        Err(e) => {
            warn!(%e, market = state.market, "cannot read the stored energy market");
            Ok(false)
        }
    }
}

/// Funds the agents, creates the market with one group per feeder, registers every home and
/// writes the state file.
async fn set_up_new(
    ctx: &DemoContext,
    profiles: Vec<Profile>,
    cfg: &EnergySimConfig,
    path: &Path,
) -> Result<State, DemoError> {
    let dso = Keypair::generate(&mut OsRng);
    let solver = Keypair::generate(&mut OsRng);
    let mut homes: Vec<Home> = profiles.into_iter().map(|p| Home::new(p, 0.0, 0)).collect();
    let market = set_up(
        &ctx.client,
        &ctx.faucet,
        &dso,
        &mut homes,
        &mut [],
        cfg,
        0,
        Interval::MAX,
    )
    .await?;
    let funding = BankCall::Transfer {
        to: solver.address(),
        amount: SOLVER_FUNDING,
    };
    pay(
        &ctx.client,
        &ctx.faucet,
        vec![funding.into_call()],
        "solver funding",
    )
    .await?;
    let state = State {
        market: market.id,
        dso: key_to_json(&dso),
        solver: key_to_json(&solver),
        homes: homes
            .iter()
            .map(|h| HomeState {
                home: h.profile.home,
                group: h.group,
                key: key_to_json(&h.key),
            })
            .collect(),
    };
    write_state(path, &state)?;
    Ok(state)
}

/// Posts, for every interval that comes within the window, each home's offers of the profile
/// interval it plays; a home whose post fails is skipped for that interval.
async fn run_homes(
    client: &Client,
    m: u64,
    params: &MarketParams,
    homes: &mut [LiveHome],
) -> Result<(), SimError> {
    let period = Duration::from_millis((params.interval_ms / 4).max(20));
    let mut next_post: Interval = 0;
    loop {
        let due = intervals_due(params, now_ms()).min(Interval::MAX as u64 - 1) as Interval;
        let chain_next = market(client, m).await?.next_final;
        // The interval due now may be final before its offers execute: post from the next.
        let from = next_post.max(due + 1).max(chain_next);
        let to = due.saturating_add(WINDOW);
        for t in from..=to {
            let d = data_interval(params, t);
            // Collected first: a lazy map's closure would keep the task from being `Send`.
            let posts: Vec<_> = homes.iter_mut().map(|h| h.post(client, m, t, d)).collect();
            let failed: Vec<SimError> = futures::stream::iter(posts)
                .buffer_unordered(CONCURRENCY)
                .filter_map(|r| async { r.err() })
                .collect()
                .await;
            if let Some(e) = failed.first() {
                warn!(interval = t, homes = failed.len(), %e, "homes could not post");
            }
            next_post = t + 1;
        }
        for h in homes.iter_mut() {
            h.withdrawn.retain(|(_, t), _| *t >= chain_next);
        }
        tokio::time::sleep(period).await;
    }
}

impl LiveHome {
    /// Withdraws assets for and posts the offer of each profile row that starts at `d`,
    /// played from market interval `t`, within the home's limits.
    async fn post(&mut self, client: &Client, m: u64, t: Interval, d: u32) -> Result<(), SimError> {
        let (l_prod, l_cons) = self.profile.limits();
        for (i, row) in self.profile.rows.iter().enumerate() {
            if row.first != d || row.energy == 0 {
                continue;
            }
            let (side, limit, base) = if row.energy > 0 {
                (Side::Sell, l_prod, 10)
            } else {
                (Side::Buy, l_cons, 20)
            };
            let last = t.saturating_add(row.last - row.first);
            let room = (t..=last)
                .map(|t| limit.saturating_sub(self.withdrawn.get(&(side, t)).copied().unwrap_or(0)))
                .min()
                .unwrap_or(0);
            let energy = row.energy.unsigned_abs().min(room);
            if energy == 0 {
                continue;
            }
            let withdraw = EnergyCall::WithdrawAssets {
                market: m,
                side,
                group: self.group,
                energy,
                first: t,
                last,
            };
            client.send(&self.key, withdraw.into_call()).await?;
            let offer = EnergyCall::PostOffer {
                market: m,
                side,
                group: self.group,
                energy,
                intervals: (t..=last).collect(),
                price: price(base, self.profile.home, i),
            };
            client.send(&self.key, offer.into_call()).await?;
            for t in t..=last {
                *self.withdrawn.entry((side, t)).or_default() += energy;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_play_the_quarter_hour_of_the_day_and_cycle() {
        const QUARTER: u64 = 15 * 60 * 1000;
        // A market that starts at 00:15 UTC plays profile interval 2 first.
        let params = MarketParams {
            interval_ms: QUARTER,
            start_ms: 20_000 * 24 * 4 * QUARTER + QUARTER,
            t_clear: 1,
            prices: Vec::new(),
        };
        assert_eq!(data_interval(&params, 0), 2);
        assert_eq!(data_interval(&params, 94), 96);
        assert_eq!(data_interval(&params, 95), 1);
        assert_eq!(data_interval(&params, 95 + 96), 1);
        // Shorter intervals cycle the day faster, from where the clock puts them.
        let fast = MarketParams {
            interval_ms: 1000,
            start_ms: 96 * 1000 * 7 + 5_500,
            ..params
        };
        assert_eq!(data_interval(&fast, 0), 6);
        assert_eq!(data_interval(&fast, 91), 1);
    }
}
