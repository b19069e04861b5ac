//! The KubeVirt simulator: virt-controller, virt-handler and the scheduler's part in running a
//! VirtualMachine, acting only through the API of one workload cluster.

pub mod plan;
pub mod run;
pub mod schedule;
pub mod status;
