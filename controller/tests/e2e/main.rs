//! Scenario tests of the Protection Controller: the guide's examples and troubleshooting cases,
//! unprotect, replication health and faults, run against the lab's three clusters (or real ones,
//! see [`harness`]) with the KubeVirt and DRBD Operator simulators on a manual clock.

// Scenario steps fail the test on any unexpected API answer; unwrapping is how they do it.
#![allow(clippy::unwrap_used)]

mod activation;
mod crash;
mod faults;
mod happy_path;
mod harness;
mod kubeconfig_mode;
mod leader;
mod replication;
mod troubleshooting;
mod unprotect;
