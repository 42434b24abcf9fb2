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
}
