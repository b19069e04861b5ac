//! The kube-apiserver's pure semantics, as the lab needs them: selectors, patches, server-side
//! apply and managed fields, structural schemas, tables, and the `metav1.Status` errors with
//! their upstream texts. No I/O: every function here maps JSON values to JSON values, so each
//! behaviour is unit-tested against the bytes captured from a real apiserver
//! (`shared/conformance/kube-apiserver/`).

pub mod apply;
pub mod patch;
pub mod schema;
pub mod selector;
pub mod status;
pub mod table;
pub mod validation;
