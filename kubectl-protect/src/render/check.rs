//! The preflight report of `check vm`: the admission verdict of a server-side dry run and the
//! per-PVC coverage verdicts computed with protect-api's coverage rules.

use protect_api::coverage::{Coverage, Verdict};

use super::{Paint, or_dash, table};
use crate::exit::Exit;

/// What the server-side dry run said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Admission accepted the request; `source_cluster` as defaulted by the mutating webhook.
    Accepted {
        /// `spec.sourceCluster` after mutation.
        source_cluster: Option<String>,
    },
    /// Denied; the server's full message line.
    Denied(String),
    /// The dry run could not be made (unreachable, forbidden, …).
    Error(String),
}

/// Everything `check vm` found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// `namespace/name` of the request that would be created.
    pub request: String,
    /// `namespace/name` of the VM.
    pub vm: String,
    /// The dry run's verdict.
    pub admission: Admission,
    /// The coverage, or why it could not be computed.
    pub coverage: Result<Coverage, String>,
}

impl CheckReport {
    /// Exit code: 5 when admission denied or a PVC is not covered, 1 when a check could not
    /// run, else 0.
    pub fn exit(&self) -> Exit {
        let uncovered = self.coverage.as_ref().is_ok_and(|c| c.denial().is_some());
        if matches!(self.admission, Admission::Denied(_)) || uncovered {
            Exit::Denied
        } else if matches!(self.admission, Admission::Error(_)) || self.coverage.is_err() {
            Exit::Error
        } else {
            Exit::Ok
        }
    }
}

fn verdict_word(verdict: &Verdict, paint: Paint) -> String {
    match verdict {
        Verdict::Covered { .. } => paint.good("covered"),
        Verdict::PvcMissing => paint.bad("missing"),
        Verdict::NoStorageClass => paint.bad("not covered: no storage class"),
        Verdict::StorageClassNotMapped { .. } => paint.bad("not covered: class not mapped"),
    }
}

/// The report as text.
pub fn render_check(report: &CheckReport, paint: Paint) -> String {
    let mut out = String::new();
    out.push_str(&format!("VM:        {}\n", report.vm));
    out.push_str(&format!("Request:   {}\n", report.request));
    let admission = match &report.admission {
        Admission::Accepted { source_cluster } => format!(
            "{} (server-side dry run; source cluster {})",
            paint.good("accepted"),
            or_dash(source_cluster.as_deref())
        ),
        Admission::Denied(line) => format!("{}\n  {line}", paint.bad("DENIED")),
        Admission::Error(line) => format!("{}\n  {line}", paint.warn("not checked")),
    };
    out.push_str(&format!("Admission: {admission}\n"));
    match &report.coverage {
        Err(why) => {
            out.push_str(&format!(
                "Coverage:  {}\n  {why}\n",
                paint.warn("not checked")
            ));
        }
        Ok(coverage) => {
            out.push_str(&format!(
                "Policy:    {} ({} → {})\n\n",
                coverage.policy, coverage.primary_cluster, coverage.dr_cluster
            ));
            if coverage.volumes.is_empty() {
                out.push_str("No PVC-backed volumes.\n");
            } else {
                let rows = coverage.volumes.iter().map(|v| {
                    let (class, dr_class) = match &v.verdict {
                        Verdict::Covered {
                            storage_class,
                            dr_storage_class,
                        } => (storage_class.clone(), dr_storage_class.clone()),
                        _ => (
                            or_dash(v.facts.as_ref().and_then(|f| f.storage_class.as_deref())),
                            "-".to_owned(),
                        ),
                    };
                    vec![
                        v.pvc.clone(),
                        v.volume.clone(),
                        class,
                        dr_class,
                        or_dash(v.facts.as_ref().and_then(|f| f.phase.as_deref())),
                        verdict_word(&v.verdict, paint),
                    ]
                });
                out.push_str(&table(
                    &[
                        "PVC",
                        "VOLUME",
                        "STORAGE CLASS",
                        "DR CLASS",
                        "PVC PHASE",
                        "VERDICT",
                    ],
                    rows,
                ));
            }
            let problems: Vec<String> = coverage
                .uncovered()
                .map(|v| coverage.volume_message(v))
                .chain(coverage.unbound().map(|v| coverage.unbound_message(v)))
                .collect();
            if !problems.is_empty() {
                out.push('\n');
                for p in problems {
                    out.push_str(&format!("- {p}\n"));
                }
            }
            let uncovered = coverage.uncovered().count();
            let summary = if coverage.volumes.is_empty() || uncovered == 0 {
                coverage.to_string()
            } else {
                format!(
                    "VirtualMachine {} cannot be protected: {uncovered} of {} PVCs not covered",
                    report.vm,
                    coverage.volumes.len()
                )
            };
            out.push_str(&format!("\nResult: {summary}\n"));
        }
    }
    out
}
