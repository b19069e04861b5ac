//! Errors of the controller's I/O, named after the action that failed and carrying the object
//! and cluster they concern. The metric label is the variant name ([`Error::metric_label`]).

/// What went wrong while reconciling a ProtectionRequest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the request's status to the quorum cluster failed.
    #[error("cannot write the status of ProtectionRequest {request}: {source}")]
    WriteStatus {
        /// `namespace/name` of the request.
        request: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A write decided by the plan failed.
    #[error("cannot {action} on cluster {cluster}: {source}")]
    Write {
        /// What was attempted, e.g. `create DRBDVolume production/x`.
        action: String,
        /// The cluster written to.
        cluster: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The finalizer machinery failed (adding/removing the finalizer, or cleanup).
    #[error("finalizer of ProtectionRequest {request}: {message}")]
    Finalizer {
        /// `namespace/name` of the request.
        request: String,
        /// What failed.
        message: String,
    },
    /// Unprotect is under way and waiting (kube-runtime's finalizer removes the finalizer on
    /// success, so "not done yet" is reported as this error and requeued briefly).
    #[error("unprotecting ProtectionRequest {request}: {waiting}")]
    Unprotecting {
        /// `namespace/name` of the request.
        request: String,
        /// What unprotect waits for.
        waiting: String,
    },
    /// The quorum cluster's caches did not finish their first list in time (after a start or
    /// restart); nothing is decided from a partial view.
    #[error("the quorum caches are not synced yet; ProtectionRequest {request} waits")]
    CachesNotSynced {
        /// `namespace/name` of the request.
        request: String,
    },
    /// The object lacks a namespace or name (never for objects read from the API).
    #[error("ProtectionRequest without namespace or name")]
    MissingMetadata,
}

impl Error {
    /// The metric label for this error: the variant name, never its text.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::WriteStatus { .. } => "WriteStatus",
            Error::Write { .. } => "Write",
            Error::Finalizer { .. } => "Finalizer",
            Error::Unprotecting { .. } => "Unprotecting",
            Error::CachesNotSynced { .. } => "CachesNotSynced",
            Error::MissingMetadata => "MissingMetadata",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_are_variant_names_not_messages() {
        let e = Error::Finalizer {
            request: "dr-deployment/protect-web-server".into(),
            message: "secret contents must never appear here".into(),
        };
        assert_eq!(e.metric_label(), "Finalizer");
        assert_eq!(Error::MissingMetadata.metric_label(), "MissingMetadata");
    }
}
