//! The energy market's page: its intervals, open offers, candidate and finalized solutions,
//! and each group's load against its limits (eq. 2.6 and 2.7) as SVG plots.

use super::markets::account_link;
use super::{html, Page, Problem};
use crate::rpc::RpcState;
use agora_energy::{Group, GroupId, Interval, Market, MarketId, Offer, Side, Trade};
use html::{bar_chart, esc, map_chart, table, Series};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeMap;

/// Intervals plotted and finalized intervals read.
const MAX_INTERVALS: usize = 96;
/// Groups whose loads are plotted.
const MAX_GROUPS: usize = 8;
/// Open offers listed.
const MAX_OFFERS: usize = 200;

fn query<T: DeserializeOwned>(
    state: &RpcState,
    path: &str,
    params: serde_json::Value,
) -> Option<T> {
    super::markets::query(state, "energy", path, params)
}

/// Sold and bought energy of each group in each interval of `trades`.
fn group_loads(
    trades: &[Trade],
    offers: &BTreeMap<u64, &Offer>,
) -> BTreeMap<GroupId, BTreeMap<Interval, (u64, u64)>> {
    let mut loads: BTreeMap<GroupId, BTreeMap<Interval, (u64, u64)>> = BTreeMap::new();
    for t in trades {
        for (id, sold) in [(t.sell, true), (t.buy, false)] {
            let Some(offer) = offers.get(&id) else {
                continue;
            };
            let load = loads
                .entry(offer.group)
                .or_default()
                .entry(t.interval)
                .or_default();
            if sold {
                load.0 = load.0.saturating_add(t.energy);
            } else {
                load.1 = load.1.saturating_add(t.energy);
            }
        }
    }
    loads
}

fn per_interval(trades: &[Trade]) -> BTreeMap<Interval, u64> {
    let mut sums = BTreeMap::new();
    for t in trades {
        let sum: &mut u64 = sums.entry(t.interval).or_default();
        *sum = sum.saturating_add(t.energy);
    }
    sums
}

pub(super) fn market_page(state: &RpcState, market: &str) -> Result<Page, Problem> {
    let m: MarketId = super::markets::market_id(market)?;
    let info: Market = query(state, "market", json!({"market": m}))
        .ok_or_else(|| Problem::missing(format!("no energy market {m}")))?;
    let offers: Vec<Offer> = super::markets::all(
        state,
        "energy",
        "open_offers",
        json!({"market": m}),
        "offers",
    );
    let candidate: Vec<Trade> = query(state, "candidate", json!({"market": m})).unwrap_or_default();
    let first_final = info.next_final.saturating_sub(MAX_INTERVALS as u32);
    let mut finalized = BTreeMap::new();
    for t in first_final..info.next_final {
        let trades: Vec<Trade> =
            query(state, "finalized", json!({"market": m, "interval": t})).unwrap_or_default();
        finalized.insert(t, trades.iter().map(|t| t.energy).sum::<u64>());
    }

    let by_id: BTreeMap<u64, &Offer> = offers.iter().map(|o| (o.id, o)).collect();
    let loads = group_loads(&candidate, &by_id);
    let candidate_sums = per_interval(&candidate);
    let mut offered: BTreeMap<Interval, (u64, u64)> = BTreeMap::new();
    for o in &offers {
        for t in &o.intervals {
            let e = offered.entry(*t).or_default();
            match o.side {
                Side::Sell => e.0 = e.0.saturating_add(o.energy),
                Side::Buy => e.1 = e.1.saturating_add(o.energy),
            }
        }
    }

    let mut body = format!(
        "<p>DSO {} · interval {} ms from {} · T_clear {} · next interval to finalize {} · \
         candidate: {} Wh, gains {}</p>",
        account_link(&info.dso.to_string()),
        info.params.interval_ms,
        info.params.start_ms,
        info.params.t_clear,
        info.next_final,
        info.candidate.energy,
        info.candidate.gains,
    );

    let open_intervals: Vec<Interval> = offered
        .keys()
        .chain(candidate_sums.keys())
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .take(MAX_INTERVALS)
        .collect();
    let labels: Vec<String> = open_intervals.iter().map(u32::to_string).collect();
    let pick = |map: &BTreeMap<Interval, u64>| -> Vec<u64> {
        open_intervals
            .iter()
            .map(|t| map.get(t).copied().unwrap_or(0))
            .collect()
    };
    body += "<h2>Open intervals</h2>";
    body += &bar_chart(
        "Offered and traded (candidate) energy per interval, Wh",
        &labels,
        &[
            Series {
                name: "sell offers",
                color: "#2a7",
                values: open_intervals
                    .iter()
                    .map(|t| offered.get(t).map_or(0, |e| e.0))
                    .collect(),
            },
            Series {
                name: "buy offers",
                color: "#27a",
                values: open_intervals
                    .iter()
                    .map(|t| offered.get(t).map_or(0, |e| e.1))
                    .collect(),
            },
            Series {
                name: "candidate",
                color: "#e90",
                values: pick(&candidate_sums),
            },
        ],
        None,
    );

    body += "<h2>Group loads of the candidate against their limits</h2>";
    let mut groups_data = Vec::new();
    for (g, per) in loads.iter().take(MAX_GROUPS) {
        let Some(group) = query::<Group>(state, "group", json!({"market": m, "group": g})) else {
            continue;
        };
        let intervals: Vec<Interval> = per.keys().copied().take(MAX_INTERVALS).collect();
        let labels: Vec<String> = intervals.iter().map(u32::to_string).collect();
        let internal: Vec<u64> = intervals.iter().map(|t| per[t].0.max(per[t].1)).collect();
        let net: Vec<u64> = intervals
            .iter()
            .map(|t| per[t].0.abs_diff(per[t].1))
            .collect();
        body += &bar_chart(
            &format!(
                "Group {g}: traded within (eq. 2.6) against C_int = {} Wh",
                group.c_int
            ),
            &labels,
            &[Series {
                name: "max(sold, bought)",
                color: "#27a",
                values: internal.clone(),
            }],
            Some(group.c_int),
        );
        body += &bar_chart(
            &format!(
                "Group {g}: net transfer (eq. 2.7) against C_ext = {} Wh",
                group.c_ext
            ),
            &labels,
            &[Series {
                name: "|sold − bought|",
                color: "#a52",
                values: net.clone(),
            }],
            Some(group.c_ext),
        );
        groups_data.push(json!({
            "group": group, "intervals": intervals, "internal": internal, "net": net,
        }));
    }
    if groups_data.is_empty() {
        body += "<p>No candidate solution yet.</p>";
    }

    body += "<h2>Finalized intervals</h2>";
    body += &map_chart(
        "Energy traded per finalized interval, Wh",
        "finalized",
        "#2a7",
        &finalized,
    );

    body += &format!("<h2>Open offers ({})</h2>", offers.len());
    body += &table(
        &[
            "offer",
            "side",
            "group",
            "Wh",
            "intervals",
            "price",
            "account",
        ],
        offers.iter().take(MAX_OFFERS).map(|o| {
            vec![
                o.id.to_string(),
                esc(&format!("{:?}", o.side)),
                o.group.to_string(),
                o.energy.to_string(),
                esc(&match (o.intervals.first(), o.intervals.last()) {
                    (Some(a), Some(b)) if a != b => format!("{a}–{b}"),
                    (Some(a), _) => a.to_string(),
                    _ => String::new(),
                }),
                o.price.to_string(),
                account_link(&o.account.to_string()),
            ]
        }),
    );

    Ok(Page {
        title: format!("Energy market {m}"),
        data: json!({
            "market": info,
            "open_offer_count": offers.len(),
            "open_offers": offers.iter().take(MAX_OFFERS).collect::<Vec<_>>(),
            "candidate": {"trades": candidate.len(), "per_interval": candidate_sums},
            "finalized": finalized,
            "group_loads": groups_data,
        }),
        body,
        live: true,
    })
}
