//! The carpool's figures (seed Fig. 6.5-6.7, spec 5.1 item 7): `map.svg` (residences by role,
//! garages, pick-up points and every commuter's radius circle), `offers.svg` (per departure
//! slot, the seats each posted offer lists) and `matched.svg` (per slot, the seats each offer
//! had matched, beside a map of who carries whom through which pick-up point).
//!
//! Every mark says what it stands for (`class` and `data-*`: commuter, offer, slot, seats), so
//! the figures can be checked against the run's counts.

use super::{
    carpool::{unpack, Carpool, CarpoolOffer, Commuter},
    geo::{LatLng, Projection},
    OfferSpec,
};
use crate::plot::{
    column_chart, map_chart, palette, side_by_side, Column, Data, Mark, Segment, Shape, CHART_SIZE,
    MAP_SIZE,
};
use agora_allocation::{Assignment, OfferId, Side};
use std::collections::BTreeMap;

const DRIVER: &str = "#2ca02c";
const RIDER: &str = "#d62728";
const GARAGE: &str = "#1f77b4";
const PICKUP: &str = "#f2c200";

/// A posted offer as the figures see it: who posted it and its colour.
struct Posted<'a> {
    commuter: &'a Commuter,
    spec: &'a OfferSpec,
    color: String,
}

/// The carpool of one cycle, ready to draw.
struct Scene<'a> {
    carpool: &'a Carpool,
    draws: &'a [CarpoolOffer],
    projection: Projection,
    posted: BTreeMap<OfferId, Posted<'a>>,
    finalized: &'a [Assignment],
}

impl<'a> Scene<'a> {
    fn xy(&self, p: LatLng) -> (f64, f64) {
        self.projection.xy(p)
    }

    /// The 0-based slot of a type.
    fn slot(&self, rtype: u64) -> u32 {
        let (start, _, _) = unpack(rtype);
        let slot_s = u64::from(self.carpool.cfg.slot_minutes).max(1) * 60;
        (start.saturating_sub(self.carpool.cfg.first_slot_unix_s) / slot_s) as u32
    }

    /// A slot's start as local time of the data (CST, UTC-6).
    fn slot_label(&self, s: u32) -> String {
        let local = self.carpool.slot_start(s).saturating_sub(6 * 3600) % 86_400;
        format!("{:02}:{:02}", local / 3600, local % 3600 / 60)
    }

    fn pickups_and_garages(&self) -> Vec<Mark> {
        let garages = self.carpool.garages.iter().enumerate().map(|(g, p)| Mark {
            shape: Shape::Dot {
                at: self.xy(*p),
                r: 6.0,
            },
            color: GARAGE.into(),
            class: "garage",
            data: vec![("garage", g.to_string())],
            title: format!("garage {g}"),
        });
        let pickups = self.carpool.pickups.iter().enumerate().map(|(k, p)| Mark {
            shape: Shape::Dot {
                at: self.xy(*p),
                r: 5.0,
            },
            color: PICKUP.into(),
            class: "pickup",
            data: vec![("pickup", k.to_string())],
            title: format!("pick-up point {k}"),
        });
        garages.chain(pickups).collect()
    }

    /// Fig. 6.5: every commuter's radius circle, residence (by role), the garages and the
    /// pick-up points.
    fn map(&self) -> String {
        let mut marks = Vec::new();
        for (c, d) in self.carpool.commuters.iter().zip(self.draws) {
            let (centre, radius) = self.carpool.circle(c, &d.draw);
            marks.push(Mark {
                shape: Shape::Circle {
                    at: self.xy(centre),
                    r: radius,
                },
                color: role_color(d.draw.driver).into(),
                class: "radius",
                data: vec![("commuter", c.id.to_string())],
                title: String::new(),
            });
        }
        for (c, d) in self.carpool.commuters.iter().zip(self.draws) {
            let role = if d.draw.driver { "driver" } else { "rider" };
            marks.push(Mark {
                shape: Shape::Dot {
                    at: self.xy(c.home),
                    r: 3.5,
                },
                color: role_color(d.draw.driver).into(),
                class: "residence",
                data: vec![
                    ("commuter", c.id.to_string()),
                    ("role", role.into()),
                    ("seats", d.draw.seats.to_string()),
                    ("posted", d.offer.is_some().to_string()),
                ],
                title: format!(
                    "commuter {}: {role}, {} seat(s), garage {}{}",
                    c.id,
                    d.draw.seats,
                    d.draw.garage,
                    if d.offer.is_some() {
                        ""
                    } else {
                        ", no pick-up point in range"
                    }
                ),
            });
        }
        marks.extend(self.pickups_and_garages());
        map_chart(
            "Residences, garages, pick-up points and radii (Fig. 6.5)",
            &marks,
            &[
                ("drivers", DRIVER),
                ("riders", RIDER),
                ("garages", GARAGE),
                ("pick-up points", PICKUP),
            ],
        )
    }

    /// Two columns per slot, drivers' then riders'; `seats(offer, slot)` is a segment's
    /// height (none: the offer has no segment in that slot).
    fn columns(&self, seats: impl Fn(OfferId, &Posted, u32) -> Option<u64>) -> Vec<Column> {
        let mut columns = Vec::new();
        for s in 0..self.carpool.cfg.slots {
            for side in [Side::Provide, Side::Consume] {
                let segments = self
                    .posted
                    .iter()
                    .filter(|(_, p)| p.spec.side == side)
                    .filter_map(|(id, p)| {
                        let seats = seats(*id, p, s)?;
                        let role = if side == Side::Provide {
                            "driver"
                        } else {
                            "rider"
                        };
                        Some(Segment {
                            value: seats as f64,
                            color: p.color.clone(),
                            data: vec![
                                ("offer", id.to_string()),
                                ("commuter", p.commuter.id.to_string()),
                                ("side", role.into()),
                                ("slot", s.to_string()),
                                ("seats", seats.to_string()),
                            ],
                            title: format!(
                                "{role} offer {id} (commuter {}): {seats} seat(s) at {}",
                                p.commuter.id,
                                self.slot_label(s)
                            ),
                        })
                    })
                    .collect();
                let label = match side {
                    Side::Provide => self.slot_label(s),
                    Side::Consume => String::new(),
                };
                columns.push(Column { label, segments });
            }
        }
        columns
    }

    /// Fig. 6.6: per slot, one colour per offer listing the slot, its seats as the height.
    fn offers(&self) -> String {
        let columns = self.columns(|_, p, s| {
            let lists = p.spec.alternatives.iter().any(|a| self.slot(a.rtype) == s);
            lists.then(|| p.spec.capacity())
        });
        column_chart(
            "Seats offered and requested per departure slot, one colour per offer (Fig. 6.6)",
            "departure slot (left column: drivers' offers, right: riders')",
            "seats",
            &columns,
            &[],
            None,
        )
    }

    /// Fig. 6.7 (matched seats per slot and offer) beside the map of the finalized pairs.
    fn matched(&self) -> String {
        let columns = self.columns(|id, _, s| {
            let seats: u64 = self
                .finalized
                .iter()
                .filter(|a| (a.provider == id || a.consumer == id) && self.slot(a.rtype) == s)
                .map(|a| a.quantity)
                .sum();
            (seats > 0).then_some(seats)
        });
        let bars = column_chart(
            "Matched seats per departure slot and offer (Fig. 6.7)",
            "departure slot (left column: drivers' offers, right: riders')",
            "seats",
            &columns,
            &[],
            None,
        );
        let mut marks = Vec::new();
        let mut homes = BTreeMap::new();
        for a in self.finalized {
            let (Some(driver), Some(rider)) =
                (self.posted.get(&a.provider), self.posted.get(&a.consumer))
            else {
                continue;
            };
            let (_, pickup, garage) = unpack(a.rtype);
            let Some(point) = self.carpool.pickups.get(usize::from(pickup)) else {
                continue;
            };
            let work = self
                .carpool
                .garages
                .get(usize::from(garage))
                .copied()
                .unwrap_or(driver.commuter.work);
            let slot = self.slot(a.rtype);
            homes.insert(driver.commuter.id, (driver.commuter.home, DRIVER));
            homes.insert(rider.commuter.id, (rider.commuter.home, RIDER));
            let data: Data = vec![
                ("driver-offer", a.provider.to_string()),
                ("rider-offer", a.consumer.to_string()),
                ("driver", driver.commuter.id.to_string()),
                ("rider", rider.commuter.id.to_string()),
                ("slot", slot.to_string()),
                ("pickup", pickup.to_string()),
                ("seats", a.quantity.to_string()),
            ];
            let title = format!(
                "driver {} carries {} seat(s) of rider {} from pick-up point {pickup} at {} to garage {garage}",
                driver.commuter.id,
                a.quantity,
                rider.commuter.id,
                self.slot_label(slot)
            );
            marks.push(Mark {
                shape: Shape::Path {
                    points: vec![
                        self.xy(driver.commuter.home),
                        self.xy(*point),
                        self.xy(work),
                    ],
                    dashed: false,
                },
                color: driver.color.clone(),
                class: "pair",
                data,
                title,
            });
            marks.push(Mark {
                shape: Shape::Path {
                    points: vec![self.xy(rider.commuter.home), self.xy(*point)],
                    dashed: true,
                },
                color: driver.color.clone(),
                class: "walk",
                data: vec![("rider", rider.commuter.id.to_string())],
                title: String::new(),
            });
        }
        marks.extend(homes.into_iter().map(|(id, (home, color))| Mark {
            shape: Shape::Dot {
                at: self.xy(home),
                r: 3.5,
            },
            color: color.into(),
            class: "matched-residence",
            data: vec![("commuter", id.to_string())],
            title: format!("commuter {id}"),
        }));
        marks.extend(self.pickups_and_garages());
        let map = map_chart(
            "Who carries whom: driver's route via the pick-up point, rider to it (dashed)",
            &marks,
            &[
                ("drivers", DRIVER),
                ("riders", RIDER),
                ("garages", GARAGE),
                ("pick-up points", PICKUP),
            ],
        );
        side_by_side(&[
            (bars, CHART_SIZE.0, CHART_SIZE.1),
            (map, MAP_SIZE, MAP_SIZE),
        ])
    }
}

fn role_color(driver: bool) -> &'static str {
    if driver {
        DRIVER
    } else {
        RIDER
    }
}

/// `map.svg`, `offers.svg` and `matched.svg` of one cycle: `draws` are its commuters' draws (in
/// `carpool.commuters` order), `offers` each commuter's posted offers with their ids, and
/// `finalized` the cycle's finalized assignments.
pub fn carpool_figures(
    carpool: &Carpool,
    draws: &[CarpoolOffer],
    offers: &[Vec<(OfferId, OfferSpec)>],
    finalized: &[Assignment],
) -> Vec<(String, String)> {
    let homes: Vec<LatLng> = carpool.commuters.iter().map(|c| c.home).collect();
    let posted = carpool
        .commuters
        .iter()
        .zip(offers)
        .flat_map(|(c, offers)| offers.iter().map(move |(id, spec)| (*id, c, spec)))
        .enumerate()
        .map(|(i, (id, commuter, spec))| {
            let color = palette(i);
            (
                id,
                Posted {
                    commuter,
                    spec,
                    color,
                },
            )
        })
        .collect();
    let scene = Scene {
        carpool,
        draws,
        projection: Projection::around(&homes),
        posted,
        finalized,
    };
    vec![
        ("map.svg".into(), scene.map()),
        ("offers.svg".into(), scene.offers()),
        ("matched.svg".into(), scene.matched()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation::carpool::{read_commuters, read_pickups, CarpoolConfig, Pickups};
    use agora_solver::allocation::{solve, AllocationInstance, AllocationSolveOptions};
    use std::{collections::BTreeSet, path::Path};

    /// The `data-*` attributes of every element of `class`.
    fn elements(svg: &str, class: &str) -> Vec<BTreeMap<String, String>> {
        svg.split(&format!(r#"class="{class}""#))
            .skip(1)
            .map(|tail| {
                let tag = &tail[..tail.find('>').unwrap()];
                tag.split(" data-")
                    .skip(1)
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap();
                        (k.to_string(), v[..v.find('"').unwrap()].to_string())
                    })
                    .collect()
            })
            .collect()
    }

    fn sum(elements: &[BTreeMap<String, String>], key: &str) -> u64 {
        elements
            .iter()
            .map(|e| e[key].parse::<u64>().unwrap())
            .sum()
    }

    /// G5's instance, its offers numbered in posting order, solved by the platform's solver.
    #[test]
    fn the_figures_show_every_commuter_offer_and_assignment() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let commuters = read_commuters(&root.join("data/carpool/latlng.csv")).unwrap();
        let points = read_pickups(&root.join("crates/cli/tests/data/pickups-g5.csv")).unwrap();
        let cfg = CarpoolConfig {
            pickups: Pickups::Points(points),
            reference: true,
            ..CarpoolConfig::default()
        };
        let mut carpool = Carpool::new(commuters, cfg).unwrap();
        let draws = carpool.next_cycle();
        let mut next = 0;
        let offers: Vec<Vec<(OfferId, OfferSpec)>> = draws
            .iter()
            .map(|d| {
                d.offer
                    .iter()
                    .map(|o| {
                        next += 1;
                        (next - 1, o.clone())
                    })
                    .collect()
            })
            .collect();
        let listed: Vec<serde_json::Value> = offers
            .iter()
            .flatten()
            .map(|(id, o)| serde_json::json!({"id": id, "side": o.side, "alternatives": o.alternatives}))
            .collect();
        let instance: AllocationInstance =
            serde_json::from_value(serde_json::json!({ "offers": listed })).unwrap();
        let finalized = solve(&instance, &AllocationSolveOptions::default())
            .unwrap()
            .assignments;
        let figures: BTreeMap<String, String> =
            carpool_figures(&carpool, &draws, &offers, &finalized)
                .into_iter()
                .collect();

        let map = &figures["map.svg"];
        let residences = elements(map, "residence");
        assert_eq!(residences.len(), 75);
        let drivers = residences.iter().filter(|r| r["role"] == "driver").count();
        assert_eq!(drivers, 38);
        assert_eq!(
            residences.iter().filter(|r| r["posted"] == "false").count(),
            4
        );
        assert_eq!(elements(map, "radius").len(), 75);
        assert_eq!(elements(map, "pickup").len(), 20);
        assert_eq!(elements(map, "garage").len(), 5);

        let posted: Vec<&(OfferId, OfferSpec)> = offers.iter().flatten().collect();
        let shown = elements(&figures["offers.svg"], "segment");
        let distinct: BTreeSet<&String> = shown.iter().map(|s| &s["offer"]).collect();
        assert_eq!(distinct.len(), 71);
        let carpool_ref = &carpool;
        let slots_of = |o: &OfferSpec| -> BTreeSet<u64> {
            o.alternatives
                .iter()
                .map(|a| (unpack(a.rtype).0 - carpool_ref.cfg.first_slot_unix_s) / 900)
                .collect()
        };
        let per_slot: usize = posted.iter().map(|(_, o)| slots_of(o).len()).sum();
        assert_eq!(shown.len(), per_slot);
        for (side, role) in [(Side::Provide, "driver"), (Side::Consume, "rider")] {
            let listed: u64 = posted
                .iter()
                .filter(|(_, o)| o.side == side)
                .map(|(_, o)| o.capacity() * slots_of(o).len() as u64)
                .sum();
            let drawn: Vec<_> = shown
                .iter()
                .filter(|s| s["side"] == role)
                .cloned()
                .collect();
            assert_eq!(sum(&drawn, "seats"), listed, "{role}");
        }

        let matched = &figures["matched.svg"];
        let seats: u64 = finalized.iter().map(|a| a.quantity).sum();
        assert_eq!(seats, 31);
        let pairs = elements(matched, "pair");
        assert_eq!(pairs.len(), finalized.len());
        assert_eq!(sum(&pairs, "seats"), seats);
        assert_eq!(elements(matched, "walk").len(), finalized.len());
        let bars = elements(matched, "segment");
        for role in ["driver", "rider"] {
            let side: Vec<_> = bars.iter().filter(|s| s["side"] == role).cloned().collect();
            assert_eq!(sum(&side, "seats"), seats, "{role}");
        }
        for svg in figures.values() {
            assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
        }
    }
}
