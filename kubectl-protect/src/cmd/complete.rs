//! `kubectl-protect __complete WORDS… TO_COMPLETE`: completion of `kubectl protect` arguments
//! in cobra's `__complete` protocol, which kubectl (1.26+) speaks with plugins.
//!
//! For `kubectl protect status pro<TAB>` kubectl runs the executable `kubectl_complete-protect`
//! found on PATH with the words after `protect` (`status pro`; an empty last word when a new
//! word is being started) and reads its stdout: one candidate per line, optionally followed by
//! a tab and a description, then a last line `:<directive>`. The directive is cobra's
//! `ShellCompDirective` bit map (spf13/cobra `completions.go`: `Error` = 1, `NoSpace` = 2,
//! `NoFileComp` = 4, `FilterFileExt` = 8, `FilterDirs` = 16; 0 is the shell's default, which
//! completes file names). `kubectl protect completion kubectl-plugin` prints that executable:
//! a two-line script that runs `kubectl-protect __complete "$@"`.
//!
//! Candidates: subcommands, flags (of the subcommand typed so far, kubectl's global flags
//! included) and flag values — `-o`, `--dry-run=`, `completion`'s shells, and the contexts,
//! clusters and users of the kubeconfig. From the quorum cluster, within a short deadline:
//! request names for `status` and `unprotect`, the policies' primary clusters for
//! `--source-cluster`, and for `vm` and `check vm` the VM names on the primary cluster (through
//! the policy's kubeconfig Secret, as `check vm` reaches it). A cluster that does not answer in
//! time gives no names, never an error: a TAB must not hang or print noise.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, CommandFactory};
use kube::Api;
use kube::api::ListParams;
use protect_api::kubevirt::VirtualMachine;
use protect_api::{DRBDReplicationPolicy, ProtectionRequest, coverage, well_known};

use crate::cli::{Cli, GlobalArgs};
use crate::connect;

/// cobra's `ShellCompDirectiveDefault`: the shell may complete file names.
pub const DIRECTIVE_DEFAULT: u32 = 0;
/// cobra's `ShellCompDirectiveNoSpace`: no space after the single candidate (`--flag=`).
pub const DIRECTIVE_NO_SPACE: u32 = 2;
/// cobra's `ShellCompDirectiveNoFileComp`: no file names when there is no candidate.
pub const DIRECTIVE_NO_FILE_COMP: u32 = 4;

/// How long names from the clusters may take before completion goes without them.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(3);

/// The name of the hidden command kubectl's completion executable calls.
pub const COMMAND: &str = "__complete";
/// Its variant without descriptions (cobra's `__completeNoDesc`).
pub const COMMAND_NO_DESC: &str = "__completeNoDesc";

/// One candidate and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// What is inserted.
    pub value: String,
    /// Shown beside it by shells that show descriptions (zsh, fish).
    pub description: String,
}

impl Candidate {
    fn new(value: impl Into<String>, description: impl Into<String>) -> Self {
        Candidate {
            value: value.into(),
            description: description.into(),
        }
    }
}

/// What the word being completed needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// These candidates (already filtered by the prefix) with this directive.
    Static(Vec<Candidate>, u32),
    /// Names of ProtectionRequests in the protection namespace.
    Requests,
    /// Names of VMs on the primary cluster, in this namespace (None: the context's namespace).
    Vms {
        /// `-n` as typed.
        vm_namespace: Option<String>,
        /// `--source-cluster` as typed.
        source_cluster: Option<String>,
    },
    /// The primary clusters named by the policies.
    SourceClusters,
}

/// The command line typed so far, as far as completion needs it.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// What to complete.
    pub want: Want,
    /// The word being completed, and what goes in front of each candidate (`--dry-run=`).
    pub prefix: String,
    /// Inserted in front of each candidate.
    pub insert_before: String,
    /// The quorum connection the typed flags select.
    pub global: GlobalArgs,
}

/// Run `__complete` (or `__completeNoDesc` when `descriptions` is false) over `args` (the words
/// after it) and print cobra's answer.
pub fn run(args: &[String], descriptions: bool) -> std::process::ExitCode {
    let (words, to_complete) = match args.split_last() {
        Some((last, words)) => (words, last.as_str()),
        None => (&[][..], ""),
    };
    let analysis = analyse(words, to_complete);
    let (candidates, directive) = match &analysis.want {
        Want::Static(candidates, directive) => (candidates.clone(), *directive),
        _ => (fetch(&analysis), DIRECTIVE_NO_FILE_COMP),
    };
    print!("{}", render(&candidates, directive, descriptions));
    std::process::ExitCode::SUCCESS
}

/// cobra's output: one candidate a line (`value<TAB>description`), then `:<directive>`.
pub fn render(candidates: &[Candidate], directive: u32, descriptions: bool) -> String {
    let mut out = String::new();
    for c in candidates {
        let description = c.description.lines().next().unwrap_or_default().trim();
        if descriptions && !description.is_empty() {
            out.push_str(&format!("{}\t{description}\n", c.value));
        } else {
            out.push_str(&format!("{}\n", c.value));
        }
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

/// The flags kubectl passes through, with the protection namespace as the plugin defaults it.
fn default_global() -> GlobalArgs {
    GlobalArgs {
        kubeconfig: None,
        context: None,
        cluster: None,
        user: None,
        protection_namespace: std::env::var("KUBECTL_PROTECT_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| well_known::DEFAULT_PROTECTION_NAMESPACE.to_owned()),
        verbose: 0,
    }
}

/// Remember the value of a connection flag.
fn note(global: &mut GlobalArgs, flags: &mut Vec<(String, String)>, arg: &Arg, value: &str) {
    let id = arg.get_id().as_str();
    match id {
        "kubeconfig" => global.kubeconfig = Some(PathBuf::from(value)),
        "context" => global.context = Some(value.to_owned()),
        "cluster" => global.cluster = Some(value.to_owned()),
        "user" => global.user = Some(value.to_owned()),
        "protection_namespace" => global.protection_namespace = value.to_owned(),
        _ => {}
    }
    flags.push((id.to_owned(), value.to_owned()));
}

/// A flag takes its value from the next word (not only after `=`).
fn value_in_next_word(arg: &Arg) -> bool {
    arg.get_action().takes_values() && !arg.is_require_equals_set()
}

/// What `to_complete` should become, given the `words` before it (pure: no I/O).
pub fn analyse(words: &[String], to_complete: &str) -> Analysis {
    let mut root = Cli::command();
    root.build();
    let mut global = default_global();
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut current = &root;
    let mut positionals = 0usize;
    let mut only_positionals = false;
    // A flag whose value is the next word.
    let mut pending: Option<Arg> = None;
    for word in words {
        if let Some(arg) = pending.take() {
            note(&mut global, &mut flags, &arg, word);
            continue;
        }
        if only_positionals || word == "-" || !word.starts_with('-') {
            match current.find_subcommand(word) {
                Some(sub) if positionals == 0 && !only_positionals => {
                    path.push(sub.get_name().to_owned());
                    current = sub;
                }
                _ => positionals += 1,
            }
        } else if word == "--" {
            only_positionals = true;
        } else if let Some(long) = word.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if let Some(arg) = current.get_arguments().find(|a| a.get_long() == Some(name)) {
                match value {
                    Some(v) => note(&mut global, &mut flags, arg, v),
                    None if value_in_next_word(arg) => pending = Some(arg.clone()),
                    None => {}
                }
            }
        } else {
            // Short flags, possibly bundled (`-vvv`, `-Aw`), a value attached (`-nprod`) or
            // in the next word (`-n prod`).
            let shorts = &word[1..];
            for (at, c) in shorts.char_indices() {
                let Some(arg) = current.get_arguments().find(|a| a.get_short() == Some(c)) else {
                    break;
                };
                if arg.get_action().takes_values() {
                    let rest = shorts[at + c.len_utf8()..].trim_start_matches('=');
                    if rest.is_empty() {
                        pending = Some(arg.clone());
                    } else {
                        note(&mut global, &mut flags, arg, rest);
                    }
                    break;
                }
            }
        }
    }
    let flag = |id: &str| {
        flags
            .iter()
            .rev()
            .find(|(f, _)| f == id)
            .map(|(_, v)| v.clone())
    };
    let mut analysis = Analysis {
        want: Want::Static(Vec::new(), DIRECTIVE_NO_FILE_COMP),
        prefix: to_complete.to_owned(),
        insert_before: String::new(),
        global,
    };

    // The value of a flag: `--flag <TAB>`, `-o <TAB>` or `--flag=<TAB>`.
    let flag_value = match pending {
        Some(arg) => Some(arg),
        None if to_complete.starts_with("--") && to_complete.contains('=') && !only_positionals => {
            let (name, value) = to_complete[2..].split_once('=').unwrap_or_default();
            let arg = current
                .get_arguments()
                .find(|a| a.get_long() == Some(name))
                .cloned();
            if arg.is_some() {
                analysis.insert_before = format!("--{name}=");
                analysis.prefix = value.to_owned();
            }
            arg
        }
        None => None,
    };
    if let Some(arg) = flag_value {
        analysis.want = match arg.get_id().as_str() {
            // File names: the shell's own completion.
            "kubeconfig" => Want::Static(Vec::new(), DIRECTIVE_DEFAULT),
            "context" | "cluster" | "user" => Want::Static(
                kubeconfig_names(&analysis.global, arg.get_id().as_str()),
                DIRECTIVE_NO_FILE_COMP,
            ),
            "source_cluster" => Want::SourceClusters,
            _ => Want::Static(possible_values(&arg), DIRECTIVE_NO_FILE_COMP),
        };
        return filtered(analysis);
    }

    // A flag name.
    if to_complete.starts_with('-') && !only_positionals {
        let mut candidates = Vec::new();
        for arg in current.get_arguments().filter(|a| !a.is_hide_set()) {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if let Some(long) = arg.get_long() {
                let name = if arg.is_require_equals_set() {
                    format!("--{long}=")
                } else {
                    format!("--{long}")
                };
                candidates.push(Candidate::new(name, help.clone()));
            }
            if let Some(short) = arg.get_short()
                && !to_complete.starts_with("--")
            {
                candidates.push(Candidate::new(format!("-{short}"), help));
            }
        }
        let mut analysis = filtered(Analysis {
            want: Want::Static(candidates, DIRECTIVE_NO_FILE_COMP),
            ..analysis
        });
        // One `--flag=` left: no space after it, so its value can be typed straight on.
        if let Want::Static(candidates, directive) = &mut analysis.want
            && candidates.len() == 1
            && candidates[0].value.ends_with('=')
        {
            *directive = DIRECTIVE_NO_SPACE;
        }
        return analysis;
    }

    // A subcommand.
    let subcommands: Vec<Candidate> = current
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .map(|s| {
            Candidate::new(
                s.get_name(),
                s.get_about().map(|a| a.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    if !subcommands.is_empty() {
        if positionals == 0 {
            analysis.want = Want::Static(subcommands, DIRECTIVE_NO_FILE_COMP);
        }
        return filtered(analysis);
    }

    // A positional argument of the subcommand.
    let Some(arg) = current.get_positionals().nth(positionals) else {
        return analysis;
    };
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    analysis.want = match (path.as_slice(), arg.get_id().as_str()) {
        (["status"] | ["unprotect"], "name") => Want::Requests,
        (["vm"] | ["check", "vm"], "name") => Want::Vms {
            vm_namespace: flag("vm_namespace"),
            source_cluster: flag("source_cluster"),
        },
        _ => Want::Static(possible_values(arg), DIRECTIVE_NO_FILE_COMP),
    };
    filtered(analysis)
}

/// Keep the static candidates that start with the prefix, with `insert_before` in front.
fn filtered(mut analysis: Analysis) -> Analysis {
    if let Want::Static(candidates, _) = &mut analysis.want {
        candidates.retain(|c| c.value.starts_with(&analysis.prefix));
        for c in candidates.iter_mut() {
            c.value.insert_str(0, &analysis.insert_before);
        }
    }
    analysis
}

/// The visible possible values of a value-enum argument, with their help.
fn possible_values(arg: &Arg) -> Vec<Candidate> {
    arg.get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| {
            Candidate::new(
                v.get_name(),
                v.get_help().map(|h| h.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// The contexts, clusters or users of the kubeconfig the typed flags select (read locally).
fn kubeconfig_names(global: &GlobalArgs, what: &str) -> Vec<Candidate> {
    let Ok(kubeconfig) = connect::load_kubeconfig(global) else {
        return Vec::new();
    };
    match what {
        "context" => kubeconfig
            .contexts
            .iter()
            .map(|c| {
                let cluster = c.context.as_ref().map(|c| c.cluster.clone());
                Candidate::new(
                    &c.name,
                    cluster.map(|c| format!("cluster {c}")).unwrap_or_default(),
                )
            })
            .collect(),
        "cluster" => kubeconfig
            .clusters
            .iter()
            .map(|c| Candidate::new(&c.name, ""))
            .collect(),
        _ => kubeconfig
            .auth_infos
            .iter()
            .map(|u| Candidate::new(&u.name, ""))
            .collect(),
    }
}

/// Names from the clusters, within [`CLUSTER_DEADLINE`]; none when they do not answer.
fn fetch(analysis: &Analysis) -> Vec<Candidate> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let names = runtime.block_on(async {
        tokio::time::timeout(CLUSTER_DEADLINE, names(analysis))
            .await
            .ok()
            .flatten()
    });
    let mut names = names.unwrap_or_default();
    names.retain(|c| c.value.starts_with(&analysis.prefix));
    for c in names.iter_mut() {
        c.value.insert_str(0, &analysis.insert_before);
    }
    names
}

async fn names(analysis: &Analysis) -> Option<Vec<Candidate>> {
    let global = &analysis.global;
    let quorum = connect::quorum(global).await.ok()?;
    let namespace = global.protection_namespace.as_str();
    let policies = || async {
        Api::<DRBDReplicationPolicy>::namespaced(quorum.client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .ok()
            .map(|l| l.items)
    };
    match &analysis.want {
        Want::Static(..) => None,
        Want::Requests => {
            let mut requests =
                Api::<ProtectionRequest>::namespaced(quorum.client.clone(), namespace)
                    .list(&ListParams::default())
                    .await
                    .ok()?
                    .items;
            requests.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            Some(
                requests
                    .iter()
                    .filter_map(|r| {
                        Some(Candidate::new(
                            r.metadata.name.clone()?,
                            format!("{} {}/{}", r.phase(), r.spec.vm_namespace, r.spec.vm_name),
                        ))
                    })
                    .collect(),
            )
        }
        Want::SourceClusters => {
            let mut clusters: Vec<String> = policies()
                .await?
                .into_iter()
                .map(|p| p.spec.primary_cluster)
                .collect();
            clusters.sort();
            clusters.dedup();
            Some(
                clusters
                    .into_iter()
                    .map(|c| Candidate::new(c, "primary cluster"))
                    .collect(),
            )
        }
        Want::Vms {
            vm_namespace,
            source_cluster,
        } => {
            let policies = policies().await?;
            let policy = coverage::select_policy(&policies, source_cluster.as_deref()).ok()?;
            let primary = super::check::primary_connection(&quorum, namespace, policy)
                .await
                .ok()?;
            let vm_namespace = vm_namespace
                .clone()
                .unwrap_or_else(|| quorum.default_namespace.clone());
            let mut vms = Api::<VirtualMachine>::namespaced(primary.client.clone(), &vm_namespace)
                .list(&ListParams::default())
                .await
                .ok()?
                .items;
            vms.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            Some(
                vms.iter()
                    .filter_map(|vm| {
                        Some(Candidate::new(
                            vm.metadata.name.clone()?,
                            format!(
                                "VirtualMachine in {vm_namespace} on {}",
                                policy.spec.primary_cluster
                            ),
                        ))
                    })
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn values(line: &str, to_complete: &str) -> (Vec<String>, u32) {
        match analyse(&words(line), to_complete).want {
            Want::Static(c, d) => (c.into_iter().map(|c| c.value).collect(), d),
            other => panic!("not static: {other:?}"),
        }
    }

    #[test]
    fn the_first_word_completes_to_the_subcommands() {
        let (v, d) = values("", "");
        assert_eq!(
            v,
            [
                "vm",
                "status",
                "check",
                "unprotect",
                "completion",
                "version"
            ]
        );
        assert_eq!(d, DIRECTIVE_NO_FILE_COMP);
        assert_eq!(values("", "un").0, ["unprotect"]);
        // Global flags before the subcommand are skipped with their values.
        assert_eq!(
            values("--kubeconfig /k --context quorum", "st").0,
            ["status"]
        );
        assert_eq!(values("check", "").0, ["vm"]);
    }

    #[test]
    fn flags_of_the_subcommand_and_the_global_ones() {
        let (v, _) = values("status", "--");
        for flag in [
            "--all-namespaces",
            "--watch",
            "--output",
            "--kubeconfig",
            "--context",
            "--protection-namespace",
        ] {
            assert!(v.contains(&flag.to_owned()), "{flag} missing: {v:?}");
        }
        assert!(!v.contains(&"--wait".to_owned()), "{v:?}");
        let (v, d) = values("vm web-server", "--dry");
        assert_eq!(v, ["--dry-run="]);
        assert_eq!(d, DIRECTIVE_NO_SPACE);
        let (v, _) = values("status", "-");
        assert!(
            v.contains(&"-w".to_owned()) && v.contains(&"-A".to_owned()),
            "{v:?}"
        );
    }

    #[test]
    fn flag_values_come_from_the_value_enums() {
        assert_eq!(values("status -o", "").0, ["wide", "json", "yaml"]);
        assert_eq!(values("status --output", "j").0, ["json"]);
        assert_eq!(
            values("vm web-server", "--dry-run=").0,
            ["--dry-run=client", "--dry-run=server"]
        );
        assert_eq!(
            values("completion", "").0,
            ["bash", "zsh", "fish", "kubectl-plugin"]
        );
        // --kubeconfig: file names, the shell's default.
        assert_eq!(
            values("status --kubeconfig", ""),
            (vec![], DIRECTIVE_DEFAULT)
        );
    }

    #[test]
    fn contexts_come_from_the_kubeconfig_typed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: q\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: quorum\n  context: {cluster: q}\n- name: cluster1\n  context: {cluster: q}\n",
        )
        .unwrap();
        let line = format!("--kubeconfig {} status --context", path.display());
        assert_eq!(values(&line, "").0, ["quorum", "cluster1"]);
        assert_eq!(values(&line, "q").0, ["quorum"]);
    }

    #[test]
    fn names_come_from_the_clusters_where_the_command_takes_one() {
        assert_eq!(analyse(&words("status"), "p").want, Want::Requests);
        assert_eq!(analyse(&words("unprotect --wait"), "").want, Want::Requests);
        let a = analyse(
            &words("--protection-namespace dr check vm -n production"),
            "",
        );
        assert_eq!(
            a.want,
            Want::Vms {
                vm_namespace: Some("production".into()),
                source_cluster: None
            }
        );
        assert_eq!(a.global.protection_namespace, "dr");
        assert_eq!(
            analyse(&words("vm --source-cluster"), "c").want,
            Want::SourceClusters
        );
        // The name is already there: nothing more to complete.
        assert_eq!(
            analyse(&words("status protect-web-server"), "").want,
            Want::Static(vec![], DIRECTIVE_NO_FILE_COMP)
        );
        assert_eq!(
            analyse(&words("version"), "").want,
            Want::Static(vec![], DIRECTIVE_NO_FILE_COMP)
        );
    }

    #[test]
    fn the_output_is_cobras() {
        let candidates = [
            Candidate::new("status", "Show ProtectionRequests: a table\nmore"),
            Candidate::new("x", ""),
        ];
        assert_eq!(
            render(&candidates, 4, true),
            "status\tShow ProtectionRequests: a table\nx\n:4\n"
        );
        assert_eq!(render(&candidates, 4, false), "status\nx\n:4\n");
    }
}
