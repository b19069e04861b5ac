//! protect-webhook: the validating and mutating admission webhook for ProtectionRequests and
//! DRBDReplicationPolicies (DESIGN.md §5), served over HTTPS with rustls.
//!
//! - [`review`]: one AdmissionReview body in, one answer out (no HTTP; property-tested).
//! - [`rules`]: the rules as pure functions, facts in → [`rules::Decision`] out; coverage is
//!   protect-api's, shared with the controller.
//! - [`facts`]: what the rules need to know, behind the [`facts::Facts`] trait; [`cache`]
//!   answers it from watch-fed caches of the quorum and primary clusters.
//! - [`server`]: [`Server::new`], [`Server::run`], [`Server::router`]; [`tls`] reloads the
//!   certificate when its files change; [`metrics`] for `/metrics`.
//! - [`cli`]: the command line; [`self_signed`] writes a CA and serving certificate for
//!   clusters without cert-manager (`protect-webhook self-signed`).

pub mod admission;
pub mod cache;
pub mod cli;
pub mod facts;
#[cfg(test)]
mod fixtures;
pub mod metrics;
pub mod review;
pub mod rules;
pub mod self_signed;
pub mod server;
pub mod tls;

pub use facts::{Facts, StaticFacts};
pub use server::{Config, MAX_REVIEW_BYTES, Server, ServerError, router};
