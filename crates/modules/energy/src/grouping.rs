//! The privacy-efficiency trade-off of grouping feeders (section 2.8.2), as pure functions the
//! module's safety check and analysis tools share.

/// A feeder seen by the analysis, for limits of one kind (internal or external) and one
/// direction: its own limit C_f and the sum of its prosumers' limits Σ L_u.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeederLoad {
    pub limit: u64,
    pub prosumer_limits: u64,
}

/// The largest limit a group of these feeders may have and stay safe.
///
/// Case 1 (eq. 2.17): a feeder whose prosumers can reach its limit bounds the whole group by
/// that limit, since anonymous offers of the group may all come from that feeder. Case 2
/// (eq. 2.19): no feeder can be overloaded by its own prosumers, and the limits add up.
pub fn safe_group_limit(feeders: impl IntoIterator<Item = FeederLoad>) -> u64 {
    let mut capable_min: Option<u64> = None;
    let mut sum: u64 = 0;
    for f in feeders {
        if f.prosumer_limits >= f.limit {
            capable_min = Some(capable_min.map_or(f.limit, |c| c.min(f.limit)));
        }
        sum = sum.saturating_add(f.limit);
    }
    capable_min.unwrap_or(sum)
}

/// Eq. 2.18: the tradeable energy a group limit removes, for the group's potential sales and
/// purchases in one interval.
pub fn grouping_cost(sell: u64, buy: u64, group_limit: u64) -> u64 {
    sell.min(buy).saturating_sub(group_limit)
}

/// What a public observer learns from a group's traded total (Example 2): the least each
/// member must have traded, given the members' public limits.
pub fn least_traded(limits: &[u64], total: u64) -> Vec<u64> {
    let sum = saturating_sum(limits);
    limits
        .iter()
        .map(|l| total.saturating_sub(sum - l))
        .collect()
}

/// The largest total a group can trade before the observer learns that some member trades:
/// Σ L - max L (Example 2).
pub fn anonymity_threshold(limits: &[u64]) -> u64 {
    saturating_sum(limits) - limits.iter().copied().max().unwrap_or(0)
}

fn saturating_sum(limits: &[u64]) -> u64 {
    limits.iter().fold(0, |a, l| a.saturating_add(*l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_2() {
        // Prosumers 102 and 103 with L+ = 10 and 30.
        assert_eq!(anonymity_threshold(&[10, 30]), 10);
        assert_eq!(least_traded(&[10, 30], 8), vec![0, 0]);
        assert_eq!(least_traded(&[10, 30], 15), vec![0, 5]);
        assert_eq!(least_traded(&[10, 30], 35), vec![5, 25]);
        // At the extremes the state is known exactly.
        assert_eq!(least_traded(&[10, 30], 40), vec![10, 30]);
        // Equal limits keep them anonymous up to 20.
        assert_eq!(anonymity_threshold(&[20, 20]), 20);
    }

    #[test]
    fn safe_limits_and_costs() {
        let capable = FeederLoad {
            limit: 100,
            prosumer_limits: 200,
        };
        let safe = FeederLoad {
            limit: 300,
            prosumer_limits: 100,
        };
        assert_eq!(safe_group_limit([capable, safe]), 100, "eq. 2.17");
        assert_eq!(
            safe_group_limit([
                safe,
                FeederLoad {
                    limit: 50,
                    prosumer_limits: 10
                }
            ]),
            350,
            "eq. 2.19"
        );
        assert_eq!(grouping_cost(150, 120, 100), 20);
        assert_eq!(grouping_cost(150, 80, 100), 0);
    }
}
