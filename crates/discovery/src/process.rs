//! The processes that keep registrations alive. A pid alone is not enough: once a process
//! ends, the kernel may give its pid to another, and a pid check would keep the dead
//! process's services registered. A process is its pid and its start time (in clock ticks
//! since boot, from `/proc/PID/stat`), which a reused pid does not share.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub start: u64,
}

impl Process {
    /// The process that now runs with `pid`, if any.
    pub fn of(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Some(Self {
            pid,
            start: start_time(&stat)?,
        })
    }

    /// Whether this very process still runs (not another one given its pid since).
    pub fn alive(&self) -> bool {
        Self::of(self.pid) == Some(*self)
    }
}

/// Field 22 of `/proc/PID/stat`. The second field (the command name, in parentheses) may
/// hold spaces and parentheses itself, so fields are counted from the last `)`.
fn start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, so start time (22) is the 20th word.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_pid_is_not_taken_for_the_registering_process() {
        let me = Process::of(std::process::id()).unwrap();
        assert!(me.alive());
        // Another process given the same pid later starts at another time.
        let reused = Process {
            pid: me.pid,
            start: me.start + 1,
        };
        assert!(!reused.alive());
        // A process that ended is not alive.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let ended = Process::of(child.id()).unwrap();
        child.wait().unwrap();
        assert!(!ended.alive());
        assert_eq!(Process::of(0), None);
    }

    #[test]
    fn start_time_is_read_past_odd_command_names() {
        let stat = "42 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20";
        assert_eq!(start_time(stat), Some(777));
        assert_eq!(start_time("42 (x) S 1"), None);
    }
}
