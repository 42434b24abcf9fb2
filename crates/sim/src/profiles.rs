//! Day-ahead energy profiles of homes (`prosumer_<id>.csv`: `startTime,endTime,energy`).

use std::path::{Path, PathBuf};

/// One row of a profile: an offer the home can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileRow {
    /// First and last interval (inclusive) in which the energy may be delivered.
    pub first: u32,
    pub last: u32,
    /// Wh; positive: the home can sell (produce) it, negative: it wants to buy (consume) it.
    pub energy: i64,
}

#[derive(Clone, Debug)]
pub struct Profile {
    pub home: u32,
    /// The feeder: `home / 100`.
    pub feeder: u32,
    pub rows: Vec<ProfileRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
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
    #[error("no prosumer_<id>.csv files in {0}")]
    Empty(PathBuf),
    #[error("home {0} has an id of 2000 or more: its copies would collide with other homes")]
    IdTooLarge(u32),
    #[error("cannot replicate the homes {0} times: copy ids overflow")]
    TooManyCopies(u32),
    #[error("intervals {first}..{last}: the first must be at least 1 and not after the last")]
    BadIntervals { first: u32, last: u32 },
}

/// Home ids of one copy lie below this: copy k of home h is home h + COPY_STRIDE·k.
pub const COPY_STRIDE: u32 = 2_000;

/// The homes `copies` times (1: unchanged): copy k of home h is home h + 2000k, on feeder
/// (h + 2000k) / 100, its own copy of h's feeder (2000k / 100 = 20k feeders apart).
pub fn replicate(profiles: &[Profile], copies: u32) -> Result<Vec<Profile>, ProfileError> {
    if let Some(p) = profiles.iter().find(|p| p.home >= COPY_STRIDE) {
        return Err(ProfileError::IdTooLarge(p.home));
    }
    let mut out = Vec::with_capacity(profiles.len() * copies as usize);
    for k in 0..copies {
        let offset = k
            .checked_mul(COPY_STRIDE)
            .ok_or(ProfileError::TooManyCopies(copies))?;
        for p in profiles {
            let home = p.home + offset;
            out.push(Profile {
                home,
                feeder: home / 100,
                rows: p.rows.clone(),
            });
        }
    }
    Ok(out)
}

/// Only intervals `first..=last` of the day (1-based, as in the profiles): rows outside are
/// dropped, flexible rows keep their energy and lose the intervals outside. Homes left without
/// rows stay (they register and post nothing), so copies and windows commute.
pub fn window(profiles: &[Profile], first: u32, last: u32) -> Result<Vec<Profile>, ProfileError> {
    if first == 0 || first > last {
        return Err(ProfileError::BadIntervals { first, last });
    }
    Ok(profiles
        .iter()
        .map(|p| Profile {
            home: p.home,
            feeder: p.feeder,
            rows: p
                .rows
                .iter()
                .filter(|r| r.last >= first && r.first <= last)
                .map(|r| ProfileRow {
                    first: r.first.max(first),
                    last: r.last.min(last),
                    energy: r.energy,
                })
                .collect(),
        })
        .collect())
}

impl Profile {
    /// The largest energy the profile offers in one interval, for production and consumption
    /// (the default limits L⁺ and L⁻ of the home).
    pub fn limits(&self) -> (u64, u64) {
        let mut prod = 0u64;
        let mut cons = 0u64;
        for r in &self.rows {
            if r.energy > 0 {
                prod = prod.max(r.energy as u64);
            } else {
                cons = cons.max(r.energy.unsigned_abs());
            }
        }
        (prod, cons)
    }
}

fn parse(path: &Path, text: &str) -> Result<Vec<ProfileRow>, ProfileError> {
    let err = |line: usize, reason: String| ProfileError::Parse {
        path: path.into(),
        line,
        reason,
    };
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [first, last, energy] = fields[..] else {
            return Err(err(
                i + 1,
                format!("expected 3 fields, got {}", fields.len()),
            ));
        };
        let first: u32 = first
            .parse()
            .map_err(|e| err(i + 1, format!("startTime: {e}")))?;
        let last: u32 = last
            .parse()
            .map_err(|e| err(i + 1, format!("endTime: {e}")))?;
        let kwh: f64 = energy
            .parse()
            .map_err(|e| err(i + 1, format!("energy: {e}")))?;
        if last < first || !kwh.is_finite() {
            return Err(err(
                i + 1,
                "endTime before startTime, or energy not a number".into(),
            ));
        }
        // One unit everywhere: Wh, rounded to the nearest.
        rows.push(ProfileRow {
            first,
            last,
            energy: (kwh * 1000.0).round() as i64,
        });
    }
    Ok(rows)
}

/// Reads every `prosumer_<id>.csv` in `dir`, sorted by home id.
pub fn read_profiles(dir: &Path) -> Result<Vec<Profile>, ProfileError> {
    let io = |source| ProfileError::Io {
        path: dir.into(),
        source,
    };
    let mut profiles = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(home) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("prosumer_"))
            .and_then(|n| n.strip_suffix(".csv"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Io {
            path: path.clone(),
            source,
        })?;
        profiles.push(Profile {
            home,
            feeder: home / 100,
            rows: parse(&path, &text)?,
        });
    }
    if profiles.is_empty() {
        return Err(ProfileError::Empty(dir.into()));
    }
    profiles.sort_by_key(|p| p.home);
    Ok(profiles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_in_wh_and_refuses_garbage() {
        let rows = parse(
            Path::new("p"),
            "startTime,endTime,energy\n28,28,0.1\n50,95,-10\n",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                ProfileRow {
                    first: 28,
                    last: 28,
                    energy: 100
                },
                ProfileRow {
                    first: 50,
                    last: 95,
                    energy: -10_000
                }
            ]
        );
        assert!(parse(Path::new("p"), "h\n1,2\n").is_err());
        assert!(parse(Path::new("p"), "h\n3,2,1\n").is_err());
        assert!(parse(Path::new("p"), "h\n1,2,x\n").is_err());
    }

    fn home(home: u32, rows: &[(u32, u32, i64)]) -> Profile {
        Profile {
            home,
            feeder: home / 100,
            rows: rows
                .iter()
                .map(|&(first, last, energy)| ProfileRow {
                    first,
                    last,
                    energy,
                })
                .collect(),
        }
    }

    #[test]
    fn copies_get_their_own_feeders_and_windows_clip_rows() {
        let homes = [home(101, &[(28, 28, 100)]), home(1102, &[(50, 95, -10)])];
        let copies = replicate(&homes, 3).unwrap();
        let ids: Vec<(u32, u32)> = copies.iter().map(|p| (p.home, p.feeder)).collect();
        assert_eq!(
            ids,
            [
                (101, 1),
                (1102, 11),
                (2101, 21),
                (3102, 31),
                (4101, 41),
                (5102, 51)
            ]
        );
        assert!(copies.iter().all(|p| p.rows.len() == 1));
        assert!(matches!(
            replicate(&[home(2001, &[])], 2),
            Err(ProfileError::IdTooLarge(2001))
        ));

        let windowed = window(&homes, 45, 52).unwrap();
        assert!(windowed[0].rows.is_empty());
        assert_eq!(windowed[1].rows, [home(0, &[(50, 52, -10)]).rows[0]]);
        assert!(window(&homes, 0, 3).is_err());
        assert!(window(&homes, 5, 4).is_err());
    }
}
