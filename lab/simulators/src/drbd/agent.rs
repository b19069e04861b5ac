//! The DRBD node agent's start-up taint: `siterecovery.trilio.io/not-ready:NoSchedule` on every
//! node until all the node's DRBD resources are Connected, or 120 s after the agent started.

use std::time::Duration;

/// How long the agent waits for its resources before it removes the taint anyway.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// What the agent knows about one node this pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Simulated time since the agent (re)started.
    pub since_start: Duration,
    /// Every DRBD resource on the node is Connected (true when it has none).
    pub all_connected: bool,
    /// The agent already removed the taint since it started.
    pub cleared: bool,
    /// Fault: this node's agent never finishes its start-up.
    pub never_ready: bool,
}

/// Whether the node should carry the not-ready taint.
pub fn should_taint(n: NodeFacts) -> bool {
    if n.never_ready {
        return true;
    }
    if n.cleared {
        return false;
    }
    !(n.all_connected || n.since_start >= READY_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_taint_stays_until_connected_or_the_timeout_and_never_returns_by_itself() {
        let s = Duration::from_secs;
        let facts = |since: u64, all_connected, cleared, never_ready| NodeFacts {
            since_start: s(since),
            all_connected,
            cleared,
            never_ready,
        };
        let table = [
            (
                "just started, resources connecting",
                facts(0, false, false, false),
                true,
            ),
            (
                "119 s, still connecting",
                facts(119, false, false, false),
                true,
            ),
            ("all connected", facts(5, true, false, false), false),
            ("timeout reached", facts(120, false, false, false), false),
            (
                "cleared earlier, link lost since",
                facts(10, false, true, false),
                false,
            ),
            (
                "never ready, even past the timeout",
                facts(500, true, false, true),
                true,
            ),
        ];
        for (case, n, expected) in table {
            assert_eq!(should_taint(n), expected, "{case}");
        }
    }
}
