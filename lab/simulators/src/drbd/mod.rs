//! The DRBD Operator simulator: acts on the DRBDVolume side copies of its own cluster, meets the
//! other cluster's operator on the [`Fabric`](crate::fabric::Fabric), and runs the node agent
//! that taints nodes while their resources come up.

pub mod agent;
pub mod replica;
pub mod run;
pub mod side;
