//! protect-lab: an in-process emulator of kube-apiserver serving named clusters over HTTPS on
//! loopback, faithful enough for real kubectl 1.32, kube-rs clients and kube-runtime watchers.
//! The pure apiserver semantics (selectors, patches, apply, schemas, tables, Status texts) live
//! in `protect-lab-apimachinery`; this crate owns serving, storage, watches and the write path.
//!
//! ```no_run
//! # async fn demo() -> Result<(), protect_lab_apiserver::LabError> {
//! let lab = protect_lab_apiserver::Lab::start(&["quorum", "cluster1", "cluster2"]).await?;
//! lab.write_kubeconfig(std::path::Path::new("lab-state/kubeconfig"))?;
//! # Ok(()) }
//! ```

pub mod admission;
pub mod cluster;
mod decode;
mod discovery;
mod events;
pub mod faults;
pub mod kubectl;
mod lab;
mod openapi;
mod order;
mod printers;
mod read;
pub mod registry;
mod respond;
mod server;
pub mod store;
mod watch;
pub mod world;
pub mod write;

pub use cluster::{Cluster, ClusterConfig, RequestRecord, UserInfo};
pub use faults::{FaultCounts, Faults, Rule};
pub use lab::{Lab, LabError};
