//! The admission rules as pure functions: facts in, [`Decision`] out. No I/O here; the facts
//! were gathered before (see [`crate::review`]).

pub mod mutate;
pub mod protection_request;
pub mod replication_policy;

/// Why a review is denied, and the HTTP code the apiserver relays to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// 403 for a rule the object breaks, 503 when a cluster could not be asked, 400 for input
    /// that is not a usable object.
    pub code: u16,
    /// The matching Kubernetes `reason` (kubectl prints it in parentheses).
    pub reason: &'static str,
    /// The message kubectl prints after `denied the request: `.
    pub message: String,
    /// Stable name for the `reason` metric label (never the message).
    pub rule: &'static str,
}

impl Denial {
    /// A rule the object breaks.
    pub fn forbidden(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: 403,
            reason: "Forbidden",
            message: message.into(),
            rule,
        }
    }

    /// A fact that could not be established because a cluster did not answer.
    pub fn unavailable(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: 503,
            reason: "ServiceUnavailable",
            message: message.into(),
            rule,
        }
    }

    /// Input that is not a usable object of the kind.
    pub fn bad_request(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            rule,
        }
    }
}

/// The outcome of one review.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// `None` allows.
    pub denial: Option<Denial>,
    /// Soft concerns, returned as admission warnings whatever the verdict.
    pub warnings: Vec<String>,
    /// RFC 6902 operations (mutation only); empty means no patch.
    pub patch: Vec<json_patch::PatchOperation>,
}

impl Decision {
    /// Allow, no warnings, no patch.
    pub fn allow() -> Self {
        Self::default()
    }

    /// Deny.
    pub fn deny(denial: Denial) -> Self {
        Self {
            denial: Some(denial),
            ..Self::default()
        }
    }

    /// Add warnings.
    #[must_use]
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings.extend(warnings);
        self
    }

    /// True when allowed.
    pub fn is_allowed(&self) -> bool {
        self.denial.is_none()
    }
}
