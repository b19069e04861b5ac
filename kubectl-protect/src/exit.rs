//! Exit codes: what a script can learn from `kubectl protect` without parsing its output.

use std::process::ExitCode;

/// The documented exit codes. Usage errors exit 2 (clap's own convention, as kubectl does
/// for flag errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Success: the request is Protected and healthy, or still in progress.
    Ok = 0,
    /// An error: the API server unreachable, CRDs missing, not found, forbidden, ….
    Error = 1,
    /// Wrong usage: an unknown flag, a missing argument.
    Usage = 2,
    /// Degraded: Protected, but replication is broken (Replicating=False) or a workload cluster
    /// is unreachable.
    Degraded = 3,
    /// The request is Failed.
    Failed = 4,
    /// Admission denied the request (the webhook's message is printed).
    Denied = 5,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The exit code table shown at the end of `kubectl protect --help`; README-ready.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success; the request is Protected and healthy, or still in progress
  1  error (cluster unreachable, CRDs not installed, not found, forbidden, ...)
  2  usage error (unknown flag, missing argument)
  3  degraded: Protected but not replicating, or a workload cluster unreachable
  4  the request is Failed
  5  admission denied the request (the webhook's message is printed)

Environment:
  KUBECONFIG                 kubeconfig file(s), as for kubectl
  KUBECTL_PROTECT_NAMESPACE  default for --protection-namespace (dr-deployment)
  NO_COLOR                   disable colours";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_table_lists_every_code() {
        for exit in [
            Exit::Ok,
            Exit::Error,
            Exit::Usage,
            Exit::Degraded,
            Exit::Failed,
            Exit::Denied,
        ] {
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n  {}  ", exit.code())),
                "{exit:?}"
            );
        }
    }

    #[test]
    fn worse_outcomes_order_after_better_ones() {
        assert!(Exit::Ok < Exit::Degraded && Exit::Degraded < Exit::Failed);
    }
}
