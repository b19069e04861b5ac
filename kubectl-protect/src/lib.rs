//! kubectl-protect: the kubectl plugin that puts KubeVirt VMs under DRBD disaster-recovery
//! protection by managing ProtectionRequests on the quorum cluster.
//!
//! Layout: `cli` (clap types, the help text), `cmd` (one module per subcommand), `render`
//! (pure data → text), `health` (the rule behind exit codes), `follow` (live watching),
//! `connect` (kubeconfig → clients), `error` and `exit` (what a failure says and returns).

pub mod cli;
pub mod cmd;
pub mod connect;
pub mod error;
pub mod exit;
pub mod follow;
pub mod health;
pub mod render;

#[cfg(test)]
mod fixtures;
