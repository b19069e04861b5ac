//! Prometheus metrics of the controller: reconciles, errors by category (the error variant name),
//! requests by phase, sync bytes remaining, and whether this replica leads.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use protect_api::{Phase, ProtectionRequestStatus};

/// Label of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The error variant name, e.g. `Write`.
    pub category: String,
}

/// Label of the per-phase gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// The phase, as in `status.phase`.
    pub phase: String,
}

/// Labels of per-request gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Namespace of the request.
    pub namespace: String,
    /// Name of the request.
    pub name: String,
}

/// The controller's metrics and their registry.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    reconciles: Counter,
    errors: Family<ErrorLabels, Counter>,
    requests: Family<PhaseLabels, Gauge>,
    sync_bytes_remaining: Family<RequestLabels, Gauge>,
    leader: Gauge,
    phases: Mutex<HashMap<(String, String), Phase>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("protect_controller");
        let reconciles = Counter::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let requests = Family::<PhaseLabels, Gauge>::default();
        let sync_bytes_remaining = Family::<RequestLabels, Gauge>::default();
        let leader = Gauge::default();
        registry.register(
            "reconciles",
            "ProtectionRequest reconciliations",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciliations by error category",
            errors.clone(),
        );
        registry.register("requests", "ProtectionRequests by phase", requests.clone());
        registry.register(
            "sync_bytes_remaining",
            "Bytes not yet replicated to the DR cluster, per request",
            sync_bytes_remaining.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        for phase in Phase::ALL {
            requests
                .get_or_create(&PhaseLabels {
                    phase: phase.to_string(),
                })
                .set(0);
        }
        Self {
            registry,
            reconciles,
            errors,
            requests,
            sync_bytes_remaining,
            leader,
            phases: Mutex::new(HashMap::new()),
        }
    }
}

impl Metrics {
    /// Count one reconcile.
    pub fn reconciled(&self) {
        self.reconciles.inc();
    }

    /// Count one failed reconcile under `category` (an error variant name).
    pub fn failed(&self, category: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                category: category.to_owned(),
            })
            .inc();
    }

    /// Record a request's status: its phase and the bytes it still has to replicate.
    pub fn observe(&self, namespace: &str, name: &str, status: &ProtectionRequestStatus) {
        let key = (namespace.to_owned(), name.to_owned());
        let phase = status.phase.unwrap_or_default();
        if let Ok(mut phases) = self.phases.lock() {
            let previous = phases.insert(key, phase);
            if previous != Some(phase) {
                if let Some(p) = previous {
                    self.requests
                        .get_or_create(&PhaseLabels {
                            phase: p.to_string(),
                        })
                        .dec();
                }
                self.requests
                    .get_or_create(&PhaseLabels {
                        phase: phase.to_string(),
                    })
                    .inc();
            }
        }
        let remaining: i64 = status
            .volumes
            .iter()
            .filter_map(|v| v.out_of_sync_bytes)
            .sum();
        self.sync_bytes_remaining
            .get_or_create(&RequestLabels {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
            .set(remaining);
    }

    /// Forget a request that is gone.
    pub fn forget(&self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        if let Ok(mut phases) = self.phases.lock()
            && let Some(p) = phases.remove(&key)
        {
            self.requests
                .get_or_create(&PhaseLabels {
                    phase: p.to_string(),
                })
                .dec();
        }
        self.sync_bytes_remaining.remove(&RequestLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        });
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_reconcile_bumps_the_error_metric_of_its_category() {
        let m = Metrics::default();
        m.reconciled();
        m.failed("Write");
        let text = m.encode();
        assert!(
            text.contains("protect_controller_reconciles_total 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"protect_controller_reconcile_errors_total{category="Write"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn requests_are_counted_once_in_their_current_phase() {
        let m = Metrics::default();
        let mut status = ProtectionRequestStatus {
            phase: Some(Phase::Syncing),
            ..Default::default()
        };
        status.volumes.push(protect_api::VolumeStatus {
            pvc: "a".into(),
            out_of_sync_bytes: Some(42),
            ..Default::default()
        });
        m.observe("dr", "p", &status);
        status.phase = Some(Phase::Protected);
        status.volumes[0].out_of_sync_bytes = Some(0);
        m.observe("dr", "p", &status);
        let text = m.encode();
        assert!(
            text.contains(r#"protect_controller_requests{phase="Syncing"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"protect_controller_requests{phase="Protected"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"protect_controller_sync_bytes_remaining{namespace="dr",name="p"} 0"#),
            "{text}"
        );
        m.forget("dr", "p");
        assert!(
            m.encode()
                .contains(r#"protect_controller_requests{phase="Protected"} 0"#)
        );
    }
}
