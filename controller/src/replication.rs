//! Reading DRBD's words on a volume's side copies: whether RPO 0 holds, and if not, why, in the
//! words a user acts on (DESIGN 3.3, DRBD.md §1-2).

use protect_api::{ConnectionState, DRBDVolumeStatus, DiskState, ReplicationState};

/// The replication health of one volume, as its primary side copy reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Health {
    /// Connected, Established, peer UpToDate, no split brain: RPO 0 (with Protocol C).
    Replicating,
    /// The DRBD Operator has not reported on the primary side copy yet.
    NoStatus,
    /// DRBD detected split brain. Never resolved by the controller.
    SplitBrain,
    /// StandAlone: no retry; an admin disconnect, an auth failure or split brain.
    StandAlone,
    /// Not connected (Connecting, Unconnected, NetworkFailure, …) or not configured yet.
    Disconnected {
        /// The connection state reported, if any.
        state: Option<ConnectionState>,
    },
    /// Ahead/Behind: congestion; writes go to the bitmap only, RPO unbounded.
    Congested {
        /// Ahead or Behind.
        state: ReplicationState,
    },
    /// A resync (initial or catch-up) is running or paused; the DR copy is not usable yet.
    Resyncing {
        /// The replication state reported.
        state: Option<ReplicationState>,
    },
    /// Connected and Established, but the peer's disk is not UpToDate (Outdated, Diskless, …).
    PeerNotUpToDate {
        /// The peer disk state reported.
        peer_disk: Option<DiskState>,
    },
}

impl Health {
    /// Health of a volume from its primary side copy's status.
    pub fn of(primary: Option<&DRBDVolumeStatus>) -> Self {
        let Some(s) = primary else {
            return Health::NoStatus;
        };
        if s.split_brain == Some(true) {
            return Health::SplitBrain;
        }
        if s.replicating() {
            return Health::Replicating;
        }
        match &s.connection_state {
            Some(ConnectionState::StandAlone) => return Health::StandAlone,
            Some(ConnectionState::Connected) => {}
            other => {
                if s.connection_state.is_none() && s.disk_state.is_none() {
                    return Health::NoStatus;
                }
                return Health::Disconnected {
                    state: other.clone(),
                };
            }
        }
        match &s.replication_state {
            Some(state @ (ReplicationState::Ahead | ReplicationState::Behind)) => {
                Health::Congested {
                    state: state.clone(),
                }
            }
            Some(ReplicationState::Established) => Health::PeerNotUpToDate {
                peer_disk: s.peer_disk_state.clone(),
            },
            other => Health::Resyncing {
                state: other.clone(),
            },
        }
    }

    /// True for RPO 0.
    pub fn is_replicating(&self) -> bool {
        matches!(self, Health::Replicating)
    }

    /// The CamelCase reason for the `Replicating` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Health::Replicating => "PeerUpToDate",
            Health::NoStatus => "NoDRBDStatus",
            Health::SplitBrain => "SplitBrain",
            Health::StandAlone => "StandAlone",
            Health::Disconnected { .. } => "PeerDisconnected",
            Health::Congested { .. } => "Congested",
            Health::Resyncing { .. } => "Resyncing",
            Health::PeerNotUpToDate { .. } => "PeerNotUpToDate",
        }
    }

    /// One clause about volume `pvc` (DRBD resource `resource`, TCP `port`), naming what DRBD
    /// reports and what it means for the DR copy.
    pub fn describe(&self, pvc: &str, resource: &str, port: Option<i32>) -> String {
        let ports = ports_phrase(port);
        match self {
            Health::Replicating => format!(
                "PVC {pvc:?} is replicating synchronously (Connected, Established, peer UpToDate)"
            ),
            Health::NoStatus => format!(
                "the DRBD Operator on the primary cluster has not reported status for PVC {pvc:?} yet; check that the DRBD Operator is running"
            ),
            Health::SplitBrain => format!(
                "DRBD reports split brain on resource {resource:?} (PVC {pvc:?}): both sides wrote while disconnected. The controller never resolves split brain, because discarding either side's writes loses data; choose the victim and run `drbdadm connect --discard-my-data` there"
            ),
            Health::StandAlone => format!(
                "PVC {pvc:?} is StandAlone on resource {resource:?}: DRBD will not reconnect by itself (admin disconnect, authentication failure or split brain); check `drbdadm status` on the primary node"
            ),
            Health::Disconnected { state } => format!(
                "the primary side of PVC {pvc:?} is {} and cannot reach its DR peer: DRBD nodes on the primary and DR clusters must reach each other on {ports}; writes since the link was lost are not on the DR cluster",
                state.as_ref().map_or("not connected", |s| s.as_str())
            ),
            Health::Congested { state } => format!(
                "PVC {pvc:?} is {state}: the link to the DR cluster is congested and writes are not replicated synchronously (RPO is not zero until it catches up)"
            ),
            Health::Resyncing { state } => format!(
                "PVC {pvc:?} is resynchronizing ({}); the DR copy is not usable until it completes",
                state
                    .as_ref()
                    .map_or("no replication state", |s| s.as_str())
            ),
            Health::PeerNotUpToDate { peer_disk } => format!(
                "the DR disk of PVC {pvc:?} is {}, not UpToDate",
                peer_disk.as_ref().map_or("unknown", |s| s.as_str())
            ),
        }
    }
}

/// "TCP port 7003 (the DRBD range 7000–7999)", or the range alone.
pub fn ports_phrase(port: Option<i32>) -> String {
    match port {
        Some(p) => format!("TCP port {p} (DRBD ports 7000–7999)"),
        None => "DRBD ports 7000–7999".to_owned(),
    }
}

/// True when both sides agree the initial sync is complete: the primary side is replicating
/// and the DR side reports its own disk UpToDate, Established, with its peer UpToDate.
pub fn synced_on_both_sides(
    primary: Option<&DRBDVolumeStatus>,
    dr: Option<&DRBDVolumeStatus>,
) -> bool {
    Health::of(primary).is_replicating()
        && dr.is_some_and(|d| {
            d.disk_state == Some(DiskState::UpToDate)
                && d.connection_state == Some(ConnectionState::Connected)
                && d.replication_state == Some(ReplicationState::Established)
                && d.split_brain != Some(true)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(conn: &str, disk: &str, peer: &str, repl: &str) -> DRBDVolumeStatus {
        DRBDVolumeStatus {
            connection_state: Some(conn.into()),
            disk_state: Some(disk.into()),
            peer_disk_state: Some(peer.into()),
            replication_state: Some(repl.into()),
            ..Default::default()
        }
    }

    #[test]
    fn health_table() {
        let split = DRBDVolumeStatus {
            split_brain: Some(true),
            ..status("StandAlone", "UpToDate", "DUnknown", "Off")
        };
        let cases: Vec<(&str, Option<DRBDVolumeStatus>, &str)> = vec![
            ("no status", None, "NoDRBDStatus"),
            (
                "empty status",
                Some(DRBDVolumeStatus::default()),
                "NoDRBDStatus",
            ),
            (
                "healthy",
                Some(status("Connected", "UpToDate", "UpToDate", "Established")),
                "PeerUpToDate",
            ),
            (
                "split brain wins over everything",
                Some(split),
                "SplitBrain",
            ),
            (
                "standalone",
                Some(status("StandAlone", "UpToDate", "DUnknown", "Off")),
                "StandAlone",
            ),
            (
                "connecting",
                Some(status("Connecting", "UpToDate", "DUnknown", "Off")),
                "PeerDisconnected",
            ),
            (
                "ahead",
                Some(status("Connected", "UpToDate", "Outdated", "Ahead")),
                "Congested",
            ),
            (
                "syncing",
                Some(status(
                    "Connected",
                    "UpToDate",
                    "Inconsistent",
                    "SyncSource",
                )),
                "Resyncing",
            ),
            (
                "paused",
                Some(status(
                    "Connected",
                    "UpToDate",
                    "Inconsistent",
                    "PausedSyncS",
                )),
                "Resyncing",
            ),
            (
                "peer outdated",
                Some(status("Connected", "UpToDate", "Outdated", "Established")),
                "PeerNotUpToDate",
            ),
        ];
        for (name, s, reason) in cases {
            assert_eq!(Health::of(s.as_ref()).reason(), reason, "{name}");
        }
    }

    #[test]
    fn a_disconnected_volume_names_the_drbd_ports() {
        let h = Health::of(Some(&status("Connecting", "UpToDate", "DUnknown", "Off")));
        assert_eq!(
            h.describe("web-server-data", "r", Some(7000)),
            "the primary side of PVC \"web-server-data\" is Connecting and cannot reach its DR peer: DRBD nodes on the primary and DR clusters must reach each other on TCP port 7000 (DRBD ports 7000–7999); writes since the link was lost are not on the DR cluster"
        );
    }

    #[test]
    fn the_dr_side_must_agree_before_the_sync_counts_as_done() {
        let healthy = status("Connected", "UpToDate", "UpToDate", "Established");
        assert!(synced_on_both_sides(Some(&healthy), Some(&healthy)));
        assert!(!synced_on_both_sides(Some(&healthy), None));
        let dr_stale = status("Connecting", "UpToDate", "DUnknown", "Off");
        assert!(!synced_on_both_sides(Some(&healthy), Some(&dr_stale)));
        let dr_target = status("Connected", "Inconsistent", "UpToDate", "SyncTarget");
        assert!(!synced_on_both_sides(Some(&healthy), Some(&dr_target)));
    }
}
