//! Test fixtures: small builders for ProtectionRequests, their volumes and Events.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use protect_api::{
    Condition, Phase, PhaseTransition, ProtectionRequest, ProtectionRequestSpec,
    ProtectionRequestStatus, VolumeStatus,
};

/// A fixed "now" for ages in golden files: 2025-05-01T10:10:00Z.
pub fn now() -> jiff::Timestamp {
    ts("2025-05-01T10:10:00Z")
}

/// A timestamp from RFC 3339.
pub fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

/// `now` minus `seconds`.
pub fn ago(seconds: i64) -> Time {
    Time(now() - jiff::SignedDuration::from_secs(seconds))
}

/// Builder for a ProtectionRequest named `protect-<vm>` in `dr-deployment`.
pub struct RequestBuilder(ProtectionRequest);

/// A request for VM `vm` in `production` on `cluster1`, created 5 minutes before [`now`].
pub fn request(vm: &str) -> RequestBuilder {
    let mut pr = ProtectionRequest::new(
        &format!("protect-{vm}"),
        ProtectionRequestSpec {
            vm_name: vm.into(),
            vm_namespace: "production".into(),
            source_cluster: Some("cluster1".into()),
        },
    );
    pr.metadata = ObjectMeta {
        name: Some(format!("protect-{vm}")),
        namespace: Some("dr-deployment".into()),
        uid: Some(format!("uid-{vm}")),
        creation_timestamp: Some(ago(300)),
        ..Default::default()
    };
    pr.status = Some(ProtectionRequestStatus::default());
    RequestBuilder(pr)
}

impl RequestBuilder {
    fn status(&mut self) -> &mut ProtectionRequestStatus {
        self.0.status.get_or_insert_with(Default::default)
    }

    /// Created `seconds` before [`now`].
    pub fn created_ago(mut self, seconds: i64) -> Self {
        self.0.metadata.creation_timestamp = Some(ago(seconds));
        self
    }

    /// In namespace `ns`.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self
    }

    /// With phase `phase`.
    pub fn phase(mut self, phase: Phase) -> Self {
        self.status().phase = Some(phase);
        self
    }

    /// With `status.message`.
    pub fn message(mut self, message: &str) -> Self {
        self.status().message = Some(message.into());
        self
    }

    /// With `status.syncProgress`.
    pub fn sync(mut self, progress: &str) -> Self {
        self.status().sync_progress = Some(progress.into());
        self
    }

    /// With policy and DR cluster.
    pub fn policy(mut self, policy: &str, dr: &str) -> Self {
        self.status().policy = Some(policy.into());
        self.status().dr_cluster = Some(dr.into());
        self
    }

    /// With a condition, its transition `seconds_ago` before now.
    pub fn condition(mut self, condition: Condition) -> Self {
        let c = Condition {
            last_transition_time: condition.last_transition_time.clone().or(Some(ago(60))),
            ..condition
        };
        self.status().conditions.push(c);
        self
    }

    /// Entered `phase` `seconds` after creation.
    pub fn entered(mut self, phase: Phase, seconds_after_creation: i64) -> Self {
        let created = self.0.metadata.creation_timestamp.clone().unwrap().0;
        self.status().phase_transitions.push(PhaseTransition {
            phase,
            time: Time(created + jiff::SignedDuration::from_secs(seconds_after_creation)),
        });
        self
    }

    /// With a volume.
    pub fn volume(mut self, volume: VolumeStatus) -> Self {
        self.status().volumes.push(volume);
        self
    }

    /// The request.
    pub fn build(self) -> ProtectionRequest {
        self.0
    }
}

/// A volume `pvc` of class `sc` → `dr_sc`, syncing at `percent` with `eta` seconds left.
pub fn volume(
    pvc: &str,
    sc: &str,
    dr_sc: &str,
    state: &str,
    percent: f64,
    eta: Option<i64>,
) -> VolumeStatus {
    VolumeStatus {
        pvc: pvc.into(),
        storage_class: Some(sc.into()),
        dr_storage_class: Some(dr_sc.into()),
        capacity: Some(Quantity("10Gi".into())),
        drbd_volume: Some(format!("production-web-server-{pvc}-0123456789")),
        port: Some(7000),
        sync_percent: Some(percent),
        out_of_sync_bytes: None,
        sync_rate: Some(50 * 1024 * 1024),
        eta_seconds: eta,
        state: Some(state.into()),
    }
}

/// A Normal/Warning Event about request `name`, `seconds` ago.
pub fn event(name: &str, type_: &str, reason: &str, message: &str, seconds: i64) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{seconds}")),
            namespace: Some("dr-deployment".into()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            kind: Some("ProtectionRequest".into()),
            name: Some(name.into()),
            namespace: Some("dr-deployment".into()),
            ..Default::default()
        },
        type_: Some(type_.into()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_timestamp: Some(ago(seconds)),
        source: Some(EventSource {
            component: Some("protect-controller".into()),
            host: None,
        }),
        ..Default::default()
    }
}
