//! DRBD port allocation: the lowest free port of a policy's range, deterministically.

use std::collections::BTreeSet;

use crate::replication_policy::PortRange;

/// Why no port could be allocated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortAllocationError {
    /// The range is empty, inverted or outside 1-65535.
    #[error(
        "portRange {start}-{end} of DRBDReplicationPolicy {policy:?} is not a usable port range (start must be at most end, both within 1-65535); fix spec.portRange, e.g. 7000-7999"
    )]
    InvalidRange {
        /// Policy name.
        policy: String,
        /// Range start.
        start: i32,
        /// Range end.
        end: i32,
    },
    /// Every port of the range is in use.
    #[error(
        "portRange {start}-{end} of DRBDReplicationPolicy {policy:?} is exhausted: {} in use by protected VMs; widen spec.portRange or unprotect a VM",
        in_use_phrase(*.size)
    )]
    Exhausted {
        /// Policy name.
        policy: String,
        /// Range start.
        start: i32,
        /// Range end.
        end: i32,
        /// Number of ports in the range (all in use).
        size: u32,
    },
}

fn in_use_phrase(size: u32) -> String {
    match size {
        1 => "its only port is".to_owned(),
        n => format!("all {n} of its ports are"),
    }
}

/// The lowest port of `range` not in `in_use`. Ports in `in_use` outside the range are ignored.
///
/// One port serves one DRBD resource (one VM); `in_use` holds the ports of every DRBDVolume
/// already allocated under the same policy.
///
/// # Errors
/// [`PortAllocationError::InvalidRange`] for an empty, inverted or out-of-bounds range, and
/// [`PortAllocationError::Exhausted`] when every port of the range is taken.
pub fn allocate_port(
    policy: &str,
    range: PortRange,
    in_use: &BTreeSet<i32>,
) -> Result<i32, PortAllocationError> {
    let PortRange { start, end } = range;
    if start < 1 || end > 65535 || start > end {
        return Err(PortAllocationError::InvalidRange {
            policy: policy.to_owned(),
            start,
            end,
        });
    }
    (start..=end)
        .find(|port| !in_use.contains(port))
        .ok_or_else(|| PortAllocationError::Exhausted {
            policy: policy.to_owned(),
            start,
            end,
            size: start.abs_diff(end) + 1,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: i32, end: i32) -> PortRange {
        PortRange { start, end }
    }

    #[test]
    fn allocation_table() {
        type Case = (
            &'static str,
            PortRange,
            &'static [i32],
            Result<i32, &'static str>,
        );
        let cases: &[Case] = &[
            (
                "empty set takes the first port",
                range(7000, 7999),
                &[],
                Ok(7000),
            ),
            (
                "skips used ports",
                range(7000, 7999),
                &[7000, 7001],
                Ok(7002),
            ),
            (
                "fills a hole first",
                range(7000, 7999),
                &[7000, 7002],
                Ok(7001),
            ),
            (
                "ignores ports outside the range",
                range(7000, 7001),
                &[80, 9000],
                Ok(7000),
            ),
            ("single-port range", range(7000, 7000), &[], Ok(7000)),
            (
                "last port of the range",
                range(7000, 7002),
                &[7000, 7001],
                Ok(7002),
            ),
            (
                "exhausted single-port range",
                range(7000, 7000),
                &[7000],
                Err(
                    r#"portRange 7000-7000 of DRBDReplicationPolicy "dr-policy" is exhausted: its only port is in use by protected VMs; widen spec.portRange or unprotect a VM"#,
                ),
            ),
            (
                "exhausted range",
                range(7000, 7002),
                &[7000, 7001, 7002, 7003],
                Err(
                    r#"portRange 7000-7002 of DRBDReplicationPolicy "dr-policy" is exhausted: all 3 of its ports are in use by protected VMs; widen spec.portRange or unprotect a VM"#,
                ),
            ),
            (
                "inverted range",
                range(7999, 7000),
                &[],
                Err(
                    r#"portRange 7999-7000 of DRBDReplicationPolicy "dr-policy" is not a usable port range (start must be at most end, both within 1-65535); fix spec.portRange, e.g. 7000-7999"#,
                ),
            ),
            (
                "out of bounds range",
                range(0, 70000),
                &[],
                Err(
                    r#"portRange 0-70000 of DRBDReplicationPolicy "dr-policy" is not a usable port range (start must be at most end, both within 1-65535); fix spec.portRange, e.g. 7000-7999"#,
                ),
            ),
        ];
        for (name, range, used, expected) in cases {
            let used: BTreeSet<i32> = used.iter().copied().collect();
            let got = allocate_port("dr-policy", *range, &used).map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_owned), "{name}");
        }
    }

    #[test]
    fn empty_range_and_exhaustion_are_distinct_errors() {
        assert!(matches!(
            allocate_port("p", range(2, 1), &BTreeSet::new()),
            Err(PortAllocationError::InvalidRange { .. })
        ));
        assert!(matches!(
            allocate_port("p", range(1, 1), &BTreeSet::from([1])),
            Err(PortAllocationError::Exhausted { size: 1, .. })
        ));
    }

    #[test]
    fn allocation_is_deterministic_and_fills_the_whole_default_range() {
        let mut used = BTreeSet::new();
        for expected in 7000..=7999 {
            let port = allocate_port("p", PortRange::default(), &used).unwrap();
            assert_eq!(port, expected);
            used.insert(port);
        }
        assert!(matches!(
            allocate_port("p", PortRange::default(), &used),
            Err(PortAllocationError::Exhausted { size: 1000, .. })
        ));
    }
}
