//! One VirtualMachine's reconcile as a pure function: from the VM, its VMI, the PVCs and Nodes
//! observed this tick to the writes virt-controller, virt-handler and kube-scheduler would make.
//! One VMI step per tick, so a test sees Pending, Scheduling, Scheduled and Running in turn.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Toleration};
use kube::api::DynamicObject;
use serde_json::{Map, Value, json};

use super::schedule::schedule;
use super::status::{StatusFacts, phase, printable_status};
use crate::objects::{Condition, changed_fields, conditions_of, rfc3339, settle};

/// VMI finalizers KubeVirt sets (KUBEVIRT.md §3).
pub const VMI_FINALIZERS: [&str; 2] = [
    "kubevirt.io/virtualMachineControllerFinalize",
    "kubevirt.io/foregroundDeleteVirtualMachine",
];

/// What the simulator knows about a PVC the VM references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PvcFacts {
    /// `status.phase: Bound`.
    Bound,
    /// Any other phase (usually Pending).
    Unbound(String),
}

/// Everything one VM's reconcile reads.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// The VirtualMachine.
    pub vm: &'a DynamicObject,
    /// The VMI of the same name, if any.
    pub vmi: Option<&'a DynamicObject>,
    /// PVCs of the VM's namespace by name; a missing name is a missing PVC.
    pub pvcs: &'a BTreeMap<String, PvcFacts>,
    /// The cluster's Nodes.
    pub nodes: &'a [Node],
    /// Simulated time.
    pub now: Timestamp,
}

/// The write to make to the VMI this tick.
#[derive(Clone, Debug, PartialEq)]
pub enum VmiAction {
    /// Nothing to do.
    None,
    /// Create this VMI.
    Create(Value),
    /// Delete the VMI (its finalizers keep it until it is final).
    Delete,
    /// Merge-patch the VMI (status and labels).
    Update(Value),
    /// Set the finalizers to this list, dropping KubeVirt's, so the VMI goes away.
    ReleaseFinalizers(Vec<String>),
}

/// Which object an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventTarget {
    /// The VirtualMachine.
    Vm,
    /// The VirtualMachineInstance (and, for scheduling, its virt-launcher pod).
    Vmi,
}

/// A Kubernetes Event to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// The object it is about.
    pub target: EventTarget,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human message.
    pub message: String,
}

/// The writes of one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The VMI write.
    pub vmi: VmiAction,
    /// Merge patch for the VM's `status` (changed fields only); `None` when unchanged.
    pub vm_status: Option<Value>,
    /// Events to record.
    pub events: Vec<EventSpec>,
    /// PVCs the running guest wrote to this tick.
    pub writes: Vec<String>,
}

/// `spec.runStrategy` or the legacy `spec.running`, as `RunStrategy()` resolves them [T].
pub fn run_strategy(spec: &Value) -> Result<String, String> {
    let strategy = spec.get("runStrategy").and_then(Value::as_str);
    let running = spec.get("running").and_then(Value::as_bool);
    match (strategy, running) {
        (Some(_), Some(_)) => Err("running and runstrategy are mutually exclusive".to_owned()),
        (Some(s), None) => Ok(s.to_owned()),
        (None, Some(true)) => Ok("Always".to_owned()),
        (None, Some(false)) | (None, None) => Ok("Halted".to_owned()),
    }
}

/// PVC names mounted by a pod spec's `volumes` (`persistentVolumeClaim` and `dataVolume`).
pub fn claims(spec: &Value) -> Vec<String> {
    spec.get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.pointer("/persistentVolumeClaim/claimName")
                .or_else(|| v.pointer("/dataVolume/name"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

struct Vmi<'a> {
    obj: &'a DynamicObject,
    phase: String,
    deleting: bool,
    conditions: Vec<Condition>,
}

impl<'a> Vmi<'a> {
    fn new(obj: &'a DynamicObject) -> Self {
        let status = obj.data.get("status").cloned().unwrap_or(Value::Null);
        Vmi {
            obj,
            phase: status
                .get("phase")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            deleting: obj.metadata.deletion_timestamp.is_some(),
            conditions: conditions_of(&status),
        }
    }

    fn is_final(&self) -> bool {
        phase::is_final(&self.phase)
    }

    fn uid(&self) -> &str {
        self.obj.metadata.uid.as_deref().unwrap_or("")
    }
}

/// A `status.stateChangeRequests` entry.
#[derive(Clone, Debug, PartialEq)]
struct Request {
    action: String,
    uid: Option<String>,
    raw: Value,
}

fn requests(status: &Value) -> Vec<Request> {
    status
        .get("stateChangeRequests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| Request {
            action: r
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            uid: r.get("uid").and_then(Value::as_str).map(str::to_owned),
            raw: r.clone(),
        })
        .collect()
}

/// Reconcile one VM.
pub fn plan(o: Observed<'_>) -> Plan {
    let spec = o.vm.data.get("spec").cloned().unwrap_or(Value::Null);
    let status = o.vm.data.get("status").cloned().unwrap_or(Value::Null);
    let mut plan = Plan {
        vmi: VmiAction::None,
        vm_status: None,
        events: Vec::new(),
        writes: Vec::new(),
    };
    // The API server refuses such an object; if one got through, KubeVirt does nothing with it.
    let Ok(strategy) = run_strategy(&spec) else {
        return plan;
    };
    let vm_deleting = o.vm.metadata.deletion_timestamp.is_some();
    let vmi = o.vmi.map(Vmi::new);
    let mut pending_requests = requests(&status);
    let name = o.vm.metadata.name.clone().unwrap_or_default();

    // Expectations, for printableStatus.
    let has_request = |action: &str| pending_requests.iter().any(|r| r.action == action);
    let (mut start_expected, mut stop_expected) = match strategy.as_str() {
        "Always" => (true, false),
        "Halted" => (false, vmi.is_some()),
        "RerunOnFailure" => (
            vmi.as_ref().is_none_or(|v| v.phase != phase::SUCCEEDED),
            false,
        ),
        "Once" => (vmi.is_none(), false),
        _ => (false, false),
    };
    if has_request("Stop") {
        stop_expected = true;
        start_expected = has_request("Start");
    } else if has_request("Start") {
        start_expected = true;
    }
    if vm_deleting {
        start_expected = false;
    }

    // The VM controller's decision: at most one VMI write.
    let delete = |plan: &mut Plan, vmi: &Vmi<'_>| {
        plan.vmi = VmiAction::Delete;
        plan.events.push(EventSpec {
            target: EventTarget::Vm,
            type_: "Normal",
            reason: "SuccessfulDelete",
            message: format!(
                "Stopped the virtual machine by deleting the virtual machine instance {}",
                vmi.uid()
            ),
        });
    };
    let create = |plan: &mut Plan| {
        plan.vmi = VmiAction::Create(new_vmi(o.vm, &spec));
        plan.events.push(EventSpec {
            target: EventTarget::Vm,
            type_: "Normal",
            reason: "SuccessfulCreate",
            message: format!(
                "Started the virtual machine by creating the new virtual machine instance {name}"
            ),
        });
    };
    let live_vmi = vmi.as_ref().filter(|v| !v.deleting);
    if vm_deleting {
        if let Some(v) = live_vmi {
            delete(&mut plan, v);
        }
    } else if let Some(first) = pending_requests.first().cloned() {
        // Requests from the start/stop/restart subresources, in order.
        match (first.action.as_str(), live_vmi) {
            ("Stop", Some(v)) if first.uid.as_deref().is_none_or(|u| u == v.uid()) => {
                delete(&mut plan, v);
            }
            ("Stop", _) if vmi.as_ref().is_some_and(|v| v.deleting) => {}
            ("Start", Some(v)) if v.is_final() => delete(&mut plan, v),
            ("Start", None) if vmi.is_none() => {
                create(&mut plan);
                pending_requests.remove(0);
            }
            ("Start", None) => {}
            _ => {
                pending_requests.remove(0);
            }
        }
    } else {
        match (strategy.as_str(), live_vmi) {
            ("Halted", Some(v)) => delete(&mut plan, v),
            ("Always", Some(v)) if v.is_final() => delete(&mut plan, v),
            ("RerunOnFailure", Some(v)) if v.phase == phase::FAILED => delete(&mut plan, v),
            ("Always" | "RerunOnFailure" | "Once", None) if vmi.is_none() => create(&mut plan),
            _ => {}
        }
    }

    // virt-handler / virt-controller moving the VMI on, when the VM controller left it alone.
    if plan.vmi == VmiAction::None
        && let Some(v) = vmi.as_ref()
    {
        step_vmi(v, o, &mut plan);
    }

    // VM status.
    let template_claims = claims(spec.pointer("/template/spec").unwrap_or(&Value::Null));
    let pvc_unbound = template_claims
        .iter()
        .any(|c| matches!(o.pvcs.get(c), Some(PvcFacts::Unbound(_))));
    let printable = printable_status(StatusFacts {
        vm_deleting,
        vmi: vmi
            .as_ref()
            .map(|v| (v.phase.as_str(), v.deleting, v.conditions.as_slice())),
        stop_expected,
        start_expected,
        pvc_unbound,
    });
    let ready = vmi.as_ref().is_some_and(|v| {
        v.phase == phase::RUNNING
            && v.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.is_true())
    });
    let mut conditions = match vmi.as_ref() {
        None => vec![Condition::new(
            "Ready",
            false,
            Some("VMINotExists"),
            Some("VMI does not exist"),
        )],
        Some(v) => {
            let mut c: Vec<Condition> = v.conditions.clone();
            if !c.iter().any(|c| c.type_ == "Ready") {
                c.insert(
                    0,
                    Condition::new(
                        "Ready",
                        false,
                        Some("VMIConditionMissing"),
                        Some("VMI is missing the Ready condition"),
                    ),
                );
            }
            c
        }
    };
    conditions = settle(conditions, &conditions_of(&status), o.now);
    let mut new_status = Map::new();
    new_status.insert("created".into(), json!(vmi.is_some()));
    new_status.insert("ready".into(), json!(ready));
    new_status.insert("printableStatus".into(), json!(printable));
    new_status.insert("runStrategy".into(), json!(strategy));
    new_status.insert("conditions".into(), json!(conditions));
    if let Some(generation) = o.vm.metadata.generation {
        new_status.insert("observedGeneration".into(), json!(generation));
        new_status.insert("desiredGeneration".into(), json!(generation));
    }
    new_status.insert(
        "stateChangeRequests".into(),
        if pending_requests.is_empty() {
            Value::Null
        } else {
            Value::Array(pending_requests.iter().map(|r| r.raw.clone()).collect())
        },
    );
    plan.vm_status = changed_fields(&status, &new_status).map(Value::Object);
    plan
}

fn new_vmi(vm: &DynamicObject, spec: &Value) -> Value {
    let template = spec.get("template").cloned().unwrap_or(Value::Null);
    json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {
            "name": vm.metadata.name,
            "namespace": vm.metadata.namespace,
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
            "ownerReferences": [{
                "apiVersion": "kubevirt.io/v1",
                "kind": "VirtualMachine",
                "name": vm.metadata.name,
                "uid": vm.metadata.uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
            "finalizers": VMI_FINALIZERS,
        },
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    })
}

fn tolerations(vmi_spec: &Value) -> Vec<Toleration> {
    vmi_spec
        .get("tolerations")
        .cloned()
        .and_then(|t| serde_json::from_value(t).ok())
        .unwrap_or_default()
}

const POD_NOT_EXISTS: &str = "virt-launcher pod has not yet been scheduled";

/// One lifecycle step of an existing VMI.
fn step_vmi(v: &Vmi<'_>, o: Observed<'_>, plan: &mut Plan) {
    let status = v.obj.data.get("status").cloned().unwrap_or(Value::Null);
    let vmi_spec = v.obj.data.get("spec").cloned().unwrap_or(Value::Null);
    let namespace = v.obj.metadata.namespace.as_deref().unwrap_or("");
    let ready = |ok: bool, reason: Option<&str>, message: Option<&str>| {
        Condition::new("Ready", ok, reason, message)
    };
    let (next_phase, conditions, node): (&str, Vec<Condition>, Option<String>) = if v.deleting {
        if v.is_final() {
            let remaining: Vec<String> = v
                .obj
                .metadata
                .finalizers
                .iter()
                .flatten()
                .filter(|f| !VMI_FINALIZERS.contains(&f.as_str()))
                .cloned()
                .collect();
            plan.vmi = VmiAction::ReleaseFinalizers(remaining);
            return;
        }
        // The guest is signalled and shuts down; a VMI that never ran ends Failed.
        let ended = if matches!(v.phase.as_str(), phase::RUNNING | phase::SCHEDULED) {
            phase::SUCCEEDED
        } else {
            phase::FAILED
        };
        (
            ended,
            vec![ready(
                false,
                Some("PodTerminating"),
                Some("virt-launcher pod is terminating"),
            )],
            None,
        )
    } else {
        match v.phase.as_str() {
            "" => (
                phase::PENDING,
                vec![ready(false, Some("PodNotExists"), Some(POD_NOT_EXISTS))],
                None,
            ),
            phase::PENDING => {
                let claims = claims(&vmi_spec);
                if let Some(missing) = claims.iter().find(|c| !o.pvcs.contains_key(*c)) {
                    let message = format!(
                        "PVC {namespace}/{missing} does not exist, waiting for it to appear"
                    );
                    plan.events.push(EventSpec {
                        target: EventTarget::Vmi,
                        type_: "Normal",
                        reason: "FailedPvcNotFound",
                        message: message.clone(),
                    });
                    (
                        phase::PENDING,
                        vec![
                            ready(false, Some("PodNotExists"), Some(POD_NOT_EXISTS)),
                            Condition::new(
                                "Synchronized",
                                false,
                                Some("FailedPvcNotFound"),
                                Some(&message),
                            ),
                            Condition::new(
                                "PodScheduled",
                                false,
                                Some("Unschedulable"),
                                Some(&message),
                            ),
                        ],
                        None,
                    )
                } else if claims
                    .iter()
                    .any(|c| o.pvcs.get(c) != Some(&PvcFacts::Bound))
                {
                    // Immediate binding: no pod until every PVC is Bound.
                    (
                        phase::PENDING,
                        vec![ready(false, Some("PodNotExists"), Some(POD_NOT_EXISTS))],
                        None,
                    )
                } else {
                    (
                        phase::SCHEDULING,
                        vec![ready(false, Some("PodConditionMissing"), None)],
                        None,
                    )
                }
            }
            phase::SCHEDULING => match schedule(o.nodes, &tolerations(&vmi_spec)) {
                Ok(node) => (
                    phase::SCHEDULED,
                    vec![ready(
                        false,
                        Some("GuestNotRunning"),
                        Some("Guest VM is not reported as running"),
                    )],
                    Some(node),
                ),
                Err(message) => {
                    plan.events.push(EventSpec {
                        target: EventTarget::Vmi,
                        type_: "Warning",
                        reason: "FailedScheduling",
                        message: message.clone(),
                    });
                    (
                        phase::SCHEDULING,
                        vec![
                            ready(false, Some("PodConditionMissing"), None),
                            Condition::new(
                                "PodScheduled",
                                false,
                                Some("Unschedulable"),
                                Some(&message),
                            ),
                        ],
                        None,
                    )
                }
            },
            phase::SCHEDULED | phase::RUNNING => {
                if v.phase == phase::RUNNING {
                    plan.writes = claims(&vmi_spec);
                }
                (phase::RUNNING, vec![ready(true, None, None)], None)
            }
            // Final, or a phase the simulator never sets: leave it.
            _ => return,
        }
    };

    let conditions = settle(conditions, &v.conditions, o.now);
    let mut transitions = status
        .get("phaseTransitionTimestamps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if next_phase != v.phase {
        transitions.push(json!({"phase": next_phase, "phaseTransitionTimestamp": rfc3339(o.now)}));
    }
    let mut new_status = Map::new();
    new_status.insert("phase".into(), json!(next_phase));
    new_status.insert("conditions".into(), json!(conditions));
    new_status.insert(
        "phaseTransitionTimestamps".into(),
        Value::Array(transitions),
    );
    if let Some(node) = &node {
        new_status.insert("nodeName".into(), json!(node));
    }
    let Some(diff) = changed_fields(&status, &new_status) else {
        return;
    };
    let mut patch = json!({ "status": diff });
    if let Some(node) = node {
        patch["metadata"] = json!({"labels": {"kubevirt.io/nodeName": node}});
    }
    plan.vmi = VmiAction::Update(patch);
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeSpec, Taint};
    use kube::api::ObjectMeta;
    use kube::core::ApiResource;

    use super::*;
    use crate::objects::virtual_machine;

    fn now() -> Timestamp {
        "2025-05-01T10:00:00Z".parse().unwrap()
    }

    fn vm(spec: Value) -> DynamicObject {
        let mut vm = DynamicObject::new("web-server", &virtual_machine()).within("production");
        vm.metadata.uid = Some("vm-uid".into());
        vm.metadata.generation = Some(1);
        let mut spec = spec;
        spec["template"] = json!({
            "metadata": {"labels": {"kubevirt.io/vm": "web-server"}},
            "spec": {"volumes": [
                {"name": "root", "persistentVolumeClaim": {"claimName": "web-server-root"}},
                {"name": "data", "dataVolume": {"name": "web-server-data"}},
                {"name": "cloudinit", "cloudInitNoCloud": {"userData": "#cloud-config"}}
            ]}
        });
        vm.data = json!({ "spec": spec });
        vm
    }

    fn vmi(phase: &str, deleting: bool, conditions: Value) -> DynamicObject {
        let ar = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "kubevirt.io",
            "v1",
            "VirtualMachineInstance",
        ));
        let mut vmi = DynamicObject::new("web-server", &ar).within("production");
        vmi.metadata.uid = Some("vmi-uid".into());
        vmi.metadata.finalizers = Some(VMI_FINALIZERS.iter().map(|f| (*f).to_owned()).collect());
        if deleting {
            vmi.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    "2025-05-01T09:59:00Z".parse().unwrap(),
                ));
        }
        vmi.data = json!({
            "spec": {"volumes": [
                {"name": "root", "persistentVolumeClaim": {"claimName": "web-server-root"}},
                {"name": "data", "dataVolume": {"name": "web-server-data"}}
            ]},
            "status": {"phase": phase, "conditions": conditions, "phaseTransitionTimestamps": []}
        });
        vmi
    }

    fn node(name: &str, taint: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: taint.map(|k| {
                    vec![Taint {
                        key: k.into(),
                        effect: "NoSchedule".into(),
                        value: None,
                        time_added: None,
                    }]
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn bound() -> BTreeMap<String, PvcFacts> {
        [
            ("web-server-root".to_owned(), PvcFacts::Bound),
            ("web-server-data".to_owned(), PvcFacts::Bound),
        ]
        .into()
    }

    fn run(
        vm: &DynamicObject,
        vmi: Option<&DynamicObject>,
        pvcs: &BTreeMap<String, PvcFacts>,
        nodes: &[Node],
    ) -> Plan {
        plan(Observed {
            vm,
            vmi,
            pvcs,
            nodes,
            now: now(),
        })
    }

    fn printable(p: &Plan) -> Option<&str> {
        p.vm_status.as_ref()?.get("printableStatus")?.as_str()
    }

    #[test]
    fn run_strategies_and_legacy_running_resolve_as_kubevirt_does() {
        let table = [
            (json!({"runStrategy": "Manual"}), Ok("Manual")),
            (json!({"running": true}), Ok("Always")),
            (json!({"running": false}), Ok("Halted")),
            (json!({}), Ok("Halted")),
            (json!({"running": true, "runStrategy": "Always"}), Err(())),
        ];
        for (spec, expected) in table {
            let got = run_strategy(&spec);
            assert_eq!(got.as_deref().map_err(|_| ()), expected, "{spec}");
        }
    }

    #[test]
    fn an_always_vm_without_vmi_creates_one_owned_by_the_vm_with_kubevirts_finalizers() {
        let p = run(&vm(json!({"runStrategy": "Always"})), None, &bound(), &[]);
        let VmiAction::Create(body) = &p.vmi else {
            panic!("expected a create, got {:?}", p.vmi)
        };
        assert_eq!(body["metadata"]["name"], "web-server");
        assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "vm-uid");
        assert_eq!(body["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(body["metadata"]["finalizers"], json!(VMI_FINALIZERS));
        assert_eq!(
            body["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "web-server-root"
        );
        assert_eq!(printable(&p), Some("Starting"));
        assert_eq!(p.events[0].reason, "SuccessfulCreate");
    }

    #[test]
    fn legacy_running_true_starts_and_running_false_stops() {
        let p = run(&vm(json!({"running": true})), None, &bound(), &[]);
        assert!(matches!(p.vmi, VmiAction::Create(_)));
        let running = vmi(
            "Running",
            false,
            json!([{"type": "Ready", "status": "True"}]),
        );
        let p = run(
            &vm(json!({"running": false})),
            Some(&running),
            &bound(),
            &[],
        );
        assert_eq!(p.vmi, VmiAction::Delete);
        assert_eq!(printable(&p), Some("Stopping"));
    }

    #[test]
    fn halted_and_manual_vms_without_requests_create_nothing() {
        for strategy in ["Halted", "Manual"] {
            let p = run(&vm(json!({"runStrategy": strategy})), None, &bound(), &[]);
            assert_eq!(p.vmi, VmiAction::None, "{strategy}");
            let status = p.vm_status.unwrap();
            assert_eq!(status["printableStatus"], "Stopped");
            assert_eq!(status["created"], false);
            assert_eq!(status["conditions"][0]["reason"], "VMINotExists");
            assert_eq!(status["conditions"][0]["message"], "VMI does not exist");
        }
    }

    #[test]
    fn a_manual_start_request_creates_the_vmi_and_is_consumed() {
        let mut m = vm(json!({"runStrategy": "Manual"}));
        m.data["status"] = json!({"stateChangeRequests": [{"action": "Start"}]});
        let p = run(&m, None, &bound(), &[]);
        assert!(matches!(p.vmi, VmiAction::Create(_)));
        assert_eq!(p.vm_status.unwrap()["stateChangeRequests"], Value::Null);
    }

    #[test]
    fn a_stop_request_deletes_the_vmi_and_stays_until_it_is_gone() {
        let mut m = vm(json!({"runStrategy": "Manual"}));
        m.data["status"] = json!({"stateChangeRequests": [{"action": "Stop", "uid": "vmi-uid"}]});
        let running = vmi("Running", false, json!([]));
        let p = run(&m, Some(&running), &bound(), &[]);
        assert_eq!(p.vmi, VmiAction::Delete);
        let p = run(&m, None, &bound(), &[]);
        assert_eq!(p.vm_status.unwrap()["stateChangeRequests"], Value::Null);
    }

    #[test]
    fn rerun_on_failure_restarts_a_failed_vmi_but_not_a_shut_down_one() {
        let m = vm(json!({"runStrategy": "RerunOnFailure"}));
        let failed = vmi("Failed", false, json!([]));
        assert_eq!(run(&m, Some(&failed), &bound(), &[]).vmi, VmiAction::Delete);
        let succeeded = vmi("Succeeded", false, json!([]));
        let p = run(&m, Some(&succeeded), &bound(), &[]);
        assert_eq!(p.vmi, VmiAction::None);
        assert_eq!(printable(&p), Some("Stopped"));
    }

    #[test]
    fn always_restarts_after_any_termination_and_once_never_does() {
        let succeeded = vmi("Succeeded", false, json!([]));
        let always = vm(json!({"runStrategy": "Always"}));
        assert_eq!(
            run(&always, Some(&succeeded), &bound(), &[]).vmi,
            VmiAction::Delete
        );
        let once = vm(json!({"runStrategy": "Once"}));
        assert_eq!(
            run(&once, Some(&succeeded), &bound(), &[]).vmi,
            VmiAction::None
        );
    }

    /// The VMI status after applying the plan's merge patch to `before`.
    fn status_after(before: &DynamicObject, p: &Plan) -> Value {
        let mut status = before.data["status"].clone();
        match &p.vmi {
            VmiAction::Update(patch) => {
                for (k, v) in patch["status"].as_object().unwrap() {
                    status[k] = v.clone();
                }
            }
            other => panic!("expected an update, got {other:?}"),
        }
        status
    }

    #[test]
    fn a_vmi_walks_pending_scheduling_scheduled_running_one_step_per_tick() {
        let m = vm(json!({"runStrategy": "Always"}));
        let nodes = [node("node-1", None)];
        let table = [
            ("", "Pending", "Starting"),
            ("Pending", "Scheduling", "Starting"),
            ("Scheduling", "Scheduled", "Starting"),
            ("Scheduled", "Running", "Starting"),
        ];
        for (from, to, vm_status) in table {
            let current = vmi(from, false, json!([]));
            let p = run(&m, Some(&current), &bound(), &nodes);
            assert_eq!(status_after(&current, &p)["phase"], to, "from {from:?}");
            assert_eq!(printable(&p), Some(vm_status), "from {from:?}");
        }
        let scheduled = run(
            &m,
            Some(&vmi("Scheduling", false, json!([]))),
            &bound(),
            &nodes,
        );
        let VmiAction::Update(patch) = &scheduled.vmi else {
            panic!()
        };
        assert_eq!(patch["status"]["nodeName"], "node-1");
        assert_eq!(
            patch["metadata"]["labels"]["kubevirt.io/nodeName"],
            "node-1"
        );
    }

    #[test]
    fn a_running_vm_is_ready_and_writes_to_each_mounted_pvc() {
        let m = vm(json!({"runStrategy": "Always"}));
        let running = vmi(
            "Running",
            false,
            json!([{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2025-05-01T09:00:00Z"}]),
        );
        let p = run(&m, Some(&running), &bound(), &[]);
        assert_eq!(p.vmi, VmiAction::None, "nothing changes on the VMI");
        assert_eq!(p.writes, vec!["web-server-root", "web-server-data"]);
        let status = p.vm_status.unwrap();
        assert_eq!(
            (
                status["printableStatus"].as_str(),
                status["ready"].as_bool()
            ),
            (Some("Running"), Some(true))
        );
        assert_eq!(
            status["conditions"][0]["lastTransitionTime"],
            "2025-05-01T09:00:00Z"
        );
    }

    #[test]
    fn a_missing_pvc_keeps_the_vmi_pending_with_failed_pvc_not_found() {
        let m = vm(json!({"runStrategy": "Always"}));
        let pvcs: BTreeMap<_, _> = [("web-server-root".to_owned(), PvcFacts::Bound)].into();
        let pending = vmi("Pending", false, json!([]));
        let p = run(&m, Some(&pending), &pvcs, &[]);
        let status = status_after(&pending, &p);
        assert_eq!(status["phase"], "Pending");
        let message = "PVC production/web-server-data does not exist, waiting for it to appear";
        assert_eq!(status["conditions"][1]["type"], "Synchronized");
        assert_eq!(status["conditions"][1]["reason"], "FailedPvcNotFound");
        assert_eq!(status["conditions"][1]["message"], message);
        assert_eq!(status["conditions"][2]["reason"], "Unschedulable");
        assert_eq!(
            p.events,
            vec![EventSpec {
                target: EventTarget::Vmi,
                type_: "Normal",
                reason: "FailedPvcNotFound",
                message: message.into()
            }]
        );
        // Next tick the VM reports it.
        let stuck = vmi("Pending", false, status["conditions"].clone());
        assert_eq!(
            printable(&run(&m, Some(&stuck), &pvcs, &[])),
            Some("ErrorPvcNotFound")
        );
    }

    #[test]
    fn an_unbound_pvc_keeps_the_vmi_pending_and_the_vm_waiting_for_volume_binding() {
        let m = vm(json!({"runStrategy": "Always"}));
        let mut pvcs = bound();
        pvcs.insert(
            "web-server-data".into(),
            PvcFacts::Unbound("Pending".into()),
        );
        let pending = vmi("Pending", false, json!([]));
        let p = run(&m, Some(&pending), &pvcs, &[]);
        assert_eq!(status_after(&pending, &p)["phase"], "Pending");
        assert_eq!(printable(&p), Some("WaitingForVolumeBinding"));
    }

    #[test]
    fn a_taint_on_every_node_keeps_the_vmi_scheduling_and_the_vm_unschedulable() {
        let m = vm(json!({"runStrategy": "Always"}));
        let nodes = [node("node-1", Some("siterecovery.trilio.io/not-ready"))];
        let scheduling = vmi("Scheduling", false, json!([]));
        let p = run(&m, Some(&scheduling), &bound(), &nodes);
        let status = status_after(&scheduling, &p);
        assert_eq!(status["phase"], "Scheduling");
        let scheduled = &status["conditions"][1];
        assert_eq!(
            (scheduled["type"].as_str(), scheduled["reason"].as_str()),
            (Some("PodScheduled"), Some("Unschedulable"))
        );
        assert!(
            scheduled["message"]
                .as_str()
                .unwrap()
                .contains("{siterecovery.trilio.io/not-ready: }")
        );
        assert_eq!(p.events[0].reason, "FailedScheduling");
        let stuck = vmi("Scheduling", false, status["conditions"].clone());
        assert_eq!(
            printable(&run(&m, Some(&stuck), &bound(), &nodes)),
            Some("ErrorUnschedulable")
        );
    }

    #[test]
    fn a_deleted_vmi_ends_succeeded_then_releases_kubevirts_finalizers() {
        let m = vm(json!({"runStrategy": "Halted"}));
        let stopping = vmi("Running", true, json!([]));
        let p = run(&m, Some(&stopping), &bound(), &[]);
        assert_eq!(status_after(&stopping, &p)["phase"], "Succeeded");
        assert_eq!(
            status_after(&stopping, &p)["conditions"][0]["reason"],
            "PodTerminating"
        );
        assert_eq!(printable(&p), Some("Stopping"));
        let p = run(&m, Some(&vmi("Succeeded", true, json!([]))), &bound(), &[]);
        assert_eq!(p.vmi, VmiAction::ReleaseFinalizers(vec![]));
        assert_eq!(printable(&p), Some("Stopped"));
    }

    #[test]
    fn a_vmi_deleted_before_it_ran_ends_failed() {
        let m = vm(json!({"runStrategy": "Halted"}));
        let never_ran = vmi("Scheduling", true, json!([]));
        let p = run(&m, Some(&never_ran), &bound(), &[]);
        assert_eq!(status_after(&never_ran, &p)["phase"], "Failed");
    }

    #[test]
    fn a_deleted_vm_deletes_its_vmi_and_shows_terminating() {
        let mut m = vm(json!({"runStrategy": "Always"}));
        m.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
        let p = run(&m, Some(&vmi("Running", false, json!([]))), &bound(), &[]);
        assert_eq!(p.vmi, VmiAction::Delete);
        assert_eq!(printable(&p), Some("Terminating"));
    }

    #[test]
    fn an_unchanged_vm_status_is_not_rewritten() {
        let mut m = vm(json!({"runStrategy": "Halted"}));
        let first = run(&m, None, &bound(), &[]).vm_status.unwrap();
        m.data["status"] = first;
        assert_eq!(run(&m, None, &bound(), &[]).vm_status, None);
    }
}
