//! The KubeVirt views read what protection needs and lose nothing they do not model.

use kube::Resource;
use protect_api::kubevirt::{
    ClaimSource, RunStrategy, VirtualMachine, VirtualMachineInstance, replace_volume_claim,
};
use serde_json::Value;

const VM_YAML: &str = include_str!("fixtures/vm-web-server.yaml");
const VMI_JSON: &str = include_str!("fixtures/vmi-web-server.json");

#[test]
fn a_realistic_vm_round_trips_without_losing_unmodeled_fields() {
    let original: Value = serde_saphyr::from_str(VM_YAML).unwrap();
    let vm: VirtualMachine = serde_json::from_value(original.clone()).unwrap();
    let written = serde_json::to_value(&vm).unwrap();
    assert_eq!(written, original);
    let reparsed: VirtualMachine = serde_json::from_value(written).unwrap();
    assert_eq!(reparsed, vm);
}

#[test]
fn the_vm_view_reads_run_strategy_volumes_and_status() {
    let vm: VirtualMachine = serde_saphyr::from_str(VM_YAML).unwrap();
    assert_eq!(vm.effective_run_strategy().unwrap(), RunStrategy::Always);
    assert!(!vm.uses_running_field());
    let claims: Vec<_> = vm.claims().collect();
    assert_eq!(
        claims,
        vec![
            ("rootdisk", ClaimSource::DataVolume("web-server-root")),
            (
                "data",
                ClaimSource::PersistentVolumeClaim("web-server-data")
            ),
        ]
    );
    let status = vm.status.as_ref().unwrap();
    assert_eq!(status.printable_status.as_deref(), Some("Running"));
    assert_eq!(status.ready, Some(true));
}

#[test]
fn legacy_running_field_maps_to_a_run_strategy() {
    let mut vm: VirtualMachine = serde_saphyr::from_str(VM_YAML).unwrap();
    vm.spec.run_strategy = None;
    vm.spec.running = Some(false);
    assert!(vm.uses_running_field());
    assert_eq!(vm.effective_run_strategy().unwrap(), RunStrategy::Halted);
    vm.spec.running = Some(true);
    assert_eq!(vm.effective_run_strategy().unwrap(), RunStrategy::Always);
    vm.spec.run_strategy = Some(RunStrategy::Manual);
    assert!(vm.effective_run_strategy().is_err());
    vm.spec.running = None;
    vm.spec.run_strategy = Some(RunStrategy::from_word("SomethingNew"));
    assert_eq!(
        vm.effective_run_strategy().unwrap().as_str(),
        "SomethingNew"
    );
}

#[test]
fn a_volume_patch_leaves_every_other_field_of_the_vm_intact() {
    let original: Value = serde_saphyr::from_str(VM_YAML).unwrap();
    let vm: VirtualMachine = serde_json::from_value(original.clone()).unwrap();
    let patch = replace_volume_claim(&vm, "data", "web-server-data-drbd").unwrap();
    let mut patched = original.clone();
    json_patch::patch(&mut patched, &patch.0).unwrap();
    let mut expected = original;
    expected["spec"]["template"]["spec"]["volumes"][1]["persistentVolumeClaim"]["claimName"] =
        Value::from("web-server-data-drbd");
    assert_eq!(patched, expected);
}

#[test]
fn a_realistic_vmi_round_trips_and_reads_phase_node_and_conditions() {
    let original: Value = serde_json::from_str(VMI_JSON).unwrap();
    let vmi: VirtualMachineInstance = serde_json::from_value(original.clone()).unwrap();
    assert_eq!(serde_json::to_value(&vmi).unwrap(), original);
    assert_eq!(vmi.phase(), Some("Running"));
    assert_eq!(
        vmi.status.as_ref().unwrap().node_name.as_deref(),
        Some("node-a")
    );
    assert!(vmi.is_running_and_ready());
    assert_eq!(vmi.unschedulable_message(), None);
}

#[test]
fn an_unschedulable_vmi_reports_the_scheduler_message() {
    let vmi: VirtualMachineInstance = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web-server", "namespace": "production"},
        "status": {"phase": "Scheduling", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 node(s) had untolerated taint {siterecovery.trilio.io/not-ready: }."
        }]}
    }))
    .unwrap();
    assert!(!vmi.is_running_and_ready());
    assert!(
        vmi.unschedulable_message()
            .unwrap()
            .contains("siterecovery.trilio.io/not-ready")
    );
}

#[test]
fn kubevirt_views_are_kube_resources() {
    assert_eq!(VirtualMachine::api_version(&()), "kubevirt.io/v1");
    assert_eq!(VirtualMachine::plural(&()), "virtualmachines");
    assert_eq!(VirtualMachineInstance::kind(&()), "VirtualMachineInstance");
    assert_eq!(
        VirtualMachine::url_path(&(), Some("production")),
        "/apis/kubevirt.io/v1/namespaces/production/virtualmachines"
    );
}

/// Compiles only if the views satisfy `kube::Api`'s bounds; never called.
#[allow(dead_code)]
fn kube_api_accepts_the_views(client: kube::Client) {
    let _vms: kube::Api<VirtualMachine> = kube::Api::namespaced(client.clone(), "production");
    let _vmis: kube::Api<VirtualMachineInstance> = kube::Api::namespaced(client, "production");
}
