//! Sequence numbers that rise across restarts, whatever the clock says: the host's records
//! and beacons are numbered from one counter kept in a file. The file holds a lease (the
//! highest number that may have been handed out); it is written once per [`LEASE`] numbers,
//! and a restart continues above it.

use std::{io::Write, path::PathBuf};

/// Numbers handed out between two writes of the file.
pub const LEASE: u64 = 1 << 16;

pub struct SeqStore {
    path: PathBuf,
    /// The last number handed out.
    last: u64,
    /// The file's number: nothing above it has been handed out.
    leased: u64,
}

impl SeqStore {
    /// The counter kept in `path` (a missing file starts it at zero).
    pub fn open(path: PathBuf) -> std::io::Result<Self> {
        let leased = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a sequence number: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            last: leased,
            leased,
        })
    }

    /// The next number: above every number this file's counter handed out before.
    pub fn take(&mut self) -> std::io::Result<u64> {
        if self.last >= self.leased {
            let lease = self.last.saturating_add(LEASE);
            self.persist(lease)?;
            self.leased = lease;
        }
        self.last += 1;
        Ok(self.last)
    }

    /// Writes `lease` durably: to a temporary file, synced, then renamed over the old one.
    fn persist(&self, lease: u64) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{lease}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_rising_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seq");
        let mut store = SeqStore::open(path.clone()).unwrap();
        let first: Vec<u64> = (0..10).map(|_| store.take().unwrap()).collect();
        assert!(first.windows(2).all(|w| w[0] < w[1]));
        drop(store);
        // A restart (a crash: nothing is written on the way out) continues above them.
        let mut again = SeqStore::open(path.clone()).unwrap();
        let next = again.take().unwrap();
        assert!(next > *first.last().unwrap());
        // A whole lease used up, then a restart.
        for _ in 0..LEASE + 5 {
            again.take().unwrap();
        }
        let high = again.take().unwrap();
        drop(again);
        assert!(SeqStore::open(path.clone()).unwrap().take().unwrap() > high);
        std::fs::write(&path, "garbage").unwrap();
        assert!(SeqStore::open(path).is_err());
    }
}
