//! The DRBD state machine of one replicated volume (one peer device pair): connection,
//! replication and disk states, resync progress and what each side's disk holds. Pure: a step
//! takes what the network and both nodes offer during an interval and moves the state on, as
//! `DRBD.md` describes (initial full sync, resync after reconnect, Ahead/Behind, split brain).

use std::time::Duration;

/// Resync bandwidth: DRBD's `c-max-rate` default is 102400 KiB/s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bandwidth {
    /// The whole resync finishes within the step in which it starts.
    Instant,
    /// At most this many bytes per simulated second.
    BytesPerSec(u64),
}

impl Default for Bandwidth {
    fn default() -> Self {
        Bandwidth::BytesPerSec(DEFAULT_C_MAX_RATE)
    }
}

/// DRBD's default `c-max-rate`, 100 MiB/s (`drbd_limits.h`).
pub const DEFAULT_C_MAX_RATE: u64 = 100 * 1024 * 1024;

/// Connection state of the resource as both sides report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// The link is down (or the peer not yet there); DRBD keeps retrying.
    Connecting,
    /// Normal.
    Connected,
    /// No retry: admin disconnect or split brain. Needs a human.
    StandAlone,
}

impl Conn {
    /// The word DRBD prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Conn::Connecting => "Connecting",
            Conn::Connected => "Connected",
            Conn::StandAlone => "StandAlone",
        }
    }
}

/// Replication state of the primary side (the DR side shows the mirror word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repl {
    /// Not connected.
    Off,
    /// Resync running from primary to DR (DR side: SyncTarget).
    SyncSource,
    /// Normal.
    Established,
    /// Congestion: writes go to the bitmap only (DR side: Behind).
    Ahead,
}

/// Disk state of the DR side's disk (the primary side's disk holds the data: always UpToDate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disk {
    /// New, or a resync target.
    Inconsistent,
    /// Normal (and what a disconnected DR disk keeps claiming, stale or not).
    UpToDate,
    /// Known stale: while Behind.
    Outdated,
}

impl Disk {
    /// The word DRBD prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Disk::Inconsistent => "Inconsistent",
            Disk::UpToDate => "UpToDate",
            Disk::Outdated => "Outdated",
        }
    }
}

/// Faults a test can switch on per DRBD resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceFaults {
    /// Resync makes no progress although connected (rate 0).
    pub stall_sync: bool,
    /// Admin `drbdadm disconnect`: StandAlone, no retry, until cleared.
    pub standalone: bool,
    /// `on-congestion pull-ahead` kicked in: Ahead/Behind while set.
    pub congested: bool,
    /// A slow peer or link: resync at most this many bytes per second.
    pub slow_peer_bytes_per_sec: Option<u64>,
    /// This resource's connection is broken (a network failure on its path only): the sides
    /// fall back to Connecting and retry.
    pub link_down: bool,
}

/// What happened during one step, as seen from outside the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepInput {
    /// Simulated time covered by this step.
    pub elapsed: Duration,
    /// Both sides are up, name each other, and the network carries their packets.
    pub link_up: bool,
    /// The primary disk's data counter now (writes the VM has made, counted by the lab).
    pub primary_data: u64,
    /// Bytes one counted write represents, for out-of-sync accounting.
    pub bytes_per_write: u64,
    /// Device size in bytes: the initial full sync copies all of it.
    pub capacity_bytes: u64,
    /// Resync bandwidth.
    pub bandwidth: Bandwidth,
    /// Faults switched on for this resource.
    pub faults: ResourceFaults,
}

/// The state of one replicated volume, shared by both sides' operators through the fabric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    /// Connection state.
    pub conn: Conn,
    /// Replication state as the primary side sees it.
    pub repl: Repl,
    /// The DR side's disk state.
    pub dr_disk: Disk,
    /// Bytes the DR disk lacks.
    pub out_of_sync_bytes: u64,
    /// Size of the current resync, for the percentage.
    pub sync_total_bytes: u64,
    /// Resync rate during the last step.
    pub sync_rate_bytes_per_sec: u64,
    /// Data counter the primary disk held at the last step.
    pub primary_data: u64,
    /// Data counter the DR disk holds (including its own divergent writes, if any).
    pub dr_data: u64,
    /// The primary wrote while not connected (one half of a split brain).
    pub primary_wrote_disconnected: bool,
    /// The DR side wrote while not connected (the other half; only a fault does this).
    pub dr_wrote_disconnected: bool,
    /// Split brain detected at reconnect. Never cleared here: a human picks the victim.
    pub split_brain: bool,
    /// The initial full sync has completed once.
    pub initial_sync_done: bool,
}

impl Replica {
    /// A freshly created resource: the primary holds the data, the DR disk is new and empty.
    pub fn new(primary_data: u64) -> Self {
        Replica {
            conn: Conn::Connecting,
            repl: Repl::Off,
            dr_disk: Disk::Inconsistent,
            out_of_sync_bytes: 0,
            sync_total_bytes: 0,
            sync_rate_bytes_per_sec: 0,
            primary_data,
            dr_data: 0,
            primary_wrote_disconnected: false,
            dr_wrote_disconnected: false,
            split_brain: false,
            initial_sync_done: false,
        }
    }

    /// Sync progress in percent, as `done` would be derived from `out-of-sync` (DRBD.md §4).
    pub fn sync_percent(&self) -> f64 {
        match self.repl {
            Repl::Established if self.initial_sync_done => 100.0,
            _ if self.sync_total_bytes == 0 => {
                if self.initial_sync_done {
                    100.0
                } else {
                    0.0
                }
            }
            _ => {
                let done = self.sync_total_bytes.saturating_sub(self.out_of_sync_bytes);
                // Two decimals, like `done:37.12`.
                ((done as f64) * 10000.0 / (self.sync_total_bytes as f64)).floor() / 100.0
            }
        }
    }

    /// A write on the DR side while it is not connected (e.g. a forced promotion there).
    /// Ignored while connected: a Secondary cannot be written.
    pub fn write_on_dr(&mut self) {
        if self.conn != Conn::Connected {
            self.dr_data += 1;
            self.dr_wrote_disconnected = true;
        }
    }

    /// Advance the state over one step.
    pub fn step(&mut self, input: StepInput) {
        let new_writes = input.primary_data.saturating_sub(self.primary_data);
        self.primary_data = self.primary_data.max(input.primary_data);
        self.sync_rate_bytes_per_sec = 0;
        let write_bytes = new_writes.saturating_mul(input.bytes_per_write);

        if self.split_brain || input.faults.standalone || !input.link_up {
            self.disconnected(write_bytes, new_writes, input.faults.standalone);
            return;
        }

        if self.conn != Conn::Connected && !self.handshake(input) {
            return;
        }

        // Connected from here on.
        if input.faults.congested {
            if self.repl != Repl::SyncSource {
                // Pull-ahead: writes only mark the bitmap; the DR copy is known stale.
                self.repl = Repl::Ahead;
                self.dr_disk = Disk::Outdated;
                self.out_of_sync_bytes = self.out_of_sync_bytes.saturating_add(write_bytes);
                return;
            }
        } else if self.repl == Repl::Ahead {
            // Congestion over: Ahead → SyncSource, the DR side is a sync target again [REQ].
            self.start_resync(self.out_of_sync_bytes);
        }

        if self.repl == Repl::SyncSource {
            self.resync(input);
        }
        if self.repl == Repl::Established {
            // Protocol C: a write completes only once the DR disk has it too.
            self.dr_data = self.primary_data;
        }
    }

    fn disconnected(&mut self, write_bytes: u64, new_writes: u64, admin: bool) {
        self.conn = if self.split_brain || admin {
            Conn::StandAlone
        } else {
            Conn::Connecting
        };
        self.repl = Repl::Off;
        if new_writes > 0 {
            self.primary_wrote_disconnected = true;
            if self.initial_sync_done || self.sync_total_bytes > 0 {
                self.out_of_sync_bytes = self.out_of_sync_bytes.saturating_add(write_bytes);
            }
            if !self.initial_sync_done && self.sync_total_bytes > 0 {
                self.sync_total_bytes = self.sync_total_bytes.saturating_add(write_bytes);
            }
        }
        // The DR disk keeps its state: a disconnected UpToDate disk cannot know it is stale.
    }

    /// The connect handshake. Returns whether the connection is established.
    fn handshake(&mut self, input: StepInput) -> bool {
        if self.primary_wrote_disconnected && self.dr_wrote_disconnected {
            // "Split-Brain detected but unresolved, dropping connection!"
            self.split_brain = true;
            self.conn = Conn::StandAlone;
            self.repl = Repl::Off;
            return false;
        }
        if self.dr_wrote_disconnected {
            // The DR side has newer data: it would become SyncSource, but the primary refuses
            // to become SyncTarget while Primary ("I shall become SyncTarget, but I am
            // primary!") and drops the connection.
            self.conn = Conn::StandAlone;
            self.repl = Repl::Off;
            return false;
        }
        self.conn = Conn::Connected;
        self.primary_wrote_disconnected = false;
        if !self.initial_sync_done && self.sync_total_bytes == 0 {
            // Replica added to a resource that holds data: full sync of the device.
            self.start_resync(input.capacity_bytes.max(1));
        } else if !self.initial_sync_done {
            // An interrupted initial sync resumes where it stopped.
            self.repl = Repl::SyncSource;
        } else if self.out_of_sync_bytes > 0 {
            // Bitmap-based resync of what was written while apart; T is Inconsistent meanwhile.
            self.start_resync(self.out_of_sync_bytes);
        } else {
            self.repl = Repl::Established;
        }
        true
    }

    fn start_resync(&mut self, bytes: u64) {
        self.repl = Repl::SyncSource;
        self.dr_disk = Disk::Inconsistent;
        self.out_of_sync_bytes = bytes;
        self.sync_total_bytes = bytes;
    }

    fn resync(&mut self, input: StepInput) {
        if input.faults.stall_sync {
            return;
        }
        let moved = match input.bandwidth {
            Bandwidth::Instant => self.out_of_sync_bytes,
            Bandwidth::BytesPerSec(rate) => {
                let rate = input
                    .faults
                    .slow_peer_bytes_per_sec
                    .map_or(rate, |slow| slow.min(rate));
                let bytes = (rate as u128 * input.elapsed.as_millis() / 1000) as u64;
                self.sync_rate_bytes_per_sec = if input.elapsed.is_zero() { 0 } else { rate };
                bytes.min(self.out_of_sync_bytes)
            }
        };
        self.out_of_sync_bytes -= moved;
        if self.out_of_sync_bytes == 0 {
            self.repl = Repl::Established;
            self.dr_disk = Disk::UpToDate;
            self.initial_sync_done = true;
            self.sync_rate_bytes_per_sec = 0;
            self.dr_data = self.primary_data;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;
    const MIB: u64 = 1024 * 1024;

    fn input(link_up: bool, primary_data: u64) -> StepInput {
        StepInput {
            elapsed: Duration::from_secs(1),
            link_up,
            primary_data,
            bytes_per_write: MIB,
            capacity_bytes: GIB,
            bandwidth: Bandwidth::default(),
            faults: ResourceFaults::default(),
        }
    }

    fn established() -> Replica {
        let mut r = Replica::new(0);
        r.step(StepInput {
            bandwidth: Bandwidth::Instant,
            ..input(true, 0)
        });
        assert_eq!(r.repl, Repl::Established);
        r
    }

    #[test]
    fn a_new_replica_waits_connecting_with_an_inconsistent_dr_disk() {
        let mut r = Replica::new(5);
        r.step(input(false, 5));
        assert_eq!(
            (r.conn, r.repl, r.dr_disk),
            (Conn::Connecting, Repl::Off, Disk::Inconsistent)
        );
        assert_eq!(r.sync_percent(), 0.0);
    }

    #[test]
    fn the_initial_sync_runs_at_the_default_c_max_rate_and_ends_established_up_to_date() {
        // 1 GiB at 100 MiB/s: 10.24 s. Table of (second, repl, dr disk, out of sync, percent).
        let mut r = Replica::new(7);
        let expected = [
            (
                1,
                Repl::SyncSource,
                Disk::Inconsistent,
                GIB - 100 * MIB,
                9.76,
            ),
            (
                2,
                Repl::SyncSource,
                Disk::Inconsistent,
                GIB - 200 * MIB,
                19.53,
            ),
            (
                10,
                Repl::SyncSource,
                Disk::Inconsistent,
                GIB - 1000 * MIB,
                97.65,
            ),
            (11, Repl::Established, Disk::UpToDate, 0, 100.0),
        ];
        let mut second = 0;
        for (at, repl, disk, oos, percent) in expected {
            while second < at {
                r.step(input(true, 7));
                second += 1;
            }
            assert_eq!(
                (r.repl, r.dr_disk, r.out_of_sync_bytes),
                (repl, disk, oos),
                "t={at}"
            );
            assert_eq!(r.sync_percent(), percent, "t={at}");
        }
        assert_eq!(r.conn, Conn::Connected);
        assert_eq!(r.dr_data, 7, "the DR disk holds what the primary held");
    }

    #[test]
    fn sync_rate_is_reported_while_syncing_and_zero_once_established() {
        let mut r = Replica::new(0);
        r.step(input(true, 0));
        assert_eq!(r.sync_rate_bytes_per_sec, 100 * MIB);
        for _ in 0..11 {
            r.step(input(true, 0));
        }
        assert_eq!(r.sync_rate_bytes_per_sec, 0);
    }

    #[test]
    fn a_stalled_sync_makes_no_progress_but_stays_connected() {
        let mut r = Replica::new(0);
        let stalled = StepInput {
            faults: ResourceFaults {
                stall_sync: true,
                ..Default::default()
            },
            ..input(true, 0)
        };
        for _ in 0..5 {
            r.step(stalled);
        }
        assert_eq!((r.conn, r.repl), (Conn::Connected, Repl::SyncSource));
        assert_eq!((r.out_of_sync_bytes, r.sync_rate_bytes_per_sec), (GIB, 0));
    }

    #[test]
    fn a_slow_peer_caps_the_resync_rate() {
        let mut r = Replica::new(0);
        r.step(StepInput {
            faults: ResourceFaults {
                slow_peer_bytes_per_sec: Some(MIB),
                ..Default::default()
            },
            ..input(true, 0)
        });
        assert_eq!(r.sync_rate_bytes_per_sec, MIB);
        assert_eq!(r.out_of_sync_bytes, GIB - MIB);
    }

    #[test]
    fn protocol_c_carries_every_write_to_the_dr_disk_while_established() {
        let mut r = established();
        r.step(input(true, 3));
        assert_eq!((r.dr_data, r.out_of_sync_bytes), (3, 0));
    }

    #[test]
    fn a_disconnected_dr_disk_still_claims_up_to_date_while_writes_pile_up() {
        let mut r = established();
        r.step(input(false, 4));
        assert_eq!(
            (r.conn, r.repl, r.dr_disk),
            (Conn::Connecting, Repl::Off, Disk::UpToDate)
        );
        assert_eq!((r.dr_data, r.out_of_sync_bytes), (0, 4 * MIB));
    }

    #[test]
    fn reconnecting_resyncs_what_was_written_while_apart() {
        let mut r = established();
        r.step(input(false, 4));
        r.step(StepInput {
            bandwidth: Bandwidth::BytesPerSec(MIB),
            ..input(true, 4)
        });
        assert_eq!((r.repl, r.dr_disk), (Repl::SyncSource, Disk::Inconsistent));
        assert_eq!(
            (r.out_of_sync_bytes, r.sync_total_bytes),
            (3 * MIB, 4 * MIB)
        );
        assert_eq!(r.sync_percent(), 25.0);
        r.step(StepInput {
            bandwidth: Bandwidth::Instant,
            ..input(true, 4)
        });
        assert_eq!(
            (r.repl, r.dr_disk, r.dr_data),
            (Repl::Established, Disk::UpToDate, 4)
        );
    }

    #[test]
    fn congestion_pulls_ahead_and_recovers_through_a_resync() {
        let mut r = established();
        let congested = StepInput {
            faults: ResourceFaults {
                congested: true,
                ..Default::default()
            },
            ..input(true, 2)
        };
        r.step(congested);
        assert_eq!(
            (r.repl, r.dr_disk, r.out_of_sync_bytes),
            (Repl::Ahead, Disk::Outdated, 2 * MIB)
        );
        assert_eq!(r.dr_data, 0, "writes only marked the bitmap");
        r.step(StepInput {
            bandwidth: Bandwidth::Instant,
            ..input(true, 2)
        });
        assert_eq!(
            (r.repl, r.dr_disk, r.dr_data),
            (Repl::Established, Disk::UpToDate, 2)
        );
    }

    #[test]
    fn both_sides_writing_while_apart_is_split_brain_and_never_resolved() {
        let mut r = established();
        r.step(input(false, 1));
        r.write_on_dr();
        for _ in 0..3 {
            r.step(StepInput {
                bandwidth: Bandwidth::Instant,
                ..input(true, 1)
            });
        }
        assert!(r.split_brain);
        assert_eq!((r.conn, r.repl), (Conn::StandAlone, Repl::Off));
        assert_eq!(
            (r.dr_data, r.primary_data),
            (1, 1),
            "neither side's writes were discarded"
        );
    }

    #[test]
    fn a_write_on_the_connected_secondary_is_refused() {
        let mut r = established();
        r.write_on_dr();
        assert!(!r.dr_wrote_disconnected);
        assert_eq!(r.dr_data, 0);
    }

    #[test]
    fn an_admin_disconnect_is_standalone_until_cleared() {
        let mut r = established();
        let admin = StepInput {
            faults: ResourceFaults {
                standalone: true,
                ..Default::default()
            },
            ..input(true, 0)
        };
        r.step(admin);
        assert_eq!(r.conn, Conn::StandAlone);
        assert!(!r.split_brain);
        r.step(input(true, 0));
        assert_eq!((r.conn, r.repl), (Conn::Connected, Repl::Established));
    }

    #[test]
    fn an_interrupted_initial_sync_resumes_where_it_stopped() {
        let mut r = Replica::new(0);
        r.step(input(true, 0));
        r.step(input(false, 0));
        assert_eq!((r.conn, r.dr_disk), (Conn::Connecting, Disk::Inconsistent));
        r.step(input(true, 0));
        assert_eq!(r.out_of_sync_bytes, GIB - 200 * MIB);
    }
}
