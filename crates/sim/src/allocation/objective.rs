//! What the carpool market maximizes (`--objective`, spec 7.6): eq. 6.5, 6.10 with a β per
//! carpool type, or 6.12.

use super::carpool::{pack, Carpool, CarpoolError};
use agora_allocation::{Objective, TypeRange, MAX_TABLE};

/// What the carpool market maximizes (`--objective`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CarpoolObjective {
    /// Eq. 6.5: seats matched.
    #[default]
    Quantity,
    /// Eq. 6.10 with β_t = the pick-up point's distance to the garage in 100 m (at least 1):
    /// a seat shared over a longer stretch saves more driving.
    Utility,
    /// Eq. 6.12: Σ seats × (rider's bid − driver's ask); zero unless `price_spread` > 0 (F4).
    Welfare,
}

impl std::str::FromStr for CarpoolObjective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "quantity" => Ok(Self::Quantity),
            "utility" => Ok(Self::Utility),
            "welfare" => Ok(Self::Welfare),
            _ => Err(format!(
                "unknown objective {s:?} (quantity, utility or welfare)"
            )),
        }
    }
}

impl Carpool {
    /// The market's objective: for eq. 6.10 one β per (slot, pick-up point, garage) type.
    pub fn objective(&self, kind: CarpoolObjective) -> Result<Objective, CarpoolError> {
        Ok(match kind {
            CarpoolObjective::Quantity => Objective::Quantity,
            CarpoolObjective::Welfare => Objective::Welfare,
            CarpoolObjective::Utility => {
                let types = self.cfg.slots as usize * self.pickups.len() * self.garages.len();
                if types > MAX_TABLE {
                    return Err(CarpoolError::TooManyTypes(types));
                }
                let mut betas = Vec::with_capacity(types);
                for s in 0..self.cfg.slots {
                    for (k, pickup) in self.pickups.iter().enumerate() {
                        for (g, garage) in self.garages.iter().enumerate() {
                            let t = pack(self.slot_start(s), k as u16, g as u16);
                            let value = (pickup.haversine(*garage) / 100.0).round().max(1.0);
                            betas.push(TypeRange {
                                first: t,
                                last: t,
                                value: value as u64,
                            });
                        }
                    }
                }
                Objective::TypeUtility {
                    default_beta: 1,
                    betas,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation::carpool::tests::{reference, reference_with};

    #[test]
    fn utility_weighs_each_type_by_its_pickup_to_garage_distance() {
        let carpool = reference();
        let Objective::TypeUtility { betas, .. } =
            carpool.objective(CarpoolObjective::Utility).unwrap()
        else {
            panic!("not eq. 6.10");
        };
        assert_eq!(betas.len(), 10 * 20 * 5);
        assert!(betas.windows(2).all(|w| w[0].last < w[1].first));
        let t = pack(carpool.slot_start(3), 17, 2);
        let beta = betas.iter().find(|r| r.first == t).unwrap().value;
        let metres = carpool.pickups[17].haversine(carpool.garages[2]);
        assert_eq!(beta, (metres / 100.0).round().max(1.0) as u64);
        let mut big = reference_with(|c| c.slots = 96);
        big.pickups = vec![big.pickups[0]; 30];
        assert!(matches!(
            big.objective(CarpoolObjective::Utility),
            Err(CarpoolError::TooManyTypes(14_400))
        ));
    }
}
