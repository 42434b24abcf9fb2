//! Set-up before trading: funding, the market, its groups, and every prosumer's registration.

use super::{
    battery::Battery, execute_all, home::Home, now_ms, EnergySimConfig, SimError, TradingGroup,
    FUNDING, MIX_LEAD_MS,
};
use crate::mixing::{mix_homes, MixSummary, MixingHome};
use agora_bank::BankCall;
use agora_client::Client;
use agora_energy::{EnergyCall, Interval, MarketParams, Side};
use agora_types::Keypair;
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};
use tracing::{info, warn};

/// Time the DSO allows before the first interval's last solve, on top of a base, per home:
/// registrations (two transactions per home), the first round of assets and offers (two to
/// four per home), and the first solve, whose problem holds every home's offers at once. At
/// 10,200 homes and 3 ms per home (registrations alone) the first interval traded 92.6% of
/// the optimum: its offers and its 20 s solve did not fit in one interval after set-up.
const SETUP_BASE_MS: u64 = 5_000;
const SETUP_MS_PER_HOME: u64 = 8;

pub(super) struct Market {
    pub(super) id: u64,
    pub(super) params: MarketParams,
    pub(super) trading_groups: Vec<TradingGroup>,
    pub(super) mix: Option<MixSummary>,
}

/// Funds every agent, creates the market so that interval `first` falls due once set-up had
/// time to finish, defines the groups and registers every home and battery.
pub(super) async fn set_up(
    client: &Client,
    faucet: &Keypair,
    dso: &Keypair,
    homes: &mut [Home],
    batteries: &mut [Battery],
    cfg: &EnergySimConfig,
    first: Interval,
    day: u32,
) -> Result<Market, SimError> {
    let funding: Vec<_> = std::iter::once(dso.address())
        .chain(
            homes
                .iter()
                .flat_map(|h| [h.key.address(), h.meter.address()]),
        )
        .chain(batteries.iter().map(|b| b.key.address()))
        .map(|to| {
            BankCall::Transfer {
                to,
                amount: FUNDING,
            }
            .into_call()
        })
        .collect();
    execute_all(client, faucet, funding, "funding").await?;

    let lead = if cfg.mix {
        MIX_LEAD_MS
    } else {
        SETUP_BASE_MS + SETUP_MS_PER_HOME * (homes.len() + batteries.len()) as u64
    };
    // Interval `first` falls due T_clear + 1 intervals after the lead; earlier ones are empty.
    let params = MarketParams {
        interval_ms: cfg.interval_ms,
        start_ms: (now_ms() + lead + cfg.interval_ms * (cfg.t_clear as u64 + 1))
            .saturating_sub(cfg.interval_ms * first as u64),
        t_clear: cfg.t_clear,
        prices: vec![super::DSO_PRICE],
    };
    let m = {
        let tx = client
            .send(dso, EnergyCall::CreateMarket(params.clone()).into_call())
            .await?;
        let receipt = client
            .wait_for_receipt(&tx.hash(), Duration::from_secs(60))
            .await?;
        receipt
            .events
            .first()
            .and_then(|e| e.data["market"].as_u64())
            .ok_or_else(|| SimError::Unexpected("no market id".into()))?
    };
    let feeders: BTreeSet<u32> = homes.iter().map(|h| h.profile.feeder).collect();
    let groups: BTreeMap<u32, u32> = feeders
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, i as u32))
        .collect();
    let mut calls: Vec<_> = feeders
        .iter()
        .map(|feeder| {
            EnergyCall::DefineGroup {
                market: m,
                feeders: vec![*feeder],
                c_int: cfg.c_int,
                c_ext: cfg.c_ext,
            }
            .into_call()
        })
        .collect();
    let register = |meter: &Keypair, prosumer: &Keypair, feeder: u32, (l_prod, l_cons)| {
        EnergyCall::RegisterSmartMeter {
            market: m,
            meter: meter.address(),
            prosumer: prosumer.address(),
            feeder,
            l_prod,
            l_cons,
        }
        .into_call()
    };
    for home in homes.iter_mut() {
        home.group = groups[&home.profile.feeder];
        calls.push(register(
            &home.meter,
            &home.key,
            home.profile.feeder,
            home.profile.limits(),
        ));
    }
    for b in batteries.iter_mut() {
        let feeder = homes[b.home].profile.feeder;
        b.group = groups[&feeder];
        calls.push(register(&b.meter, &b.key, feeder, b.limits()));
    }
    execute_all(client, dso, calls, "set-up").await?;
    let prosumers = homes
        .iter()
        .map(|h| (&h.key, &h.meter))
        .chain(batteries.iter().map(|b| (&b.key, &b.meter)));
    futures::future::try_join_all(prosumers.map(|(key, meter)| {
        execute_all(
            client,
            key,
            vec![EnergyCall::RegisterProsumer {
                market: m,
                meter: meter.address(),
            }
            .into_call()],
            "registration",
        )
    }))
    .await?;
    let trading_groups = define_privacy_groups(client, dso, m, homes, batteries, cfg).await?;
    let withdrawals = batteries.iter_mut().map(|b| {
        let call = b.withdrawal(m, first, day);
        execute_all(client, &b.key, vec![call], "battery withdrawal")
    });
    futures::future::try_join_all(withdrawals).await?;
    let mix = if cfg.mix {
        // Should mixing start late, it covers only intervals that cannot become final meanwhile.
        let first = agora_energy::intervals_due(&params, now_ms()) as Interval + 2;
        let mixing: Vec<MixingHome> = homes
            .iter()
            .map(|h| MixingHome {
                key: &h.key,
                group: h.group,
                limits: h.profile.limits(),
            })
            .collect();
        let (mixes, summary) =
            mix_homes(client, m, &mixing, first, day, cfg.public_remainder).await?;
        for (h, mix) in homes.iter_mut().zip(mixes) {
            let (l_prod, l_cons) = h.profile.limits();
            for t in first..day {
                for (side, l) in [(Side::Sell, l_prod), (Side::Buy, l_cons)] {
                    if l > 0 {
                        h.withdrawn.insert((side, t), l);
                    }
                }
            }
            h.mix = Some(mix);
        }
        if now_ms() > params.start_ms {
            warn!("mixing ended after the market started: the first intervals' offers are lost");
        }
        Some(summary)
    } else {
        None
    };
    if agora_energy::intervals_due(&params, now_ms()) > first as u64 {
        warn!("set-up ended after interval {first} fell due: its offers are lost");
    }
    info!(
        market = m,
        homes = homes.len(),
        batteries = batteries.len(),
        feeders = feeders.len(),
        groups = trading_groups.len(),
        "market set up"
    );
    Ok(Market {
        id: m,
        params,
        trading_groups,
        mix,
    })
}

/// Groups the homes trade in. With privacy groups, consecutive feeders form a group whose
/// limits are the safe ones for the registered limits (eq. 2.17, 2.19); batteries trade in
/// their home's group.
async fn define_privacy_groups(
    client: &Client,
    dso: &Keypair,
    m: u64,
    homes: &mut [Home],
    batteries: &mut [Battery],
    cfg: &EnergySimConfig,
) -> Result<Vec<TradingGroup>, SimError> {
    use agora_energy::grouping::{safe_group_limit, FeederLoad};
    // Per feeder: homes, and the registered limits summed by side.
    let mut feeders: BTreeMap<u32, (usize, u64, u64)> = BTreeMap::new();
    for h in homes.iter() {
        let (p, c) = h.profile.limits();
        let f = feeders.entry(h.profile.feeder).or_default();
        *f = (f.0 + 1, f.1 + p, f.2 + c);
    }
    for b in batteries.iter() {
        let (p, c) = b.limits();
        let f = feeders.entry(homes[b.home].profile.feeder).or_default();
        *f = (f.0, f.1 + p, f.2 + c);
    }
    let ids: Vec<u32> = feeders.keys().copied().collect();
    let size = cfg.privacy_group_size.max(1) as usize;
    let mut groups = Vec::new();
    if size == 1 {
        for (id, (f, (homes, ..))) in feeders.iter().enumerate() {
            groups.push(TradingGroup {
                id: id as u32,
                feeders: vec![*f],
                homes: *homes,
                c_int: cfg.c_int,
                c_ext: cfg.c_ext,
            });
        }
        return Ok(groups);
    }
    let mut calls = Vec::new();
    let mut group_of = BTreeMap::new();
    for (i, chunk) in ids.chunks(size).enumerate() {
        let loads = |limit: u64| {
            chunk
                .iter()
                .map(|f| FeederLoad {
                    limit,
                    prosumer_limits: feeders[f].1.max(feeders[f].2),
                })
                .collect::<Vec<_>>()
        };
        let group = TradingGroup {
            // Feeder groups took the first ids.
            id: (ids.len() + i) as u32,
            feeders: chunk.to_vec(),
            homes: chunk.iter().map(|f| feeders[f].0).sum(),
            c_int: safe_group_limit(loads(cfg.c_int)),
            c_ext: safe_group_limit(loads(cfg.c_ext)),
        };
        calls.push(
            EnergyCall::DefineGroup {
                market: m,
                feeders: group.feeders.clone(),
                c_int: group.c_int,
                c_ext: group.c_ext,
            }
            .into_call(),
        );
        group_of.extend(chunk.iter().map(|f| (*f, group.id)));
        groups.push(group);
    }
    for h in homes.iter_mut() {
        h.group = group_of[&h.profile.feeder];
    }
    for b in batteries.iter_mut() {
        b.group = group_of[&homes[b.home].profile.feeder];
    }
    execute_all(client, dso, calls, "privacy groups").await?;
    Ok(groups)
}
