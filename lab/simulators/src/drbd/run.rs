//! The DRBD Operator simulator's I/O for one cluster: side copies in, PVCs, status and node
//! taints out, the peer reached only through the [`Fabric`].
//!
//! # Guarantees
//! - The VM's original PVC on the primary side is never created, changed in spec or deleted.
//!   The only write to it is the lab's data-counter annotation, which stands for the blocks
//!   DRBD writes to its lower device (the frontend PVC's writes land there).
//! - Only PVCs and PVs carrying [`DRBD_VOLUME_LABEL`] are ever deleted: the frontend PVC on the
//!   primary side and the backing PVC on the DR side.
//!
//! # Teardown
//! Side copies carry [`DRBD_FINALIZER`]. When one is deleted the operator flushes the frontend
//! PVC's data into the original PVC, deletes the frontend PVC and its PV (primary) or the
//! backing PVC (DR: unprotect releases the DR storage, as LINSTOR deletes a resource's volume),
//! withdraws from the fabric and removes the finalizer. PVCs left behind by a side copy that
//! vanished without the finalizer are swept the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tracing::warn;

use super::agent::{NodeFacts, should_taint};
use super::replica::{Conn, Replica};
use super::side::{DrbdVolumeSpec, LocalFacts, frontend_pvc_name, side_status};
use crate::fabric::{Advert, Fabric, Offer, Side, WireSettings};
use crate::objects::{
    DATA_COUNTER_ANNOTATION, DRBD_FINALIZER, DRBD_VOLUME_LABEL, TAINT_NOT_READY, changed_fields,
    data_counter, drbd_volume, quantity_value_bytes,
};
use crate::runtime::{Error, Writer, watch};

/// Faults of the node agent, set from tests through [`crate::Fault`].
#[derive(Debug, Default)]
pub struct AgentControl {
    /// Restart the agent at the next pass: taint every node again and restart the timeout.
    pub restart_requested: bool,
    /// Nodes whose agent never finishes start-up.
    pub never_ready: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct AgentState {
    started_at: Option<Timestamp>,
    cleared: BTreeSet<String>,
}

/// The DRBD Operator simulator (with its node agent) of one cluster.
pub struct DrbdOperator {
    cluster: String,
    writer: Writer,
    fabric: Fabric,
    settings: WireSettings,
    volumes: Store<DynamicObject>,
    pvcs: Store<PersistentVolumeClaim>,
    nodes: Store<Node>,
    agent: AgentState,
    control: Arc<Mutex<AgentControl>>,
}

/// The node that holds a resource's disk and the address it listens on: the first node by
/// name, its InternalIP (or its name when it reports none).
fn storage_node(nodes: &[Node]) -> Option<(String, String)> {
    let node = nodes.iter().min_by_key(|n| n.metadata.name.clone())?;
    let name = node.metadata.name.clone()?;
    let address = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone())
        .unwrap_or_else(|| name.clone());
    Some((name, address))
}

fn is_bound(pvc: &PersistentVolumeClaim) -> bool {
    pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
}

fn labeled_for(pvc_labels: Option<&BTreeMap<String, String>>, volume: &str) -> bool {
    pvc_labels
        .and_then(|l| l.get(DRBD_VOLUME_LABEL))
        .is_some_and(|v| v == volume)
}

impl DrbdOperator {
    /// Start the watches; the operator acts on [`DrbdOperator::pass`].
    pub fn new(
        cluster: String,
        writer: Writer,
        fabric: Fabric,
        settings: WireSettings,
        control: Arc<Mutex<AgentControl>>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Self {
        let client = writer.client.clone();
        DrbdOperator {
            volumes: watch(
                Api::all_with(client.clone(), &drbd_volume()),
                drbd_volume(),
                tasks,
            ),
            pvcs: watch(Api::all(client.clone()), (), tasks),
            nodes: watch(Api::all(client), (), tasks),
            cluster,
            writer,
            fabric,
            settings,
            agent: AgentState::default(),
            control,
        }
    }

    /// Wait until every cache has its first list.
    pub async fn ready(&self) {
        let _ = self.volumes.wait_until_ready().await;
        let _ = self.pvcs.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
    }

    fn pvc(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.pvcs.get(&ObjectRef::new(name).within(namespace))
    }

    /// One pass over every side copy of this cluster, then the node taints.
    pub async fn pass(&mut self, now: Timestamp) {
        let mut nodes: Vec<Node> = self.nodes.state().iter().map(|n| (**n).clone()).collect();
        nodes.sort_by_key(|n| n.metadata.name.clone());
        let mut volumes = self.volumes.state();
        volumes.sort_by_key(|v| (v.metadata.namespace.clone(), v.metadata.name.clone()));
        let mut all_connected = true;
        let mut live: BTreeSet<String> = BTreeSet::new();
        for volume in &volumes {
            let Some(spec) = volume
                .data
                .get("spec")
                .cloned()
                .and_then(|s| serde_json::from_value::<DrbdVolumeSpec>(s).ok())
            else {
                continue;
            };
            let Some(side) = spec.side_of(&self.cluster) else {
                continue;
            };
            let name = volume.metadata.name.clone().unwrap_or_default();
            live.insert(name.clone());
            let result = if volume.metadata.deletion_timestamp.is_some() {
                self.teardown(volume, &spec, side).await
            } else {
                match self.reconcile(volume, &spec, side, &nodes, now).await {
                    Ok(connected) => {
                        all_connected &= connected;
                        Ok(())
                    }
                    Err(e) => {
                        all_connected = false;
                        Err(e)
                    }
                }
            };
            if let Err(error) = result {
                warn!(cluster = %self.cluster, volume = %name, %error, "DRBD simulator write failed");
            }
        }
        if let Err(error) = self.sweep_orphans(&live).await {
            warn!(cluster = %self.cluster, %error, "DRBD simulator sweep failed");
        }
        if let Err(error) = self.node_agent(&nodes, all_connected, now).await {
            warn!(cluster = %self.cluster, %error, "DRBD node agent write failed");
        }
    }

    /// Returns whether the resource is Connected.
    async fn reconcile(
        &mut self,
        volume: &DynamicObject,
        spec: &DrbdVolumeSpec,
        side: Side,
        nodes: &[Node],
        now: Timestamp,
    ) -> Result<bool, Error> {
        let name = volume.metadata.name.clone().unwrap_or_default();
        let namespace = volume.metadata.namespace.clone().unwrap_or_default();
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.writer.client.clone(), &namespace, &drbd_volume());
        let finalizers: Vec<String> = volume.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == DRBD_FINALIZER) {
            let mut with_ours = finalizers.clone();
            with_ours.push(DRBD_FINALIZER.to_owned());
            self.writer
                .merge(
                    &api,
                    "DRBDVolume",
                    &name,
                    false,
                    json!({"metadata": {"finalizers": with_ours, "resourceVersion": volume.metadata.resource_version}}),
                )
                .await?;
        }
        let address = storage_node(nodes).map(|(_, address)| address);
        let capacity_bytes = quantity_value_bytes(&spec.primary.capacity).unwrap_or(0);
        let peer_configured = spec.peer_endpoint.as_deref().is_some_and(|p| !p.is_empty());
        let (endpoint, replica, frontend): (Option<String>, Option<Replica>, Option<String>) =
            match side {
                Side::Primary => {
                    let original = self.pvc(&spec.primary.pvc_namespace, &spec.primary.pvc_name);
                    let frontend_name = frontend_pvc_name(&spec.primary.pvc_name);
                    let frontend = self.pvc(&spec.primary.pvc_namespace, &frontend_name);
                    let attached = original.as_deref().is_some_and(is_bound);
                    let endpoint = attached
                        .then(|| address.clone())
                        .flatten()
                        .map(|a| format!("{a}:{}", spec.port));
                    let device = self
                        .sync_device(original.as_deref(), frontend.as_deref())
                        .await?;
                    let replica = match &endpoint {
                        Some(endpoint) => self.fabric.exchange(
                            &spec.resource,
                            spec.volume_number,
                            Offer {
                                side,
                                advert: Advert {
                                    cluster: self.cluster.clone(),
                                    endpoint: endpoint.clone(),
                                    peer_endpoint: spec.peer_endpoint.clone(),
                                },
                                primary_data: device,
                                capacity_bytes,
                            },
                            now,
                            self.settings,
                        ),
                        None => None,
                    };
                    if let (true, None, Some(original)) = (attached, &frontend, &original) {
                        self.create_frontend(volume, spec, original, device).await?;
                    }
                    let reported = frontend.filter(|f| is_bound(f)).map(|_| frontend_name);
                    (endpoint, replica, reported)
                }
                Side::Dr => {
                    let backing = self.pvc(&spec.dr.pvc_namespace, &spec.dr.pvc_name);
                    if backing.is_none() {
                        self.create_backing(&name, spec).await?;
                    }
                    let attached = backing.as_deref().is_some_and(is_bound);
                    let endpoint = attached
                        .then(|| address.clone())
                        .flatten()
                        .map(|a| format!("{a}:{}", spec.port));
                    let replica = match &endpoint {
                        Some(endpoint) => self.fabric.exchange(
                            &spec.resource,
                            spec.volume_number,
                            Offer {
                                side,
                                advert: Advert {
                                    cluster: self.cluster.clone(),
                                    endpoint: endpoint.clone(),
                                    peer_endpoint: spec.peer_endpoint.clone(),
                                },
                                primary_data: 0,
                                capacity_bytes: 0,
                            },
                            now,
                            self.settings,
                        ),
                        None => None,
                    };
                    if let (Some(backing), Some(replica)) = (&backing, &replica)
                        && data_counter(backing.metadata.annotations.as_ref()) != replica.dr_data
                    {
                        self.set_counter(backing, replica.dr_data).await?;
                    }
                    (endpoint, replica, None)
                }
            };
        let status = side_status(
            side,
            replica.as_ref(),
            LocalFacts {
                endpoint: endpoint.as_deref(),
                peer_configured,
                frontend_pvc: frontend.as_deref(),
            },
        );
        let old = volume.data.get("status").cloned().unwrap_or(Value::Null);
        if let Some(diff) = changed_fields(&old, &status) {
            self.writer
                .merge(&api, "DRBDVolume", &name, true, json!({ "status": diff }))
                .await?;
        }
        Ok(replica.is_some_and(|r| r.conn == Conn::Connected))
    }

    /// The frontend PVC and the original PVC are two names for one device: bring both data
    /// counters to the higher one and return it.
    async fn sync_device(
        &self,
        original: Option<&PersistentVolumeClaim>,
        frontend: Option<&PersistentVolumeClaim>,
    ) -> Result<u64, Error> {
        let o = original.map_or(0, |p| data_counter(p.metadata.annotations.as_ref()));
        let f = frontend.map_or(0, |p| data_counter(p.metadata.annotations.as_ref()));
        let device = o.max(f);
        for (pvc, counter) in [(original, o), (frontend, f)] {
            if let Some(pvc) = pvc
                && counter < device
            {
                self.set_counter(pvc, device).await?;
            }
        }
        Ok(device)
    }

    async fn set_counter(&self, pvc: &PersistentVolumeClaim, counter: u64) -> Result<(), Error> {
        let namespace = pvc.metadata.namespace.clone().unwrap_or_default();
        let name = pvc.metadata.name.clone().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(self.writer.client.clone(), &namespace);
        self.writer
            .merge(
                &api,
                "PersistentVolumeClaim",
                &name,
                false,
                json!({"metadata": {
                    "resourceVersion": pvc.metadata.resource_version,
                    "annotations": {DATA_COUNTER_ANNOTATION: counter.to_string()},
                }}),
            )
            .await
    }

    async fn create_frontend(
        &self,
        volume: &DynamicObject,
        spec: &DrbdVolumeSpec,
        original: &PersistentVolumeClaim,
        device: u64,
    ) -> Result<(), Error> {
        let volume_name = volume.metadata.name.clone().unwrap_or_default();
        let pv_name = format!("drbd-{}", volume.metadata.uid.clone().unwrap_or_default());
        let frontend = frontend_pvc_name(&spec.primary.pvc_name);
        let original_spec = original.spec.clone().unwrap_or_default();
        let capacity = original
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .map(|q| q.0.clone())
            .unwrap_or_else(|| match &spec.primary.capacity {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let access_modes = original_spec
            .access_modes
            .clone()
            .unwrap_or_else(|| vec!["ReadWriteOnce".into()]);
        let volume_mode = original_spec
            .volume_mode
            .clone()
            .unwrap_or_else(|| "Filesystem".into());
        let pv: Result<PersistentVolume, _> = serde_json::from_value(json!({
            "metadata": {"name": pv_name, "labels": {DRBD_VOLUME_LABEL: volume_name}},
            "spec": {
                "capacity": {"storage": capacity},
                "accessModes": access_modes,
                "volumeMode": volume_mode,
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": spec.primary.storage_class,
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "namespace": spec.primary.pvc_namespace, "name": frontend},
                "csi": {"driver": "drbd.lab.siterecovery.trilio.io",
                        "volumeHandle": format!("{}/{}", spec.resource, spec.volume_number)},
            }
        }));
        let pvc: Result<PersistentVolumeClaim, _> = serde_json::from_value(json!({
            "metadata": {
                "name": frontend, "namespace": spec.primary.pvc_namespace,
                "labels": {DRBD_VOLUME_LABEL: volume_name},
                "annotations": {DATA_COUNTER_ANNOTATION: device.to_string()},
            },
            "spec": {
                "accessModes": access_modes,
                "volumeMode": volume_mode,
                "storageClassName": spec.primary.storage_class,
                "volumeName": pv_name,
                "resources": {"requests": {"storage": capacity}},
            }
        }));
        let client = self.writer.client.clone();
        if let Ok(pv) = pv {
            self.writer
                .create(
                    &Api::<PersistentVolume>::all(client.clone()),
                    "PersistentVolume",
                    &pv,
                )
                .await?;
        }
        if let Ok(pvc) = pvc {
            let api: Api<PersistentVolumeClaim> =
                Api::namespaced(client, &spec.primary.pvc_namespace);
            self.writer
                .create(&api, "PersistentVolumeClaim", &pvc)
                .await?;
        }
        Ok(())
    }

    async fn create_backing(&self, volume_name: &str, spec: &DrbdVolumeSpec) -> Result<(), Error> {
        let capacity = match &spec.primary.capacity {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let pvc: Result<PersistentVolumeClaim, _> = serde_json::from_value(json!({
            "metadata": {
                "name": spec.dr.pvc_name, "namespace": spec.dr.pvc_namespace,
                "labels": {DRBD_VOLUME_LABEL: volume_name},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": spec.dr.storage_class,
                "resources": {"requests": {"storage": capacity}},
            }
        }));
        let Ok(pvc) = pvc else { return Ok(()) };
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(self.writer.client.clone(), &spec.dr.pvc_namespace);
        self.writer
            .create(&api, "PersistentVolumeClaim", &pvc)
            .await
    }

    async fn delete_owned_pvc(
        &self,
        namespace: &str,
        name: &str,
        volume_name: &str,
    ) -> Result<(), Error> {
        let Some(pvc) = self.pvc(namespace, name) else {
            return Ok(());
        };
        if !labeled_for(pvc.metadata.labels.as_ref(), volume_name) {
            return Ok(());
        }
        let client = self.writer.client.clone();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
        self.writer
            .delete(&api, "PersistentVolumeClaim", name)
            .await?;
        if let Some(pv) = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref())
            && pv.starts_with("drbd-")
        {
            self.writer
                .delete(
                    &Api::<PersistentVolume>::all(client),
                    "PersistentVolume",
                    pv,
                )
                .await?;
        }
        Ok(())
    }

    async fn teardown(
        &self,
        volume: &DynamicObject,
        spec: &DrbdVolumeSpec,
        side: Side,
    ) -> Result<(), Error> {
        let finalizers: Vec<String> = volume.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == DRBD_FINALIZER) {
            return Ok(());
        }
        let name = volume.metadata.name.clone().unwrap_or_default();
        match side {
            Side::Primary => {
                let original = self.pvc(&spec.primary.pvc_namespace, &spec.primary.pvc_name);
                let frontend_name = frontend_pvc_name(&spec.primary.pvc_name);
                let frontend = self.pvc(&spec.primary.pvc_namespace, &frontend_name);
                // Flush: whatever reached the frontend is on the original PVC before it goes.
                self.sync_device(original.as_deref(), frontend.as_deref())
                    .await?;
                if frontend_name != spec.primary.pvc_name {
                    self.delete_owned_pvc(&spec.primary.pvc_namespace, &frontend_name, &name)
                        .await?;
                }
            }
            Side::Dr => {
                self.delete_owned_pvc(&spec.dr.pvc_namespace, &spec.dr.pvc_name, &name)
                    .await?;
            }
        }
        self.fabric
            .withdraw(&spec.resource, spec.volume_number, side);
        let remaining: Vec<&String> = finalizers.iter().filter(|f| *f != DRBD_FINALIZER).collect();
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.writer.client.clone(),
            volume.metadata.namespace.as_deref().unwrap_or(""),
            &drbd_volume(),
        );
        self.writer
            .merge(
                &api,
                "DRBDVolume",
                &name,
                false,
                json!({"metadata": {"finalizers": remaining}}),
            )
            .await
    }

    /// Delete PVCs this operator created for side copies that no longer exist.
    async fn sweep_orphans(&self, live: &BTreeSet<String>) -> Result<(), Error> {
        for pvc in self.pvcs.state() {
            let Some(owner) = pvc
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(DRBD_VOLUME_LABEL))
            else {
                continue;
            };
            if live.contains(owner) || pvc.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let namespace = pvc.metadata.namespace.clone().unwrap_or_default();
            let name = pvc.metadata.name.clone().unwrap_or_default();
            self.delete_owned_pvc(&namespace, &name, owner).await?;
        }
        Ok(())
    }

    async fn node_agent(
        &mut self,
        nodes: &[Node],
        all_connected: bool,
        now: Timestamp,
    ) -> Result<(), Error> {
        let never_ready = {
            let mut control = self
                .control
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if std::mem::take(&mut control.restart_requested) {
                self.agent = AgentState::default();
            }
            control.never_ready.clone()
        };
        let started_at = *self.agent.started_at.get_or_insert(now);
        let since_start: Duration = now.duration_since(started_at).unsigned_abs();
        let api: Api<Node> = Api::all(self.writer.client.clone());
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let taint = should_taint(NodeFacts {
                since_start,
                all_connected,
                cleared: self.agent.cleared.contains(&name),
                never_ready: never_ready.contains(&name),
            });
            if !taint {
                self.agent.cleared.insert(name.clone());
            }
            let taints = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            let has = taints
                .iter()
                .any(|t| t.key == TAINT_NOT_READY && t.effect == "NoSchedule");
            if has == taint {
                continue;
            }
            let mut new: Vec<Value> = taints
                .iter()
                .filter(|t| t.key != TAINT_NOT_READY)
                .filter_map(|t| serde_json::to_value(t).ok())
                .collect();
            if taint {
                new.push(json!({"key": TAINT_NOT_READY, "effect": "NoSchedule"}));
            }
            self.writer
                .merge(
                    &api,
                    "Node",
                    &name,
                    false,
                    json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": new}}),
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_node_is_the_first_by_name_and_listens_on_its_internal_ip() {
        let nodes: Vec<Node> = serde_json::from_value(json!([
            {"metadata": {"name": "node-b"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.1.11"}]}},
            {"metadata": {"name": "node-a"}, "status": {"addresses": [
                {"type": "Hostname", "address": "node-a"}, {"type": "InternalIP", "address": "10.0.1.10"}]}}
        ]))
        .unwrap();
        assert_eq!(
            storage_node(&nodes),
            Some(("node-a".into(), "10.0.1.10".into()))
        );
        assert_eq!(storage_node(&[]), None);
    }

    #[test]
    fn only_pvcs_labeled_for_the_volume_are_ours_to_delete() {
        let labels: BTreeMap<String, String> =
            [(DRBD_VOLUME_LABEL.to_owned(), "v1".to_owned())].into();
        assert!(labeled_for(Some(&labels), "v1"));
        assert!(!labeled_for(Some(&labels), "v2"));
        assert!(
            !labeled_for(None, "v1"),
            "the VM's original PVC carries no such label"
        );
    }
}
