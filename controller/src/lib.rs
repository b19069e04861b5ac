//! protect-controller: the Protection Controller. It runs on the quorum cluster, drives each
//! ProtectionRequest through the phases of DESIGN §4 across the primary and DR workload
//! clusters, and reverses everything on unprotect.
//!
//! Layout: [`facts`] (what was observed) → [`decide`] (pure: the next step) → [`controller`]
//! (I/O: kube-runtime Controller, finalizer, status, Events) with [`workload`] (clients and
//! watches for the workload clusters), [`metrics`] and [`server`] (/metrics, /healthz) and
//! [`leader`] (Lease-based leader election).

pub mod controller;
pub mod decide;
pub mod error;
pub mod facts;
pub mod leader;
pub mod metrics;
pub mod replication;
pub mod server;
pub mod workload;

pub use controller::{Clock, Config, run};
pub use decide::{Cleanup, Plan, Side, VmStep, Write, decide, decide_cleanup};
pub use error::Error;
pub use facts::{Facts, Settings};
