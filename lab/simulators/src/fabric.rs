//! The network between the workload clusters' nodes, and the DRBD wire that runs over it.
//!
//! The two clusters' DRBD Operator simulators never talk to each other through the Kubernetes
//! API: like real DRBD they meet on the network. The fabric is that network, shared in-process
//! by both: each side *advertises* its endpoint and the peer it was told to reach, the fabric
//! decides whether the link is up (both sides present and naming each other, no partition, port
//! not blocked), and it holds the per-volume [`Replica`] state both sides report from.
//!
//! # Determinism
//! A volume steps at most once per simulated instant, and the step uses what both sides
//! advertised at *earlier* ticks. Which side's pass runs first within a tick therefore changes
//! nothing (the clock's barrier guarantees both finished the previous tick).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;

use crate::drbd::replica::{Bandwidth, Replica, ResourceFaults, StepInput};

/// Which side of a DRBDVolume a cluster plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Where the VM and its original PVC live.
    Primary,
    /// Where the backing PVC is created.
    Dr,
}

/// What one side's operator announces for one volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    /// The cluster this side runs on.
    pub cluster: String,
    /// This side's `address:port`.
    pub endpoint: String,
    /// The peer's `address:port`, once the controller relayed it.
    pub peer_endpoint: Option<String>,
}

/// What a side offers for one step.
#[derive(Clone, Debug)]
pub struct Offer {
    /// The side making the offer.
    pub side: Side,
    /// Its advert.
    pub advert: Advert,
    /// Primary side only: the data counter of its disk now.
    pub primary_data: u64,
    /// Primary side only: device size in bytes.
    pub capacity_bytes: u64,
}

/// Settings that come from the simulator configuration.
#[derive(Clone, Copy, Debug)]
pub struct WireSettings {
    /// Resync bandwidth.
    pub bandwidth: Bandwidth,
    /// Bytes one counted write stands for.
    pub bytes_per_write: u64,
}

#[derive(Debug, Default)]
struct Volume {
    primary: Option<Advert>,
    dr: Option<Advert>,
    primary_data: u64,
    capacity_bytes: u64,
    replica: Option<Replica>,
    stepped_at: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct State {
    /// Unordered cluster pairs that cannot reach each other.
    partitions: BTreeSet<(String, String)>,
    /// TCP ports dropped by a firewall between the clusters.
    blocked_ports: BTreeSet<u16>,
    /// (resource, volume number) → wire state.
    volumes: BTreeMap<(String, i32), Volume>,
    faults: BTreeMap<String, ResourceFaults>,
}

/// A shared handle on the network; clone it into both clusters' simulators and into tests.
#[derive(Clone, Debug, Default)]
pub struct Fabric {
    inner: Arc<Mutex<State>>,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

fn port_of(endpoint: &str) -> Option<u16> {
    endpoint.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

impl Fabric {
    /// An empty, fully connected network.
    pub fn new() -> Self {
        Fabric::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Cut the network between two clusters (both directions).
    pub fn partition(&self, a: &str, b: &str) {
        self.state().partitions.insert(pair(a, b));
    }

    /// Undo [`Fabric::partition`].
    pub fn heal(&self, a: &str, b: &str) {
        self.state().partitions.remove(&pair(a, b));
    }

    /// Drop all traffic to a TCP port (a firewall without 7000–7999 open).
    pub fn block_port(&self, port: u16) {
        self.state().blocked_ports.insert(port);
    }

    /// Undo [`Fabric::block_port`].
    pub fn unblock_port(&self, port: u16) {
        self.state().blocked_ports.remove(&port);
    }

    /// Whether a packet from `from` reaches `to_endpoint` on cluster `to`.
    pub fn can_reach(&self, from: &str, to: &str, to_endpoint: &str) -> bool {
        let state = self.state();
        reachable(&state, from, to, to_endpoint)
    }

    /// Change the faults of one DRBD resource.
    pub fn update_faults(&self, resource: &str, change: impl FnOnce(&mut ResourceFaults)) {
        change(self.state().faults.entry(resource.to_owned()).or_default());
    }

    /// The faults currently set on a resource.
    pub fn faults(&self, resource: &str) -> ResourceFaults {
        self.state()
            .faults
            .get(resource)
            .copied()
            .unwrap_or_default()
    }

    /// Make the DR side of every volume of `resource` write while disconnected (the other
    /// half of a split brain). No effect while connected.
    pub fn write_on_dr(&self, resource: &str) {
        for ((res, _), volume) in self.state().volumes.iter_mut() {
            if res == resource
                && let Some(replica) = volume.replica.as_mut()
            {
                replica.write_on_dr();
            }
        }
    }

    /// The state of one volume, for assertions.
    pub fn replica(&self, resource: &str, volume: i32) -> Option<Replica> {
        self.state()
            .volumes
            .get(&(resource.to_owned(), volume))
            .and_then(|v| v.replica.clone())
    }

    /// One side's pass over one volume: step the volume to `now` (once per instant, from the
    /// adverts of earlier ticks), then record this side's offer. Returns the state to report;
    /// `None` until the primary side has come up.
    pub fn exchange(
        &self,
        resource: &str,
        volume_number: i32,
        offer: Offer,
        now: Timestamp,
        settings: WireSettings,
    ) -> Option<Replica> {
        let mut state = self.state();
        let faults = state.faults.get(resource).copied().unwrap_or_default();
        let link_up = {
            let volume = state.volumes.get(&(resource.to_owned(), volume_number));
            volume.is_some_and(|v| link_up(&state, v)) && !faults.link_down
        };
        let volume = state
            .volumes
            .entry((resource.to_owned(), volume_number))
            .or_default();
        if volume.stepped_at != Some(now) {
            let elapsed = volume.stepped_at.map_or(Duration::ZERO, |then| {
                now.duration_since(then).unsigned_abs()
            });
            if let Some(replica) = volume.replica.as_mut() {
                replica.step(StepInput {
                    elapsed,
                    link_up,
                    primary_data: volume.primary_data,
                    bytes_per_write: settings.bytes_per_write,
                    capacity_bytes: volume.capacity_bytes,
                    bandwidth: settings.bandwidth,
                    faults,
                });
            }
            volume.stepped_at = Some(now);
        }
        match offer.side {
            Side::Primary => {
                volume.primary_data = volume.primary_data.max(offer.primary_data);
                volume.capacity_bytes = offer.capacity_bytes;
                if volume.replica.is_none() {
                    volume.replica = Some(Replica::new(offer.primary_data));
                }
                volume.primary = Some(offer.advert);
            }
            Side::Dr => volume.dr = Some(offer.advert),
        }
        volume.replica.clone()
    }

    /// A side tore its volume down (or its operator stopped). The wire state goes once both
    /// sides are gone.
    pub fn withdraw(&self, resource: &str, volume_number: i32, side: Side) {
        let mut state = self.state();
        let key = (resource.to_owned(), volume_number);
        let gone = match state.volumes.get_mut(&key) {
            Some(volume) => {
                match side {
                    Side::Primary => volume.primary = None,
                    Side::Dr => volume.dr = None,
                }
                volume.primary.is_none() && volume.dr.is_none()
            }
            None => false,
        };
        if gone {
            state.volumes.remove(&key);
        }
    }

    /// Withdraw every advert of one cluster (its operator stopped).
    pub fn withdraw_cluster(&self, cluster: &str) {
        let mut state = self.state();
        for volume in state.volumes.values_mut() {
            if volume
                .primary
                .as_ref()
                .is_some_and(|a| a.cluster == cluster)
            {
                volume.primary = None;
            }
            if volume.dr.as_ref().is_some_and(|a| a.cluster == cluster) {
                volume.dr = None;
            }
        }
    }
}

fn reachable(state: &State, from: &str, to: &str, to_endpoint: &str) -> bool {
    !state.partitions.contains(&pair(from, to))
        && port_of(to_endpoint).is_none_or(|p| !state.blocked_ports.contains(&p))
}

fn link_up(state: &State, volume: &Volume) -> bool {
    let (Some(p), Some(d)) = (&volume.primary, &volume.dr) else {
        return false;
    };
    p.peer_endpoint.as_deref() == Some(d.endpoint.as_str())
        && d.peer_endpoint.as_deref() == Some(p.endpoint.as_str())
        && reachable(state, &p.cluster, &d.cluster, &d.endpoint)
        && reachable(state, &d.cluster, &p.cluster, &p.endpoint)
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::drbd::replica::{Conn, Repl};

    const SETTINGS: WireSettings = WireSettings {
        bandwidth: Bandwidth::Instant,
        bytes_per_write: 4096,
    };

    fn t(s: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_secs(s)
    }

    fn primary(peer: Option<&str>) -> Offer {
        Offer {
            side: Side::Primary,
            advert: Advert {
                cluster: "cluster1".into(),
                endpoint: "10.0.1.10:7000".into(),
                peer_endpoint: peer.map(Into::into),
            },
            primary_data: 3,
            capacity_bytes: 1 << 20,
        }
    }

    fn dr(peer: Option<&str>) -> Offer {
        Offer {
            side: Side::Dr,
            advert: Advert {
                cluster: "cluster2".into(),
                endpoint: "10.0.2.10:7000".into(),
                peer_endpoint: peer.map(Into::into),
            },
            primary_data: 0,
            capacity_bytes: 0,
        }
    }

    fn both(f: &Fabric, at: i64, peers: bool) -> Option<Replica> {
        let (pp, dp) = if peers {
            (Some("10.0.2.10:7000"), Some("10.0.1.10:7000"))
        } else {
            (None, None)
        };
        f.exchange("r", 0, primary(pp), t(at), SETTINGS);
        f.exchange("r", 0, dr(dp), t(at), SETTINGS)
    }

    #[test]
    fn the_link_comes_up_only_once_both_sides_name_each_other() {
        let f = Fabric::new();
        both(&f, 0, false);
        let r = both(&f, 1, false).unwrap();
        assert_eq!(r.conn, Conn::Connecting);
        both(&f, 2, true);
        let r = both(&f, 3, true).unwrap();
        assert_eq!(
            (r.conn, r.repl, r.dr_data),
            (Conn::Connected, Repl::Established, 3)
        );
    }

    #[test]
    fn the_order_of_the_two_sides_within_a_tick_does_not_matter() {
        let a = Fabric::new();
        let b = Fabric::new();
        for at in 0..4 {
            a.exchange("r", 0, primary(Some("10.0.2.10:7000")), t(at), SETTINGS);
            let ra = a.exchange("r", 0, dr(Some("10.0.1.10:7000")), t(at), SETTINGS);
            b.exchange("r", 0, dr(Some("10.0.1.10:7000")), t(at), SETTINGS);
            let rb = b.exchange("r", 0, primary(Some("10.0.2.10:7000")), t(at), SETTINGS);
            assert_eq!(ra, rb, "t={at}");
        }
    }

    #[test]
    fn a_partition_or_a_blocked_port_takes_the_link_down() {
        let f = Fabric::new();
        for at in 0..3 {
            both(&f, at, true);
        }
        f.partition("cluster2", "cluster1");
        both(&f, 3, true);
        assert_eq!(both(&f, 4, true).unwrap().conn, Conn::Connecting);
        f.heal("cluster1", "cluster2");
        both(&f, 5, true);
        assert_eq!(both(&f, 6, true).unwrap().conn, Conn::Connected);
        f.block_port(7000);
        assert!(!f.can_reach("cluster1", "cluster2", "10.0.2.10:7000"));
        both(&f, 7, true);
        assert_eq!(both(&f, 8, true).unwrap().conn, Conn::Connecting);
    }

    #[test]
    fn the_wire_state_goes_once_both_sides_withdrew() {
        let f = Fabric::new();
        both(&f, 0, true);
        f.withdraw("r", 0, Side::Primary);
        assert!(f.replica("r", 0).is_some());
        f.withdraw("r", 0, Side::Dr);
        assert!(f.replica("r", 0).is_none());
    }
}
