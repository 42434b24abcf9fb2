//! Distances and pick-up points for the carpool case (spec 5.1, A28, A29): haversine in
//! metres, and k-means over residences projected to metres around their mean latitude.

use rand::{rngs::StdRng, Rng};

/// Mean Earth radius (m).
const EARTH_M: f64 = 6_371_000.0;

/// A point on Earth, degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl LatLng {
    /// Great-circle distance (m).
    pub fn haversine(self, other: LatLng) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lng - self.lng).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_M * a.sqrt().asin()
    }

    /// The arithmetic mean of two points' latitudes and longitudes (a driver's circle centre).
    pub fn midpoint(self, other: LatLng) -> LatLng {
        LatLng {
            lat: (self.lat + other.lat) / 2.0,
            lng: (self.lng + other.lng) / 2.0,
        }
    }
}

/// The equirectangular projection to metres around one latitude: x east, y north. Over a
/// city the error is far below a pick-up point's spacing; k-means and the maps use it.
#[derive(Clone, Copy, Debug)]
pub struct Projection {
    cos_lat0: f64,
}

impl Projection {
    /// Around the mean latitude of `points` (the equator if there are none).
    pub fn around(points: &[LatLng]) -> Self {
        let n = points.len().max(1) as f64;
        let lat0 = points.iter().map(|p| p.lat).sum::<f64>() / n;
        Self {
            cos_lat0: lat0.to_radians().cos(),
        }
    }

    pub fn xy(&self, p: LatLng) -> (f64, f64) {
        (
            EARTH_M * p.lng.to_radians() * self.cos_lat0,
            EARTH_M * p.lat.to_radians(),
        )
    }

    pub fn latlng(&self, (x, y): (f64, f64)) -> LatLng {
        LatLng {
            lat: (y / EARTH_M).to_degrees(),
            lng: (x / (EARTH_M * self.cos_lat0)).to_degrees(),
        }
    }
}

/// Restarts of k-means; the best by within-cluster sum of squares wins.
const RESTARTS: usize = 10;

/// `k` pick-up points: k-means over `points` projected to metres (equirectangular around the
/// mean latitude), k-means++ initialization from `rng`, Lloyd iterations until the assignment
/// is stable, best of [`RESTARTS`] by SSE.
pub fn kmeans(points: &[LatLng], k: usize, rng: &mut StdRng) -> Vec<LatLng> {
    if points.is_empty() || k == 0 {
        return Vec::new();
    }
    let projection = Projection::around(points);
    let xy: Vec<(f64, f64)> = points.iter().map(|p| projection.xy(*p)).collect();
    let best = (0..RESTARTS)
        .map(|_| lloyd(&xy, k.min(xy.len()), rng))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(centres, _)| centres)
        .unwrap_or_default();
    best.into_iter().map(|p| projection.latlng(p)).collect()
}

fn dist2(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)
}

fn nearest(p: (f64, f64), centres: &[(f64, f64)]) -> (usize, f64) {
    centres
        .iter()
        .enumerate()
        .map(|(i, c)| (i, dist2(p, *c)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0))
}

/// One k-means run: the centres and their SSE (m²).
fn lloyd(xy: &[(f64, f64)], k: usize, rng: &mut StdRng) -> (Vec<(f64, f64)>, f64) {
    // k-means++: each next centre drawn with probability proportional to d².
    let mut centres = vec![xy[rng.gen_range(0..xy.len())]];
    while centres.len() < k {
        let d: Vec<f64> = xy.iter().map(|p| nearest(*p, &centres).1).collect();
        let total: f64 = d.iter().sum();
        let next = if total <= 0.0 {
            rng.gen_range(0..xy.len())
        } else {
            let mut r = rng.gen::<f64>() * total;
            d.iter()
                .position(|w| {
                    r -= w;
                    r <= 0.0
                })
                .unwrap_or(xy.len() - 1)
        };
        centres.push(xy[next]);
    }
    let mut assignment: Vec<usize> = xy.iter().map(|p| nearest(*p, &centres).0).collect();
    loop {
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<_> = xy
                .iter()
                .zip(&assignment)
                .filter(|(_, a)| **a == c)
                .map(|(p, _)| *p)
                .collect();
            if !members.is_empty() {
                let n = members.len() as f64;
                *centre = (
                    members.iter().map(|p| p.0).sum::<f64>() / n,
                    members.iter().map(|p| p.1).sum::<f64>() / n,
                );
            }
        }
        let next: Vec<usize> = xy.iter().map(|p| nearest(*p, &centres).0).collect();
        if next == assignment {
            break;
        }
        assignment = next;
    }
    let sse = xy.iter().map(|p| nearest(*p, &centres).1).sum();
    (centres, sse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn haversine_matches_a_known_distance() {
        // One degree of latitude is about 111.19 km on a 6,371 km sphere.
        let d = LatLng {
            lat: 36.0,
            lng: -86.0,
        }
        .haversine(LatLng {
            lat: 37.0,
            lng: -86.0,
        });
        assert!((d - 111_194.9).abs() < 1.0, "{d}");
    }

    #[test]
    fn kmeans_finds_two_separated_clusters() {
        let near = |lat, lng| LatLng { lat, lng };
        let points = [
            near(36.10, -86.80),
            near(36.1001, -86.8001),
            near(36.1002, -86.80),
            near(36.20, -86.60),
            near(36.2001, -86.6001),
        ];
        let mut centres = kmeans(&points, 2, &mut StdRng::seed_from_u64(1));
        centres.sort_by(|a, b| a.lat.total_cmp(&b.lat));
        assert!((centres[0].lat - 36.1001).abs() < 1e-6, "{centres:?}");
        assert!((centres[1].lat - 36.20005).abs() < 1e-6, "{centres:?}");
    }
}
