//! A DRBDVolume side copy as the DRBD Operator reads it, and the status it writes back: pure
//! projections of the shared [`Replica`] state onto one side (DESIGN 3.3, DRBD.md §1).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::replica::{Conn, Disk, Repl, Replica};
use crate::fabric::Side;

/// `spec.primary` of a DRBDVolume.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrimarySpec {
    /// Primary cluster identifier.
    pub cluster: String,
    /// Namespace of the VM's PVC.
    pub pvc_namespace: String,
    /// Name of the VM's PVC.
    pub pvc_name: String,
    /// Storage class of the VM's PVC.
    pub storage_class: String,
    /// Size of the VM's PVC (int or string).
    pub capacity: Value,
}

/// `spec.dr` of a DRBDVolume.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DrSpec {
    /// DR cluster identifier.
    pub cluster: String,
    /// Namespace of the backing PVC.
    pub pvc_namespace: String,
    /// Name of the backing PVC.
    pub pvc_name: String,
    /// Mapped storage class.
    pub storage_class: String,
}

/// `spec` of a DRBDVolume: the fields the operator acts on.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DrbdVolumeSpec {
    /// DRBD resource name (shared by a VM's volumes).
    pub resource: String,
    /// Volume number inside the resource.
    pub volume_number: i32,
    /// TCP port of the resource's connection.
    pub port: u16,
    /// Replication protocol (only C).
    #[serde(default)]
    pub protocol: Option<String>,
    /// The primary side.
    pub primary: PrimarySpec,
    /// The DR side.
    pub dr: DrSpec,
    /// The other side's `address:port`, relayed by the controller.
    #[serde(default)]
    pub peer_endpoint: Option<String>,
}

impl DrbdVolumeSpec {
    /// Which side `cluster` plays for this volume, if any.
    pub fn side_of(&self, cluster: &str) -> Option<Side> {
        if self.primary.cluster == cluster {
            Some(Side::Primary)
        } else if self.dr.cluster == cluster {
            Some(Side::Dr)
        } else {
            None
        }
    }
}

/// Name of the frontend PVC the operator creates beside the VM's PVC on the primary side.
pub fn frontend_pvc_name(pvc_name: &str) -> String {
    format!("{pvc_name}-drbd")
}

/// What this side knows besides the replica.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalFacts<'a> {
    /// This side's `address:port`, once its disk is attached (local PVC Bound).
    pub endpoint: Option<&'a str>,
    /// The controller has relayed the peer's endpoint.
    pub peer_configured: bool,
    /// Primary side: the frontend PVC, once Bound.
    pub frontend_pvc: Option<&'a str>,
}

/// The `status` this side reports. Fields that do not apply are `null`, so a merge patch
/// clears them.
pub fn side_status(
    side: Side,
    replica: Option<&Replica>,
    local: LocalFacts<'_>,
) -> Map<String, Value> {
    let mut s = Map::new();
    let attached = local.endpoint.is_some();
    s.insert("endpoint".into(), json!(local.endpoint));
    s.insert(
        "role".into(),
        json!(match side {
            Side::Primary => "Primary",
            Side::Dr => "Secondary",
        }),
    );
    let own_disk = match (side, attached) {
        (_, false) => "Diskless",
        (Side::Primary, true) => "UpToDate",
        // A brand-new DR disk is Inconsistent until the first sync completes.
        (Side::Dr, true) => replica.map_or("Inconsistent", |r| r.dr_disk.as_str()),
    };
    s.insert("diskState".into(), json!(own_disk));
    let conn = if !local.peer_configured || !attached {
        // No connection configured yet: DRBD has nothing to report for a peer.
        None
    } else {
        Some(replica.map_or(Conn::Connecting, |r| r.conn))
    };
    let connected = conn == Some(Conn::Connected);
    s.insert("connectionState".into(), json!(conn.map(Conn::as_str)));
    let peer_disk = match (conn, side) {
        (None, _) => None,
        (Some(_), _) if !connected => Some("DUnknown"),
        (Some(_), Side::Primary) => replica.map(|r| r.dr_disk.as_str()),
        (Some(_), Side::Dr) => Some(Disk::UpToDate.as_str()),
    };
    s.insert("peerDiskState".into(), json!(peer_disk));
    let repl = conn.map(|_| match (replica.map(|r| r.repl), connected, side) {
        (_, false, _) | (None, _, _) => "Off",
        (Some(Repl::Off), _, _) => "Off",
        (Some(Repl::Established), _, _) => "Established",
        (Some(Repl::SyncSource), _, Side::Primary) => "SyncSource",
        (Some(Repl::SyncSource), _, Side::Dr) => "SyncTarget",
        (Some(Repl::Ahead), _, Side::Primary) => "Ahead",
        (Some(Repl::Ahead), _, Side::Dr) => "Behind",
    });
    s.insert("replicationState".into(), json!(repl));
    let (oos, percent, rate, split) = match replica {
        Some(r) if attached => (
            Some(r.out_of_sync_bytes),
            Some(r.sync_percent()),
            Some(r.sync_rate_bytes_per_sec),
            r.split_brain,
        ),
        _ => (None, None, None, false),
    };
    s.insert("outOfSyncBytes".into(), json!(oos));
    s.insert("syncPercent".into(), json!(percent));
    s.insert("syncRateBytesPerSec".into(), json!(rate));
    s.insert("splitBrain".into(), json!(split));
    if side == Side::Primary {
        s.insert("frontendPVC".into(), json!(local.frontend_pvc));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drbd::replica::{Bandwidth, ResourceFaults, StepInput};
    use std::time::Duration;

    const MIB: u64 = 1 << 20;

    fn step(r: &mut Replica, link_up: bool, data: u64, bandwidth: Bandwidth) {
        r.step(StepInput {
            elapsed: Duration::from_secs(1),
            link_up,
            primary_data: data,
            bytes_per_write: MIB,
            capacity_bytes: 200 * MIB,
            bandwidth,
            faults: ResourceFaults::default(),
        });
    }

    fn words(s: &Map<String, Value>) -> [Option<&str>; 4] {
        [
            "connectionState",
            "diskState",
            "peerDiskState",
            "replicationState",
        ]
        .map(|k| s[k].as_str())
    }

    const LOCAL: LocalFacts<'static> = LocalFacts {
        endpoint: Some("10.0.1.10:7000"),
        peer_configured: true,
        frontend_pvc: None,
    };

    #[test]
    fn the_spec_of_a_side_copy_is_read_with_the_crd_field_names() {
        let spec: DrbdVolumeSpec = serde_json::from_value(json!({
            "resource": "production-web-server-0123456789", "volumeNumber": 1, "port": 7000,
            "protocol": "C",
            "primary": {"cluster": "cluster1", "pvcNamespace": "production", "pvcName": "web-server-data",
                        "storageClass": "ceph-rbd", "capacity": "100Gi"},
            "dr": {"cluster": "cluster2", "pvcNamespace": "production", "pvcName": "web-server-data",
                   "storageClass": "ceph-rbd-dr"},
            "peerEndpoint": "10.0.2.10:7000"
        }))
        .unwrap();
        assert_eq!(spec.side_of("cluster1"), Some(Side::Primary));
        assert_eq!(spec.side_of("cluster2"), Some(Side::Dr));
        assert_eq!(spec.side_of("quorum"), None);
        assert_eq!(
            frontend_pvc_name(&spec.primary.pvc_name),
            "web-server-data-drbd"
        );
    }

    #[test]
    fn each_side_reports_the_drbd_words_of_its_own_view_through_an_initial_sync() {
        let mut r = Replica::new(0);
        let rate = Bandwidth::BytesPerSec(100 * MIB);
        // (link up?, primary words, DR words)
        type Row = (bool, [Option<&'static str>; 4], [Option<&'static str>; 4]);
        let table: [Row; 3] = [
            (
                false,
                [
                    Some("Connecting"),
                    Some("UpToDate"),
                    Some("DUnknown"),
                    Some("Off"),
                ],
                [
                    Some("Connecting"),
                    Some("Inconsistent"),
                    Some("DUnknown"),
                    Some("Off"),
                ],
            ),
            (
                true,
                [
                    Some("Connected"),
                    Some("UpToDate"),
                    Some("Inconsistent"),
                    Some("SyncSource"),
                ],
                [
                    Some("Connected"),
                    Some("Inconsistent"),
                    Some("UpToDate"),
                    Some("SyncTarget"),
                ],
            ),
            (
                true,
                [
                    Some("Connected"),
                    Some("UpToDate"),
                    Some("UpToDate"),
                    Some("Established"),
                ],
                [
                    Some("Connected"),
                    Some("UpToDate"),
                    Some("UpToDate"),
                    Some("Established"),
                ],
            ),
        ];
        for (i, (link_up, primary, dr)) in table.into_iter().enumerate() {
            step(&mut r, link_up, 0, rate);
            assert_eq!(
                words(&side_status(Side::Primary, Some(&r), LOCAL)),
                primary,
                "row {i}"
            );
            assert_eq!(
                words(&side_status(Side::Dr, Some(&r), LOCAL)),
                dr,
                "row {i}"
            );
        }
        let s = side_status(Side::Primary, Some(&r), LOCAL);
        assert_eq!(
            (s["role"].as_str(), s["syncPercent"].as_f64()),
            (Some("Primary"), Some(100.0))
        );
        assert_eq!(side_status(Side::Dr, Some(&r), LOCAL)["role"], "Secondary");
    }

    #[test]
    fn a_disconnected_dr_side_still_reports_its_disk_up_to_date() {
        let mut r = Replica::new(0);
        step(&mut r, true, 0, Bandwidth::Instant);
        step(&mut r, false, 3, Bandwidth::Instant);
        let dr = side_status(Side::Dr, Some(&r), LOCAL);
        assert_eq!(
            words(&dr),
            [
                Some("Connecting"),
                Some("UpToDate"),
                Some("DUnknown"),
                Some("Off")
            ]
        );
        let primary = side_status(Side::Primary, Some(&r), LOCAL);
        assert_eq!(primary["outOfSyncBytes"], 3 * MIB);
    }

    #[test]
    fn congestion_shows_ahead_on_the_primary_and_behind_on_the_dr_side() {
        let mut r = Replica::new(0);
        step(&mut r, true, 0, Bandwidth::Instant);
        r.step(StepInput {
            elapsed: Duration::from_secs(1),
            link_up: true,
            primary_data: 1,
            bytes_per_write: MIB,
            capacity_bytes: 200 * MIB,
            bandwidth: Bandwidth::Instant,
            faults: ResourceFaults {
                congested: true,
                ..Default::default()
            },
        });
        assert_eq!(
            side_status(Side::Primary, Some(&r), LOCAL)["replicationState"],
            "Ahead"
        );
        assert_eq!(
            side_status(Side::Primary, Some(&r), LOCAL)["peerDiskState"],
            "Outdated"
        );
        assert_eq!(
            side_status(Side::Dr, Some(&r), LOCAL)["replicationState"],
            "Behind"
        );
    }

    #[test]
    fn split_brain_is_standalone_on_both_sides_and_flagged() {
        let mut r = Replica::new(0);
        step(&mut r, true, 0, Bandwidth::Instant);
        step(&mut r, false, 1, Bandwidth::Instant);
        r.write_on_dr();
        step(&mut r, true, 1, Bandwidth::Instant);
        for side in [Side::Primary, Side::Dr] {
            let s = side_status(side, Some(&r), LOCAL);
            assert_eq!(
                (s["connectionState"].as_str(), s["splitBrain"].as_bool()),
                (Some("StandAlone"), Some(true))
            );
        }
    }

    #[test]
    fn before_the_peer_is_known_no_connection_is_reported_and_without_a_disk_no_endpoint() {
        let r = Replica::new(0);
        let s = side_status(
            Side::Primary,
            Some(&r),
            LocalFacts {
                peer_configured: false,
                ..LOCAL
            },
        );
        assert_eq!(words(&s), [None, Some("UpToDate"), None, None]);
        assert_eq!(s["endpoint"], "10.0.1.10:7000");
        let s = side_status(Side::Dr, None, LocalFacts::default());
        assert_eq!(
            (s["endpoint"].clone(), s["diskState"].as_str()),
            (Value::Null, Some("Diskless"))
        );
    }

    #[test]
    fn the_frontend_pvc_is_reported_on_the_primary_side_only() {
        let local = LocalFacts {
            frontend_pvc: Some("web-server-data-drbd"),
            ..LOCAL
        };
        assert_eq!(
            side_status(Side::Primary, None, local)["frontendPVC"],
            "web-server-data-drbd"
        );
        assert!(!side_status(Side::Dr, None, local).contains_key("frontendPVC"));
    }
}
