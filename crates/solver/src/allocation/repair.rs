//! Exact repair (spec 4.3 step 3): cut assignments to the offers' capacities in integers, then
//! fill what is left greedily. Both keep feasibility by F2 (lowering or dropping an assignment
//! keeps eq. 6.1-6.14), so the result always passes the module's check. The fill alone, from
//! nothing, is the greedy solver.

use super::instance::{Indexed, Triple};
use agora_allocation::{Assignment, OfferId, TypeId};
use std::collections::BTreeMap;

/// What each offer has left, in its scaled units (scale − Σ a_Q · w_o(a_T)).
pub(crate) struct Room {
    left: BTreeMap<OfferId, u128>,
}

impl Room {
    pub fn new(ix: &Indexed) -> Self {
        Self {
            left: ix
                .offers
                .values()
                .map(|o| (o.id, u128::from(o.scale)))
                .collect(),
        }
    }

    /// Whole units of a leg with weight `weight` that still fit in `offer`.
    fn units(&self, offer: OfferId, weight: u64) -> u64 {
        let left = self.left.get(&offer).copied().unwrap_or(0);
        u64::try_from(left / u128::from(weight.max(1))).unwrap_or(u64::MAX)
    }

    fn take(&mut self, offer: OfferId, weight: u64, quantity: u64) {
        if let Some(left) = self.left.get_mut(&offer) {
            *left -= u128::from(weight) * u128::from(quantity);
        }
    }
}

/// Cuts each assignment, in order, to what its two offers have left; drops those cut to zero or
/// naming no leg of the instance. Returns the room left and whether anything was cut.
pub(crate) fn clip(ix: &Indexed, assignments: &mut Vec<Assignment>) -> (Room, bool) {
    let mut room = Room::new(ix);
    let mut cut = false;
    assignments.retain_mut(|a| {
        let (Some((p, pa)), Some((c, ca))) =
            (ix.leg(a.provider, a.rtype), ix.leg(a.consumer, a.rtype))
        else {
            cut = true;
            return false;
        };
        let (wp, wc) = (p.scale / pa.quantity, c.scale / ca.quantity);
        let q = a
            .quantity
            .min(room.units(p.id, wp))
            .min(room.units(c.id, wc));
        cut |= q != a.quantity;
        a.quantity = q;
        room.take(p.id, wp, q);
        room.take(c.id, wc, q);
        q > 0
    });
    (room, cut)
}

/// Visits `triples` by gain descending, then provider, consumer and type, and gives each as many
/// units as both offers still take, merging into an existing assignment of the same triple.
/// Returns whether anything was added.
pub(crate) fn fill(triples: &[Triple], room: &mut Room, assignments: &mut Vec<Assignment>) -> bool {
    let mut order: Vec<&Triple> = triples.iter().collect();
    order.sort_by_key(|k| {
        (
            std::cmp::Reverse(k.gain),
            k.provider.offer,
            k.consumer.offer,
            k.rtype,
        )
    });
    let mut at: BTreeMap<(OfferId, OfferId, TypeId, u64), usize> = assignments
        .iter()
        .enumerate()
        .map(|(i, a)| ((a.provider, a.consumer, a.rtype, a.price), i))
        .collect();
    let mut added = false;
    for k in order {
        let (p, c) = (&k.provider, &k.consumer);
        let q = k
            .cap()
            .min(room.units(p.offer, p.weight))
            .min(room.units(c.offer, c.weight));
        if q == 0 {
            continue;
        }
        room.take(p.offer, p.weight, q);
        room.take(c.offer, c.weight, q);
        added = true;
        let key = (p.offer, c.offer, k.rtype, k.price);
        match at.get(&key) {
            Some(i) => assignments[*i].quantity += q,
            None => {
                at.insert(key, assignments.len());
                assignments.push(Assignment {
                    provider: p.offer,
                    consumer: c.offer,
                    rtype: k.rtype,
                    quantity: q,
                    price: k.price,
                });
            }
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation::AllocationInstance;

    /// G1's offers (spec section 8) under eq. 6.5.
    fn g1() -> Indexed {
        let offer = |id: u64, side: &str, alts: &[(u64, u64, u64)]| {
            let alts: Vec<_> = alts
                .iter()
                .map(|(t, q, v)| serde_json::json!({"rtype": t, "quantity": q, "value": v}))
                .collect();
            serde_json::json!({"id": id, "side": side, "alternatives": alts})
        };
        let instance: AllocationInstance = serde_json::from_value(serde_json::json!({"offers": [
            offer(0, "provide", &[(1, 2, 1), (2, 4, 2)]),
            offer(1, "provide", &[(3, 3, 5)]),
            offer(2, "consume", &[(1, 2, 6)]),
            offer(3, "consume", &[(2, 3, 6), (3, 3, 6)]),
        ]}))
        .unwrap();
        Indexed::new(&instance).unwrap()
    }

    fn a(provider: u64, consumer: u64, rtype: u64, quantity: u64, price: u64) -> Assignment {
        Assignment {
            provider,
            consumer,
            rtype,
            quantity,
            price,
        }
    }

    #[test]
    fn clip_cuts_to_exact_capacity_in_order() {
        let ix = g1();
        // p1 (scale 4, w(A) = 2, w(B) = 1) is asked for 2·2 + 3 = 7; c2 (scale 3) for 3 + 3.
        let mut over = vec![
            a(0, 2, 1, 2, 3),
            a(0, 3, 2, 3, 4),
            a(1, 3, 3, 3, 5),
            a(9, 3, 3, 1, 5),
        ];
        assert!(agora_allocation::verify(&ix.context(), &over).is_err());
        let (mut room, cut) = clip(&ix, &mut over);
        assert!(cut);
        assert_eq!(over, [a(0, 2, 1, 2, 3), a(1, 3, 3, 3, 5)]);
        assert!(agora_allocation::verify(&ix.context(), &over).is_ok());
        // Everything is full: nothing to fill.
        assert!(!fill(&ix.triples(), &mut room, &mut over));
    }

    #[test]
    fn fill_takes_the_room_rounding_down_left() {
        let ix = g1();
        // The welfare LP point (0.5, 3, 0) rounded down: x2 = 3 only.
        let mut floor = vec![a(0, 3, 2, 3, 4)];
        let (mut room, cut) = clip(&ix, &mut floor);
        assert!(!cut);
        // p1 has 1 of 4 left: not enough for one unit of A (weight 2); c2 is full.
        assert!(!fill(&ix.triples(), &mut room, &mut floor));
        assert_eq!(floor, [a(0, 3, 2, 3, 4)]);
        let mut less = vec![a(0, 3, 2, 1, 4)];
        let (mut room, _) = clip(&ix, &mut less);
        assert!(fill(&ix.triples(), &mut room, &mut less));
        // p1 has 3 left: x1 = 1 (weight 2), then c2 has 2 left for x2 (merged) or x3.
        let score = agora_allocation::verify(&ix.context(), &less).unwrap();
        assert_eq!(score.quantity, 4);
        assert_eq!(less[0], a(0, 3, 2, 2, 4));
    }
}
