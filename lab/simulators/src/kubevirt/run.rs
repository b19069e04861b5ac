//! The KubeVirt simulator's I/O: caches of VMs, VMIs, PVCs and Nodes, one [`plan`] per VM per
//! tick, and the writes it asks for.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::warn;

use super::plan::{EventTarget, Observed, PvcFacts, VMI_FINALIZERS, VmiAction, plan};
use super::status::phase;
use crate::objects::{
    DATA_COUNTER_ANNOTATION, data_counter, virtual_machine, virtual_machine_instance,
};
use crate::runtime::{Error, Involved, Recorder, Writer, watch};

/// The KubeVirt simulator of one cluster.
pub struct KubeVirt {
    writer: Writer,
    vms: Store<DynamicObject>,
    vmis: Store<DynamicObject>,
    pvcs: Store<PersistentVolumeClaim>,
    nodes: Store<Node>,
    recorder: Recorder,
    writes_per_tick: u64,
}

impl KubeVirt {
    /// Start the watches; the simulator acts on [`KubeVirt::pass`].
    pub fn new(writer: Writer, writes_per_tick: u64, tasks: &mut Vec<JoinHandle<()>>) -> Self {
        let client = writer.client.clone();
        KubeVirt {
            vms: watch(
                Api::all_with(client.clone(), &virtual_machine()),
                virtual_machine(),
                tasks,
            ),
            vmis: watch(
                Api::all_with(client.clone(), &virtual_machine_instance()),
                virtual_machine_instance(),
                tasks,
            ),
            pvcs: watch(Api::all(client.clone()), (), tasks),
            nodes: watch(Api::all(client), (), tasks),
            recorder: Recorder::new(writer.clone(), "virt-controller"),
            writer,
            writes_per_tick,
        }
    }

    /// Wait until every cache has its first list.
    pub async fn ready(&self) {
        let _ = self.vms.wait_until_ready().await;
        let _ = self.vmis.wait_until_ready().await;
        let _ = self.pvcs.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
    }

    /// One reconcile of every VM (and of VMIs whose VM is gone).
    pub async fn pass(&mut self, now: Timestamp) {
        let nodes: Vec<Node> = self.nodes.state().iter().map(|n| (**n).clone()).collect();
        let mut vms = self.vms.state();
        vms.sort_by_key(|vm| (vm.metadata.namespace.clone(), vm.metadata.name.clone()));
        // One look at the PVCs per pass, not one per VM: a pass stays linear in the fleet.
        let pvcs = self.pvc_facts();
        let empty = BTreeMap::new();
        for vm in &vms {
            let namespace = vm.metadata.namespace.as_deref().unwrap_or_default();
            let in_namespace = pvcs.get(namespace).unwrap_or(&empty);
            if let Err(error) = self.reconcile_vm(vm, in_namespace, &nodes, now).await {
                warn!(%error, "KubeVirt simulator write failed");
            }
        }
        let names: HashSet<(Option<&str>, Option<&str>)> = vms
            .iter()
            .map(|vm| {
                (
                    vm.metadata.namespace.as_deref(),
                    vm.metadata.name.as_deref(),
                )
            })
            .collect();
        for vmi in self.vmis.state() {
            let orphan = !names.contains(&(
                vmi.metadata.namespace.as_deref(),
                vmi.metadata.name.as_deref(),
            ));
            if orphan && let Err(error) = self.reap_orphan(&vmi).await {
                warn!(%error, "KubeVirt simulator write failed");
            }
        }
    }

    /// What the PVCs show, by namespace and name.
    fn pvc_facts(&self) -> HashMap<String, BTreeMap<String, PvcFacts>> {
        let mut by_namespace: HashMap<String, BTreeMap<String, PvcFacts>> = HashMap::new();
        for p in self.pvcs.state() {
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into());
            let facts = if phase == "Bound" {
                PvcFacts::Bound
            } else {
                PvcFacts::Unbound(phase)
            };
            by_namespace
                .entry(p.metadata.namespace.clone().unwrap_or_default())
                .or_default()
                .insert(p.metadata.name.clone().unwrap_or_default(), facts);
        }
        by_namespace
    }

    async fn reconcile_vm(
        &mut self,
        vm: &DynamicObject,
        pvcs: &BTreeMap<String, PvcFacts>,
        nodes: &[Node],
        now: Timestamp,
    ) -> Result<(), Error> {
        let namespace = vm.metadata.namespace.clone().unwrap_or_default();
        let name = vm.metadata.name.clone().unwrap_or_default();
        let vmi = self
            .vmis
            .get(&ObjectRef::new_with(&name, virtual_machine_instance()).within(&namespace));
        let plan = plan(Observed {
            vm,
            vmi: vmi.as_deref(),
            pvcs,
            nodes,
            now,
        });
        let client = self.writer.client.clone();
        let vm_api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &namespace, &virtual_machine());
        let vmi_api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &namespace, &virtual_machine_instance());
        let w = self.writer.clone();
        match &plan.vmi {
            VmiAction::None => {}
            VmiAction::Create(body) => {
                if let Ok(obj) = serde_json::from_value::<DynamicObject>(body.clone()) {
                    w.create(&vmi_api, "VirtualMachineInstance", &obj).await?;
                }
            }
            VmiAction::Delete => w.delete(&vmi_api, "VirtualMachineInstance", &name).await?,
            VmiAction::Update(patch) => {
                w.merge(
                    &vmi_api,
                    "VirtualMachineInstance",
                    &name,
                    false,
                    patch.clone(),
                )
                .await?;
            }
            VmiAction::ReleaseFinalizers(remaining) => {
                w.merge(
                    &vmi_api,
                    "VirtualMachineInstance",
                    &name,
                    false,
                    json!({"metadata": {"finalizers": remaining}}),
                )
                .await?;
            }
        }
        if let Some(status) = &plan.vm_status {
            w.merge(
                &vm_api,
                "VirtualMachine",
                &name,
                true,
                json!({ "status": status }),
            )
            .await?;
        }
        for event in &plan.events {
            let about = match event.target {
                EventTarget::Vm => involved(vm, "VirtualMachine"),
                EventTarget::Vmi => match vmi.as_deref() {
                    Some(vmi) => involved(vmi, "VirtualMachineInstance"),
                    None => continue,
                },
            };
            self.recorder
                .record(&about, event.type_, event.reason, &event.message, now)
                .await?;
        }
        for claim in &plan.writes {
            self.write(&namespace, claim).await?;
        }
        Ok(())
    }

    /// The guest writes to a PVC: advance its data counter. The patch carries the cached
    /// resourceVersion, so a stale cache loses the write (409) instead of moving a counter back.
    async fn write(&self, namespace: &str, claim: &str) -> Result<(), Error> {
        let Some(pvc) = self.pvcs.get(&ObjectRef::new(claim).within(namespace)) else {
            return Ok(());
        };
        let counter = data_counter(pvc.metadata.annotations.as_ref()) + self.writes_per_tick;
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(self.writer.client.clone(), namespace);
        self.writer
            .merge(
                &api,
                "PersistentVolumeClaim",
                claim,
                false,
                json!({"metadata": {
                    "resourceVersion": pvc.metadata.resource_version,
                    "annotations": {DATA_COUNTER_ANNOTATION: counter.to_string()},
                }}),
            )
            .await
    }

    /// A VMI whose VM is gone: stop it and let it go, as garbage collection plus virt-handler
    /// would.
    async fn reap_orphan(&self, vmi: &DynamicObject) -> Result<(), Error> {
        let namespace = vmi.metadata.namespace.clone().unwrap_or_default();
        let name = vmi.metadata.name.clone().unwrap_or_default();
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.writer.client.clone(),
            &namespace,
            &virtual_machine_instance(),
        );
        let vmi_phase = vmi
            .data
            .pointer("/status/phase")
            .and_then(|p| p.as_str())
            .unwrap_or("");
        let ours = vmi
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "VirtualMachine");
        if !ours {
            return Ok(());
        }
        if vmi.metadata.deletion_timestamp.is_none() {
            return self
                .writer
                .delete(&api, "VirtualMachineInstance", &name)
                .await;
        }
        let patch = if phase::is_final(vmi_phase) {
            let remaining: Vec<&String> = vmi
                .metadata
                .finalizers
                .iter()
                .flatten()
                .filter(|f| !VMI_FINALIZERS.contains(&f.as_str()))
                .collect();
            json!({"metadata": {"finalizers": remaining}})
        } else {
            json!({"status": {"phase": if vmi_phase == phase::RUNNING { phase::SUCCEEDED } else { phase::FAILED }}})
        };
        self.writer
            .merge(&api, "VirtualMachineInstance", &name, false, patch)
            .await
    }
}

fn involved(obj: &DynamicObject, kind: &str) -> Involved {
    Involved {
        api_version: "kubevirt.io/v1".into(),
        kind: kind.into(),
        namespace: obj.metadata.namespace.clone().unwrap_or_default(),
        name: obj.metadata.name.clone().unwrap_or_default(),
        uid: obj.metadata.uid.clone().unwrap_or_default(),
    }
}
