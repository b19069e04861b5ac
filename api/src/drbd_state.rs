//! DRBD 9 state words (role, connection, disk, replication) as open enums: the known words are
//! variants, and any other word a real operator reports is kept verbatim in `Other`.

use crate::open_enum::open_string_enum;

open_string_enum! {
    /// Role of a DRBD resource on a node.
    Role {
        /// Read-write; the VM's side.
        Primary => "Primary",
        /// No access, not even reads; receives replication.
        Secondary => "Secondary",
        /// A peer's role while disconnected.
        Unknown => "Unknown",
    }
}

open_string_enum! {
    /// DRBD connection state (per resource and peer).
    ConnectionState {
        /// No network configuration: admin disconnect, auth failure or split brain. No retry.
        StandAlone => "StandAlone",
        /// Going to StandAlone.
        Disconnecting => "Disconnecting",
        /// About to try connecting.
        Unconnected => "Unconnected",
        /// Transient after losing the link.
        Timeout => "Timeout",
        /// Transient after losing the link.
        BrokenPipe => "BrokenPipe",
        /// Transient after losing the link.
        NetworkFailure => "NetworkFailure",
        /// Transient after losing the link.
        ProtocolError => "ProtocolError",
        /// Transient after losing the link.
        TearDown => "TearDown",
        /// Waiting for the peer.
        Connecting => "Connecting",
        /// Normal.
        Connected => "Connected",
    }
}

open_string_enum! {
    /// DRBD disk state (per volume, local or peer).
    DiskState {
        /// No backing disk.
        Diskless => "Diskless",
        /// Transient, attaching.
        Attaching => "Attaching",
        /// Transient, detaching.
        Detaching => "Detaching",
        /// I/O error; becomes Diskless.
        Failed => "Failed",
        /// Attaching while connected.
        Negotiating => "Negotiating",
        /// Not usable: before the initial sync, or a sync target.
        Inconsistent => "Inconsistent",
        /// Consistent but known stale.
        Outdated => "Outdated",
        /// Peer disk with no connection.
        DUnknown => "DUnknown",
        /// Consistent but not connected; decided on connect.
        Consistent => "Consistent",
        /// Normal. On a disconnected side this proves nothing about freshness.
        UpToDate => "UpToDate",
    }
}

open_string_enum! {
    /// DRBD replication state (per peer and volume).
    ReplicationState {
        /// Not connected.
        Off => "Off",
        /// Normal.
        Established => "Established",
        /// Admin full sync starting, source side.
        StartingSyncS => "StartingSyncS",
        /// Admin full sync starting, target side.
        StartingSyncT => "StartingSyncT",
        /// Partial sync starting, source side.
        WFBitMapS => "WFBitMapS",
        /// Partial sync starting, target side.
        WFBitMapT => "WFBitMapT",
        /// Target waiting for the sync UUID.
        WFSyncUUID => "WFSyncUUID",
        /// Sending a resync.
        SyncSource => "SyncSource",
        /// Receiving a resync; the local disk is Inconsistent.
        SyncTarget => "SyncTarget",
        /// Resync paused, source side.
        PausedSyncS => "PausedSyncS",
        /// Resync paused, target side.
        PausedSyncT => "PausedSyncT",
        /// Online verify, source side.
        VerifyS => "VerifyS",
        /// Online verify, target side.
        VerifyT => "VerifyT",
        /// Congestion: local writes are not replicated (RPO unbounded).
        Ahead => "Ahead",
        /// The peer's side of Ahead.
        Behind => "Behind",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_words_round_trip() {
        for word in ConnectionState::KNOWN {
            let parsed: ConnectionState = serde_json::from_value(serde_json::json!(word)).unwrap();
            assert!(!matches!(parsed, ConnectionState::Other(_)), "{word}");
            assert_eq!(
                serde_json::to_value(&parsed).unwrap(),
                serde_json::json!(word)
            );
        }
        for word in DiskState::KNOWN {
            assert!(
                !matches!(DiskState::from_word(word), DiskState::Other(_)),
                "{word}"
            );
        }
        for word in ReplicationState::KNOWN {
            assert!(
                !matches!(
                    ReplicationState::from_word(word),
                    ReplicationState::Other(_)
                ),
                "{word}"
            );
        }
        assert_eq!(ReplicationState::KNOWN.len(), 15);
        assert_eq!(DiskState::KNOWN.len(), 10);
        assert_eq!(ConnectionState::KNOWN.len(), 10);
    }

    #[test]
    fn an_unknown_word_from_a_real_operator_is_kept_verbatim() {
        let parsed: DiskState = serde_json::from_value(serde_json::json!("TieBreaker")).unwrap();
        assert_eq!(parsed, DiskState::Other("TieBreaker".into()));
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            serde_json::json!("TieBreaker")
        );
    }
}
