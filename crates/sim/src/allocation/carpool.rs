//! The carpool case's population from data (spec 5.1, golden check G5): commuters from
//! `latlng.csv`, garages, pick-up points, roles, seats, departure slots and the radius rule,
//! and each commuter's offer with one alternative per (slot, pick-up point) in range.

use super::geo::{kmeans, LatLng};
use super::OfferSpec;
use agora_allocation::{Alternative, Side, TypeId, MAX_TABLE};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// 2018-01-22 07:00 CST, the first departure slot (the data's commutes are of that morning).
pub const FIRST_SLOT_UNIX_S: u64 = 1_516_626_000;

#[derive(Debug, thiserror::Error)]
pub enum CarpoolError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0} has no commuters")]
    Empty(PathBuf),
    #[error("pick-up point {0} does not fit the type encoding (ids below 65,536)")]
    TooManyPickups(usize),
    #[error(
        "eq. 6.10 needs one beta per type: {0} types exceed the market's table of {MAX_TABLE}"
    )]
    TooManyTypes(usize),
}

/// A commuter of `latlng.csv`.
#[derive(Clone, Debug)]
pub struct Commuter {
    pub id: u32,
    pub home: LatLng,
    pub work: LatLng,
    /// Index of its garage among the distinct destinations sorted by (lat, lng).
    pub garage: u32,
}

/// Where the pick-up points come from.
#[derive(Clone, Debug)]
pub enum Pickups {
    /// k-means with this many clusters over the residences, seeded.
    KMeans(usize),
    /// Points given by id order.
    Points(Vec<LatLng>),
}

#[derive(Clone, Debug)]
pub struct CarpoolConfig {
    pub seed: u64,
    pub pickups: Pickups,
    /// Radius = this × distance(residence, garage) (seed 0.5, prototype 0.6).
    pub radius_factor: f64,
    /// Slack of the in-range test (A24: a driver's own residence lies on its circle).
    pub radius_tolerance_m: f64,
    pub slots: u32,
    pub first_slot_unix_s: u64,
    pub slot_minutes: u32,
    /// An offer lists its drawn slot and the next `slot_flex - 1` that exist.
    pub slot_flex: u32,
    pub max_seats: u64,
    /// Every rider requests exactly this many seats (eq. 6.9 with 1); none: drawn as drivers'.
    pub rider_seats: Option<u64>,
    pub driver_share: f64,
    pub price: u64,
    /// Each offer's value is drawn uniformly in `price ± price_spread` (with `reference`:
    /// `price - spread + id mod (2 spread + 1)`); 0: every value is `price`.
    pub price_spread: u64,
    /// Each cycle draws every commuter's garage uniformly (the seed's set-up) instead of
    /// keeping the one of the data.
    pub random_garage: bool,
    /// G5's attributes by id instead of draws: driver iff even, 1 + id mod 3 seats,
    /// slot (id / 2) mod 10.
    pub reference: bool,
}

impl Default for CarpoolConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            pickups: Pickups::KMeans(20),
            radius_factor: 0.5,
            radius_tolerance_m: 1.0,
            slots: 10,
            first_slot_unix_s: FIRST_SLOT_UNIX_S,
            slot_minutes: 15,
            slot_flex: 2,
            max_seats: 3,
            rider_seats: None,
            driver_share: 0.5,
            price: 10,
            price_spread: 0,
            random_garage: false,
            reference: false,
        }
    }
}

/// Role, seats, first slot, garage and value per seat of a commuter in one cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    pub driver: bool,
    pub seats: u64,
    pub slot: u32,
    pub garage: u32,
    pub value: u64,
}

/// A commuter's offer of one cycle: what it drew and, if any pick-up point is in range, its
/// alternatives.
#[derive(Clone, Debug)]
pub struct CarpoolOffer {
    pub draw: Draw,
    pub offer: Option<OfferSpec>,
}

/// Packs (slot start, pick-up point, garage) into one type id (A4): fixed-width fields,
/// ordered by slot, then pick-up, then garage.
pub fn pack(slot_start_unix_s: u64, pickup: u16, garage: u16) -> TypeId {
    (slot_start_unix_s << 32) + (u64::from(pickup) << 16) + u64::from(garage)
}

/// The inverse of [`pack`].
pub fn unpack(t: TypeId) -> (u64, u16, u16) {
    (t >> 32, (t >> 16) as u16, t as u16)
}

fn parse_f64(path: &Path, line: usize, s: &str) -> Result<f64, CarpoolError> {
    s.trim().parse().map_err(|e| CarpoolError::Parse {
        path: path.to_path_buf(),
        line,
        reason: format!("{s:?}: {e}"),
    })
}

fn read(path: &Path) -> Result<String, CarpoolError> {
    std::fs::read_to_string(path).map_err(|source| CarpoolError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `latlng.csv` (`,ID,from_lat,from_lng,to_lat,to_lng`); garages are the distinct
/// destinations sorted by (lat, lng).
pub fn read_commuters(path: &Path) -> Result<Vec<Commuter>, CarpoolError> {
    let text = read(path)?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            return Err(CarpoolError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("expected 6 fields, got {}", f.len()),
            });
        }
        let num = |j: usize| parse_f64(path, i + 1, f[j]);
        let id = num(1)?;
        if id < 0.0 || id.fract() != 0.0 || id > f64::from(u32::MAX) {
            return Err(CarpoolError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("ID {id} is not a whole number"),
            });
        }
        let home = LatLng {
            lat: num(2)?,
            lng: num(3)?,
        };
        let work = LatLng {
            lat: num(4)?,
            lng: num(5)?,
        };
        rows.push((id as u32, home, work));
    }
    if rows.is_empty() {
        return Err(CarpoolError::Empty(path.to_path_buf()));
    }
    let works: Vec<LatLng> = rows.iter().map(|r| r.2).collect();
    let garages = distinct_sorted(works);
    Ok(rows
        .into_iter()
        .map(|(id, home, work)| Commuter {
            id,
            home,
            work,
            garage: garages.iter().position(|g| *g == work).unwrap_or(0) as u32,
        })
        .collect())
}

/// The distinct points sorted by (lat, lng): the garages' ids.
fn distinct_sorted(mut points: Vec<LatLng>) -> Vec<LatLng> {
    points.sort_by(|a, b| a.lat.total_cmp(&b.lat).then(a.lng.total_cmp(&b.lng)));
    points.dedup();
    points
}

/// Reads a pick-up points file with the header `id,lat,lng`, ids 0, 1, 2, … in order.
pub fn read_pickups(path: &Path) -> Result<Vec<LatLng>, CarpoolError> {
    let text = read(path)?;
    let mut lines = text.lines().enumerate();
    let bad = |line: usize, reason: String| CarpoolError::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    };
    match lines.next() {
        Some((_, h)) if h.trim() == "id,lat,lng" => {}
        _ => return Err(bad(1, "expected the header id,lat,lng".into())),
    }
    let mut points = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 3 {
            return Err(bad(i + 1, format!("expected 3 fields, got {}", f.len())));
        }
        if f[0].trim() != points.len().to_string() {
            return Err(bad(i + 1, format!("expected id {}", points.len())));
        }
        points.push(LatLng {
            lat: parse_f64(path, i + 1, f[1])?,
            lng: parse_f64(path, i + 1, f[2])?,
        });
    }
    if points.len() > usize::from(u16::MAX) + 1 {
        return Err(CarpoolError::TooManyPickups(points.len()));
    }
    Ok(points)
}

/// The case's commuters, garages and pick-up points, and the generator of each cycle's draws.
pub struct Carpool {
    pub commuters: Vec<Commuter>,
    /// By id: the distinct destinations sorted by (lat, lng).
    pub garages: Vec<LatLng>,
    pub pickups: Vec<LatLng>,
    pub cfg: CarpoolConfig,
    rng: StdRng,
}

impl Carpool {
    pub fn new(commuters: Vec<Commuter>, cfg: CarpoolConfig) -> Result<Self, CarpoolError> {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let pickups = match &cfg.pickups {
            Pickups::Points(points) => points.clone(),
            Pickups::KMeans(k) => {
                let homes: Vec<LatLng> = commuters.iter().map(|c| c.home).collect();
                kmeans(&homes, *k, &mut rng)
            }
        };
        if pickups.len() > usize::from(u16::MAX) + 1 {
            return Err(CarpoolError::TooManyPickups(pickups.len()));
        }
        let garages = distinct_sorted(commuters.iter().map(|c| c.work).collect());
        Ok(Self {
            commuters,
            garages,
            pickups,
            cfg,
            rng,
        })
    }

    /// Every commuter's offer for the next cycle: G5's attributes with `reference`, otherwise
    /// new draws from the seeded generator.
    pub fn next_cycle(&mut self) -> Vec<CarpoolOffer> {
        let commuters = std::mem::take(&mut self.commuters);
        let draws: Vec<Draw> = commuters.iter().map(|c| self.draw(c)).collect();
        self.commuters = commuters;
        self.commuters
            .iter()
            .zip(draws)
            .map(|(c, draw)| CarpoolOffer {
                draw,
                offer: self.offer(c, draw),
            })
            .collect()
    }

    /// One commuter's draw. The optional draws (garage, value) come after the others, so
    /// without their flags the stream, and every other draw, is the same.
    fn draw(&mut self, c: &Commuter) -> Draw {
        let cfg = &self.cfg;
        let spread = cfg.price_spread.min(cfg.price);
        let mut draw = if cfg.reference {
            Draw {
                driver: c.id & 1 == 0,
                seats: 1 + u64::from(c.id % 3),
                slot: (c.id / 2) % cfg.slots.max(1),
                garage: c.garage,
                value: cfg.price - spread + u64::from(c.id) % (2 * spread + 1),
            }
        } else {
            Draw {
                driver: self.rng.gen_bool(cfg.driver_share.clamp(0.0, 1.0)),
                seats: self.rng.gen_range(1..=cfg.max_seats.max(1)),
                slot: self.rng.gen_range(0..cfg.slots.max(1)),
                garage: c.garage,
                value: cfg.price,
            }
        };
        if cfg.random_garage {
            draw.garage = self.rng.gen_range(0..self.garages.len().max(1)) as u32;
        }
        if spread > 0 && !cfg.reference {
            draw.value = self.rng.gen_range(cfg.price - spread..=cfg.price + spread);
        }
        if let (false, Some(seats)) = (draw.driver, cfg.rider_seats) {
            draw.seats = seats;
        }
        draw
    }

    /// Where the commuter drives to in this draw.
    pub fn destination(&self, c: &Commuter, draw: &Draw) -> LatLng {
        self.garages
            .get(draw.garage as usize)
            .copied()
            .unwrap_or(c.work)
    }

    /// The commuter's pick-up circle (centre, radius in m): around the residence-garage
    /// midpoint for a driver, around the residence for a rider.
    pub fn circle(&self, c: &Commuter, draw: &Draw) -> (LatLng, f64) {
        let work = self.destination(c, draw);
        let radius = self.cfg.radius_factor * c.home.haversine(work);
        match draw.driver {
            true => (c.home.midpoint(work), radius),
            false => (c.home, radius),
        }
    }

    /// The pick-up points within the commuter's circle (plus the tolerance, A24).
    pub fn in_range(&self, c: &Commuter, draw: &Draw) -> Vec<u16> {
        let (centre, radius) = self.circle(c, draw);
        (0..self.pickups.len())
            .filter(|k| centre.haversine(self.pickups[*k]) <= radius + self.cfg.radius_tolerance_m)
            .map(|k| k as u16)
            .collect()
    }

    /// Unix start of slot `s`.
    pub fn slot_start(&self, s: u32) -> u64 {
        self.cfg.first_slot_unix_s + u64::from(s) * u64::from(self.cfg.slot_minutes) * 60
    }

    fn offer(&self, c: &Commuter, draw: Draw) -> Option<OfferSpec> {
        let pickups = self.in_range(c, &draw);
        if pickups.is_empty() {
            return None;
        }
        let last = (draw.slot + self.cfg.slot_flex.max(1) - 1).min(self.cfg.slots - 1);
        let mut alternatives: Vec<Alternative> = (draw.slot..=last)
            .flat_map(|s| {
                let start = self.slot_start(s);
                pickups.iter().map(move |k| Alternative {
                    rtype: pack(start, *k, draw.garage as u16),
                    quantity: draw.seats,
                    value: draw.value,
                })
            })
            .collect();
        alternatives.sort_by_key(|a| a.rtype);
        Some(OfferSpec {
            side: if draw.driver {
                Side::Provide
            } else {
                Side::Consume
            },
            misc: u64::from(c.id),
            alternatives,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    }

    pub(crate) fn reference() -> Carpool {
        let commuters = read_commuters(&repo("data/carpool/latlng.csv")).unwrap();
        let pickups = read_pickups(&repo("crates/cli/tests/data/pickups-g5.csv")).unwrap();
        let cfg = CarpoolConfig {
            pickups: Pickups::Points(pickups),
            reference: true,
            ..CarpoolConfig::default()
        };
        Carpool::new(commuters, cfg).unwrap()
    }

    /// Golden check G5's instance facts (spec 8), all computed independently of this code.
    #[test]
    fn the_reference_instance_is_g5() {
        let mut carpool = reference();
        let garages: BTreeSet<u32> = carpool.commuters.iter().map(|c| c.garage).collect();
        assert_eq!((carpool.commuters.len(), garages.len()), (75, 5));
        let per_garage: Vec<usize> = (0..5)
            .map(|g| carpool.commuters.iter().filter(|c| c.garage == g).count())
            .collect();
        assert_eq!(per_garage, [19, 12, 15, 17, 12]);
        let offers = carpool.next_cycle();
        let drivers = offers.iter().filter(|o| o.draw.driver).count();
        assert_eq!((drivers, offers.len() - drivers), (38, 37));
        let unposted: Vec<u32> = carpool
            .commuters
            .iter()
            .zip(&offers)
            .filter(|(_, o)| o.offer.is_none())
            .map(|(c, _)| c.id)
            .collect();
        assert_eq!(unposted, [1, 29, 35, 47]);
        let posted: Vec<&OfferSpec> = offers.iter().filter_map(|o| o.offer.as_ref()).collect();
        let posted_drivers = posted.iter().filter(|o| o.side == Side::Provide).count();
        assert_eq!((posted.len(), posted_drivers), (71, 38));
        let alternatives: usize = posted.iter().map(|o| o.alternatives.len()).sum();
        let types: BTreeSet<TypeId> = posted
            .iter()
            .flat_map(|o| o.alternatives.iter().map(|a| a.rtype))
            .collect();
        assert_eq!((alternatives, types.len()), (423, 295));
        let seats = |driver: bool| -> u64 {
            offers
                .iter()
                .filter(|o| o.draw.driver == driver)
                .map(|o| o.draw.seats)
                .sum()
        };
        assert_eq!((seats(true), seats(false)), (76, 74));
        let requested_posted: u64 = posted
            .iter()
            .filter(|o| o.side == Side::Consume)
            .map(|o| o.alternatives[0].quantity)
            .sum();
        assert_eq!(requested_posted, 63);
    }

    pub(crate) fn reference_with(change: impl FnOnce(&mut CarpoolConfig)) -> Carpool {
        let mut carpool = reference();
        change(&mut carpool.cfg);
        carpool
    }

    #[test]
    fn rider_seats_fixes_what_riders_request_and_nothing_else() {
        let base = reference().next_cycle();
        let one = reference_with(|c| c.rider_seats = Some(1)).next_cycle();
        for (b, o) in base.iter().zip(&one) {
            let expected = if b.draw.driver { b.draw.seats } else { 1 };
            assert_eq!(o.draw.seats, expected);
            assert_eq!((o.draw.driver, o.draw.slot), (b.draw.driver, b.draw.slot));
            if let Some(offer) = &o.offer {
                assert!(offer.alternatives.iter().all(|a| a.quantity == expected));
            }
        }
        // Random draws: the same roles and slots as without the flag.
        let random = |rider_seats| {
            let commuters = reference().commuters;
            let cfg = CarpoolConfig {
                rider_seats,
                ..CarpoolConfig::default()
            };
            Carpool::new(commuters, cfg).unwrap().next_cycle()
        };
        let (a, b) = (random(None), random(Some(2)));
        assert!(a.iter().zip(&b).all(|(x, y)| x.draw.driver == y.draw.driver
            && x.draw.slot == y.draw.slot
            && y.draw.seats == if y.draw.driver { x.draw.seats } else { 2 }));
    }

    #[test]
    fn random_garage_redraws_destinations_and_the_radius_follows() {
        let mut carpool = reference_with(|c| c.random_garage = true);
        let offers = carpool.next_cycle();
        let moved = carpool
            .commuters
            .iter()
            .zip(&offers)
            .filter(|(c, o)| o.draw.garage != c.garage)
            .count();
        // 75 uniform draws over 5 garages keep about a fifth in place.
        assert!(moved > 30, "{moved}");
        let per_garage: BTreeSet<u32> = offers.iter().map(|o| o.draw.garage).collect();
        assert_eq!(per_garage.len(), 5);
        for (c, o) in carpool.commuters.iter().zip(&offers) {
            let work = carpool.garages[o.draw.garage as usize];
            let (_, radius) = carpool.circle(c, &o.draw);
            assert_eq!(radius, 0.5 * c.home.haversine(work));
            for a in o.offer.iter().flat_map(|o| &o.alternatives) {
                assert_eq!(u32::from(unpack(a.rtype).2), o.draw.garage);
            }
        }
        // The data's garages without the flag.
        let mut kept = reference();
        let offers = kept.next_cycle();
        assert!(kept
            .commuters
            .iter()
            .zip(&offers)
            .all(|(c, o)| o.draw.garage == c.garage));
    }

    #[test]
    fn a_price_spread_draws_values_around_the_price() {
        let offers = reference_with(|c| c.price_spread = 3).next_cycle();
        let values: BTreeSet<u64> = offers.iter().map(|o| o.draw.value).collect();
        assert_eq!(values, (7..=13).collect());
        for o in offers.iter().filter_map(|o| o.offer.as_ref()) {
            assert!(o
                .alternatives
                .iter()
                .all(|a| a.value == o.alternatives[0].value));
        }
    }

    #[test]
    fn types_pack_and_unpack_as_g6_says() {
        let t = pack(1_523_621_700, 15, 3);
        assert_eq!(t, 6_543_905_372_976_906_243);
        assert_eq!(t, 0x5ad0_9f44_000f_0003);
        assert_eq!(unpack(t), (1_523_621_700, 15, 3));
    }

    #[test]
    fn a_pickups_file_needs_its_header_and_ids_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let bad = [("lat,lng\n1,2\n", 1), ("id,lat,lng\n1,36.1,-86.8\n", 2)];
        for (text, line) in bad {
            let path = dir.path().join("p.csv");
            std::fs::write(&path, text).unwrap();
            match read_pickups(&path) {
                Err(CarpoolError::Parse { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn random_draws_follow_the_seed() {
        let commuters = read_commuters(&repo("data/carpool/latlng.csv")).unwrap();
        let draws = |seed| {
            let cfg = CarpoolConfig {
                seed,
                ..CarpoolConfig::default()
            };
            let mut c = Carpool::new(commuters.clone(), cfg).unwrap();
            (
                c.pickups.len(),
                c.next_cycle().iter().map(|o| o.draw).collect::<Vec<_>>(),
            )
        };
        let (k, a) = draws(7);
        assert_eq!(k, 20);
        assert_eq!(a, draws(7).1);
        assert_ne!(a, draws(8).1);
        assert!(a.iter().all(|d| (1..=3).contains(&d.seats) && d.slot < 10));
    }
}
