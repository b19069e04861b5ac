//! How a VirtualMachine is run (its `runStrategy`, or the deprecated `running` flag), recorded in
//! an annotation before the controller stops the VM so it can be restored exactly afterwards.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use serde_json::json;

use super::patch::{set_run_strategy, set_running};
use super::virtual_machine::{RunStrategy, RunStrategyError, VirtualMachine};
use crate::well_known::ANNOTATION_ORIGINAL_RUN_STRATEGY;

/// The field a VM is run by, with its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// `spec.runStrategy` (or neither field: KubeVirt treats that as Halted).
    Strategy(RunStrategy),
    /// The deprecated `spec.running`.
    Running(bool),
}

impl RunState {
    /// How `vm` is run now.
    ///
    /// # Errors
    /// When the VM sets both `running` and `runStrategy`.
    pub fn of(vm: &VirtualMachine) -> Result<Self, RunStrategyError> {
        if vm.uses_running_field() {
            Ok(RunState::Running(vm.spec.running == Some(true)))
        } else {
            vm.effective_run_strategy().map(RunState::Strategy)
        }
    }

    /// True when this state keeps no VMI (Halted, or `running: false`).
    pub fn is_halted(&self) -> bool {
        matches!(
            self,
            RunState::Strategy(RunStrategy::Halted) | RunState::Running(false)
        )
    }

    /// The halted state on the same field: `runStrategy: Halted`, or `running: false`.
    pub fn halted(&self) -> Self {
        match self {
            RunState::Strategy(_) => RunState::Strategy(RunStrategy::Halted),
            RunState::Running(_) => RunState::Running(false),
        }
    }

    /// The annotation value: the strategy word, or `running=true` / `running=false`.
    pub fn to_annotation(&self) -> String {
        match self {
            RunState::Strategy(s) => s.as_str().to_owned(),
            RunState::Running(r) => format!("running={r}"),
        }
    }

    /// Parse an annotation value written by [`RunState::to_annotation`].
    pub fn from_annotation(value: &str) -> Self {
        match value {
            "running=true" => RunState::Running(true),
            "running=false" => RunState::Running(false),
            word => RunState::Strategy(RunStrategy::from_word(word)),
        }
    }

    /// The patch that puts `vm` in this state, touching only the field this state uses.
    pub fn patch(&self) -> Patch {
        match self {
            RunState::Strategy(s) => set_run_strategy(s),
            RunState::Running(r) => set_running(*r),
        }
    }
}

impl VirtualMachine {
    /// The run state recorded in the original-run-strategy annotation, if any.
    pub fn original_run_state(&self) -> Option<RunState> {
        self.metadata
            .annotations
            .as_ref()?
            .get(ANNOTATION_ORIGINAL_RUN_STRATEGY)
            .map(|v| RunState::from_annotation(v))
    }
}

/// Record `state` in the original-run-strategy annotation of `vm` (creating the annotations map
/// when there is none).
pub fn set_original_run_state_annotation(vm: &VirtualMachine, state: &RunState) -> Patch {
    let value = state.to_annotation();
    let op = if vm.metadata.annotations.is_some() {
        PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens([
                "metadata",
                "annotations",
                ANNOTATION_ORIGINAL_RUN_STRATEGY,
            ]),
            value: json!(value),
        })
    } else {
        PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["metadata", "annotations"]),
            value: json!({ ANNOTATION_ORIGINAL_RUN_STRATEGY: value }),
        })
    };
    Patch(vec![op])
}

/// Remove the original-run-strategy annotation; an empty patch when `vm` does not carry it.
pub fn remove_original_run_state_annotation(vm: &VirtualMachine) -> Patch {
    if vm.original_run_state().is_none() {
        return Patch(vec![]);
    }
    Patch(vec![PatchOperation::Remove(RemoveOperation {
        path: PointerBuf::from_tokens([
            "metadata",
            "annotations",
            ANNOTATION_ORIGINAL_RUN_STRATEGY,
        ]),
    })])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(spec: serde_json::Value) -> VirtualMachine {
        serde_json::from_value(json!({
            "metadata": {"name": "web-server", "namespace": "production"},
            "spec": spec
        }))
        .unwrap()
    }

    fn apply(vm: &VirtualMachine, patch: &Patch) -> VirtualMachine {
        let mut doc = serde_json::to_value(vm).unwrap();
        json_patch::patch(&mut doc, &patch.0).unwrap();
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn run_state_reads_the_field_the_vm_uses() {
        let cases = [
            (
                json!({"runStrategy": "Always"}),
                RunState::Strategy(RunStrategy::Always),
            ),
            (
                json!({"runStrategy": "Manual"}),
                RunState::Strategy(RunStrategy::Manual),
            ),
            (json!({"running": true}), RunState::Running(true)),
            (json!({"running": false}), RunState::Running(false)),
            (json!({}), RunState::Strategy(RunStrategy::Halted)),
        ];
        for (spec, expected) in cases {
            assert_eq!(RunState::of(&vm(spec.clone())).unwrap(), expected, "{spec}");
        }
        assert!(RunState::of(&vm(json!({"running": true, "runStrategy": "Always"}))).is_err());
    }

    #[test]
    fn halting_keeps_the_field_the_vm_uses() {
        assert_eq!(RunState::Running(true).halted(), RunState::Running(false));
        assert_eq!(
            RunState::Strategy(RunStrategy::RerunOnFailure).halted(),
            RunState::Strategy(RunStrategy::Halted)
        );
        assert!(RunState::Running(false).is_halted());
        assert!(!RunState::Strategy(RunStrategy::Always).is_halted());
    }

    #[test]
    fn the_annotation_round_trips_and_restores_the_vm() {
        for spec in [json!({"runStrategy": "Always"}), json!({"running": true})] {
            let original = vm(spec.clone());
            let state = RunState::of(&original).unwrap();
            let annotated = apply(
                &original,
                &set_original_run_state_annotation(&original, &state),
            );
            assert_eq!(
                annotated.original_run_state(),
                Some(state.clone()),
                "{spec}"
            );
            let stopped = apply(&annotated, &state.halted().patch());
            assert!(RunState::of(&stopped).unwrap().is_halted(), "{spec}");
            let restored = apply(&stopped, &annotated.original_run_state().unwrap().patch());
            assert_eq!(restored.spec, annotated.spec, "{spec}");
            let cleaned = apply(&restored, &remove_original_run_state_annotation(&restored));
            assert_eq!(cleaned.original_run_state(), None);
            assert!(remove_original_run_state_annotation(&cleaned).0.is_empty());
        }
    }

    #[test]
    fn the_annotation_is_added_next_to_existing_annotations() {
        let mut original = vm(json!({"runStrategy": "Always"}));
        original.metadata.annotations = Some([("owner".to_string(), "team-a".to_string())].into());
        let state = RunState::of(&original).unwrap();
        let annotated = apply(
            &original,
            &set_original_run_state_annotation(&original, &state),
        );
        let annotations = annotated.metadata.annotations.unwrap();
        assert_eq!(annotations["owner"], "team-a");
        assert_eq!(annotations[ANNOTATION_ORIGINAL_RUN_STRATEGY], "Always");
    }
}
