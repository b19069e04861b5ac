//! RFC 6902 JSON patches for the few VirtualMachine paths the controller changes. Never a
//! whole-object replace: a concurrent edit elsewhere in the VM survives, and a concurrent edit of
//! the same volume makes the patch fail (`test` op) instead of being clobbered.

use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation, TestOperation,
};
use serde_json::{Value, json};

use super::virtual_machine::{ClaimSource, RunStrategy, VirtualMachine, Volume};
use crate::well_known::ANNOTATION_ORIGINAL_VOLUMES;

/// Why a volume patch could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VolumePatchError {
    /// The VM has no volume of that name.
    #[error("VirtualMachine {vm:?} has no volume named {volume:?} in spec.template.spec.volumes")]
    VolumeNotFound {
        /// VM name.
        vm: String,
        /// Volume name looked for.
        volume: String,
    },
    /// The volume is not backed by a PVC or DataVolume, so it has no claim to replace.
    #[error(
        "volume {volume:?} of VirtualMachine {vm:?} is not a persistentVolumeClaim or dataVolume volume"
    )]
    NotAClaim {
        /// VM name.
        vm: String,
        /// Volume name.
        volume: String,
    },
    /// A volume could not be encoded as JSON.
    #[error("cannot encode volumes of VirtualMachine {vm:?} as JSON: {source}")]
    Encode {
        /// VM name.
        vm: String,
        /// The encoding error.
        source: serde_json::Error,
    },
}

fn pointer(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().copied())
}

fn volume_pointer(index: usize, rest: &[&str]) -> PointerBuf {
    let index = index.to_string();
    let mut tokens = vec!["spec", "template", "spec", "volumes", index.as_str()];
    tokens.extend_from_slice(rest);
    pointer(&tokens)
}

fn test(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Test(TestOperation { path, value })
}

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

/// Set `spec.runStrategy` (for VMs that use it; see [`VirtualMachine::uses_running_field`]).
pub fn set_run_strategy(strategy: &RunStrategy) -> Patch {
    Patch(vec![add(
        pointer(&["spec", "runStrategy"]),
        json!(strategy.as_str()),
    )])
}

/// Set the deprecated `spec.running` (for VMs that use it instead of `runStrategy`).
pub fn set_running(running: bool) -> Patch {
    Patch(vec![add(pointer(&["spec", "running"]), json!(running))])
}

fn find_volume<'a>(
    vm: &'a VirtualMachine,
    volume: &str,
) -> Result<(usize, &'a Volume), VolumePatchError> {
    vm.volumes()
        .iter()
        .enumerate()
        .find(|(_, v)| v.name == volume)
        .ok_or_else(|| VolumePatchError::VolumeNotFound {
            vm: vm.metadata.name.clone().unwrap_or_default(),
            volume: volume.to_owned(),
        })
}

/// Point volume `volume` of `vm` at the PVC `frontend_pvc`.
///
/// The patch first tests that the volume still sits at the index and still mounts the claim seen
/// in `vm`, so a concurrent change makes the apiserver reject it. A `persistentVolumeClaim`
/// source keeps its other fields (readOnly, hotpluggable); a `dataVolume` source is replaced by
/// a `persistentVolumeClaim` source (keeping `hotpluggable`).
///
/// # Errors
/// When the VM has no such volume, or the volume is not PVC-backed.
pub fn replace_volume_claim(
    vm: &VirtualMachine,
    volume: &str,
    frontend_pvc: &str,
) -> Result<Patch, VolumePatchError> {
    let (index, found) = find_volume(vm, volume)?;
    let mut ops = vec![test(volume_pointer(index, &["name"]), json!(volume))];
    match found.claim() {
        Some(ClaimSource::PersistentVolumeClaim(claim)) => {
            ops.push(test(
                volume_pointer(index, &["persistentVolumeClaim", "claimName"]),
                json!(claim),
            ));
            ops.push(PatchOperation::Replace(ReplaceOperation {
                path: volume_pointer(index, &["persistentVolumeClaim", "claimName"]),
                value: json!(frontend_pvc),
            }));
        }
        Some(ClaimSource::DataVolume(_)) => {
            let mut source = serde_json::Map::new();
            source.insert("claimName".into(), json!(frontend_pvc));
            if let Some(dv) = &found.data_volume
                && let Some(hotpluggable) = dv.unmodeled.get("hotpluggable")
            {
                source.insert("hotpluggable".into(), hotpluggable.clone());
            }
            let seen = serde_json::to_value(&found.data_volume).map_err(|source| {
                VolumePatchError::Encode {
                    vm: vm.metadata.name.clone().unwrap_or_default(),
                    source,
                }
            })?;
            ops.push(test(volume_pointer(index, &["dataVolume"]), seen));
            ops.push(PatchOperation::Remove(RemoveOperation {
                path: volume_pointer(index, &["dataVolume"]),
            }));
            ops.push(add(
                volume_pointer(index, &["persistentVolumeClaim"]),
                Value::Object(source),
            ));
        }
        None => {
            return Err(VolumePatchError::NotAClaim {
                vm: vm.metadata.name.clone().unwrap_or_default(),
                volume: volume.to_owned(),
            });
        }
    }
    Ok(Patch(ops))
}

/// Put volume `original.name` of `vm` back to `original` (from the original-volumes annotation),
/// testing that the volume still sits at the index seen in `vm`.
///
/// # Errors
/// When the VM has no volume of that name.
pub fn restore_volume(vm: &VirtualMachine, original: &Volume) -> Result<Patch, VolumePatchError> {
    let (index, _) = find_volume(vm, &original.name)?;
    let value = serde_json::to_value(original).map_err(|source| VolumePatchError::Encode {
        vm: vm.metadata.name.clone().unwrap_or_default(),
        source,
    })?;
    Ok(Patch(vec![
        test(volume_pointer(index, &["name"]), json!(original.name)),
        PatchOperation::Replace(ReplaceOperation {
            path: volume_pointer(index, &[]),
            value,
        }),
    ]))
}

/// Record `vm`'s current volumes in the `siterecovery.trilio.io/original-volumes` annotation.
///
/// # Errors
/// When the volumes cannot be encoded as JSON.
pub fn set_original_volumes_annotation(vm: &VirtualMachine) -> Result<Patch, VolumePatchError> {
    let encoded =
        serde_json::to_string(vm.volumes()).map_err(|source| VolumePatchError::Encode {
            vm: vm.metadata.name.clone().unwrap_or_default(),
            source,
        })?;
    // `add` on a missing parent fails, so create the annotations map when there is none.
    let op = if vm.metadata.annotations.is_some() {
        add(
            pointer(&["metadata", "annotations", ANNOTATION_ORIGINAL_VOLUMES]),
            json!(encoded),
        )
    } else {
        add(
            pointer(&["metadata", "annotations"]),
            json!({ ANNOTATION_ORIGINAL_VOLUMES: encoded }),
        )
    };
    Ok(Patch(vec![op]))
}

/// Remove the `siterecovery.trilio.io/original-volumes` annotation; an empty patch when `vm`
/// does not carry it (removing a missing path is an error in RFC 6902).
pub fn remove_original_volumes_annotation(vm: &VirtualMachine) -> Patch {
    let present = vm
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_ORIGINAL_VOLUMES));
    if !present {
        return Patch(vec![]);
    }
    Patch(vec![PatchOperation::Remove(RemoveOperation {
        path: pointer(&["metadata", "annotations", ANNOTATION_ORIGINAL_VOLUMES]),
    })])
}

impl VirtualMachine {
    /// The volumes recorded in the original-volumes annotation: `None` when absent, an error
    /// when it is not a JSON list of volumes.
    pub fn original_volumes(&self) -> Option<Result<Vec<Volume>, serde_json::Error>> {
        let raw = self
            .metadata
            .annotations
            .as_ref()?
            .get(ANNOTATION_ORIGINAL_VOLUMES)?;
        Some(serde_json::from_str(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> VirtualMachine {
        serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": "web-server", "namespace": "production"},
            "spec": {"runStrategy": "Always", "template": {"spec": {"volumes": [
                {"name": "rootdisk", "dataVolume": {"name": "web-server-root"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "web-server-data", "readOnly": false}},
                {"name": "cloudinit", "cloudInitNoCloud": {"userData": "#cloud-config"}}
            ]}}}
        }))
        .unwrap()
    }

    fn apply(vm: &VirtualMachine, patch: &Patch) -> Result<VirtualMachine, json_patch::PatchError> {
        let mut doc = serde_json::to_value(vm).unwrap();
        json_patch::patch(&mut doc, &patch.0)?;
        Ok(serde_json::from_value(doc).unwrap())
    }

    #[test]
    fn a_pvc_volume_is_pointed_at_the_frontend_pvc_keeping_its_other_fields() {
        let vm = vm();
        let patch = replace_volume_claim(&vm, "data", "web-server-data-drbd").unwrap();
        let patched = apply(&vm, &patch).unwrap();
        let data = &patched.volumes()[1];
        assert_eq!(
            data.claim(),
            Some(ClaimSource::PersistentVolumeClaim("web-server-data-drbd"))
        );
        assert_eq!(
            data.persistent_volume_claim.as_ref().unwrap().unmodeled["readOnly"],
            json!(false)
        );
        assert_eq!(patched.volumes()[0], vm.volumes()[0]);
        assert_eq!(patched.volumes()[2], vm.volumes()[2]);
    }

    #[test]
    fn a_data_volume_becomes_a_pvc_source_on_the_frontend_pvc() {
        let vm = vm();
        let patched = apply(
            &vm,
            &replace_volume_claim(&vm, "rootdisk", "web-server-root-drbd").unwrap(),
        )
        .unwrap();
        let root = &patched.volumes()[0];
        assert_eq!(root.data_volume, None);
        assert_eq!(
            root.claim(),
            Some(ClaimSource::PersistentVolumeClaim("web-server-root-drbd"))
        );
    }

    #[test]
    fn a_concurrent_reorder_of_volumes_makes_the_patch_fail() {
        let vm = vm();
        let patch = replace_volume_claim(&vm, "data", "web-server-data-drbd").unwrap();
        let mut moved = vm.clone();
        let volumes = &mut moved.spec.template.as_mut().unwrap().spec.volumes;
        volumes.swap(0, 1);
        assert!(apply(&moved, &patch).is_err());
    }

    #[test]
    fn a_concurrent_claim_change_makes_the_patch_fail() {
        let vm = vm();
        let patch = replace_volume_claim(&vm, "data", "web-server-data-drbd").unwrap();
        let mut changed = vm.clone();
        changed.spec.template.as_mut().unwrap().spec.volumes[1]
            .persistent_volume_claim
            .as_mut()
            .unwrap()
            .claim_name = "someone-else".into();
        assert!(apply(&changed, &patch).is_err());
    }

    #[test]
    fn missing_and_non_claim_volumes_are_errors() {
        let vm = vm();
        let err = replace_volume_claim(&vm, "logs", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"VirtualMachine "web-server" has no volume named "logs" in spec.template.spec.volumes"#
        );
        assert!(matches!(
            replace_volume_claim(&vm, "cloudinit", "x"),
            Err(VolumePatchError::NotAClaim { .. })
        ));
    }

    #[test]
    fn original_volumes_round_trip_through_the_annotation_and_restore() {
        let vm = vm();
        let annotated = apply(&vm, &set_original_volumes_annotation(&vm).unwrap()).unwrap();
        let originals = annotated.original_volumes().unwrap().unwrap();
        assert_eq!(originals, vm.volumes());

        let switched = apply(
            &annotated,
            &replace_volume_claim(&annotated, "data", "web-server-data-drbd").unwrap(),
        )
        .unwrap();
        let mut restored = switched.clone();
        for original in &originals {
            restored = apply(&restored, &restore_volume(&restored, original).unwrap()).unwrap();
        }
        assert_eq!(restored.volumes(), vm.volumes());

        let cleaned = apply(&restored, &remove_original_volumes_annotation(&restored)).unwrap();
        assert!(cleaned.original_volumes().is_none());
        assert!(remove_original_volumes_annotation(&cleaned).0.is_empty());
    }

    #[test]
    fn the_annotation_is_added_next_to_existing_annotations() {
        let mut vm = vm();
        vm.metadata.annotations = Some([("owner".to_string(), "team-a".to_string())].into());
        let patched = apply(&vm, &set_original_volumes_annotation(&vm).unwrap()).unwrap();
        let annotations = patched.metadata.annotations.unwrap();
        assert_eq!(annotations["owner"], "team-a");
        assert!(annotations.contains_key(ANNOTATION_ORIGINAL_VOLUMES));
    }

    #[test]
    fn run_strategy_and_running_patches_touch_only_their_field() {
        let vm = vm();
        let halted = apply(&vm, &set_run_strategy(&RunStrategy::Halted)).unwrap();
        assert_eq!(halted.spec.run_strategy, Some(RunStrategy::Halted));
        assert_eq!(halted.volumes(), vm.volumes());
        let patch = serde_json::to_value(set_running(false)).unwrap();
        assert_eq!(
            patch,
            json!([{"op": "add", "path": "/spec/running", "value": false}])
        );
    }
}
