//! `kubectl protect completion bash|zsh|fish`: clap_complete scripts for `kubectl-protect`;
//! `completion kubectl-plugin`: the `kubectl_complete-protect` executable through which
//! kubectl's own completion completes `kubectl protect …` (see `complete`).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionArgs, CompletionShell};
use crate::error::Error;
use crate::exit::Exit;

/// Write the completion script for the chosen shell to stdout.
pub fn run(args: CompletionArgs) -> Result<Exit, Error> {
    let mut out = std::io::stdout().lock();
    write_script(args.shell, &mut out);
    Ok(Exit::Ok)
}

/// The `kubectl_complete-protect` executable: kubectl runs it with the words after
/// `kubectl protect` and reads cobra's `__complete` answer, which the plugin prints. It runs
/// the `kubectl-protect` beside it, else the one on PATH.
pub const KUBECTL_PLUGIN_SCRIPT: &str = r#"#!/bin/sh
# kubectl_complete-protect: kubectl (1.26+) runs this to complete `kubectl protect ...`.
# Keep it on PATH, executable, next to kubectl-protect.
# Written by `kubectl protect completion kubectl-plugin`.
here=$(dirname -- "$0")
if [ -x "$here/kubectl-protect" ]; then
  exec "$here/kubectl-protect" __complete "$@"
fi
exec kubectl-protect __complete "$@"
"#;

/// The script for `shell`, completing the `kubectl-protect` executable (or, for
/// `kubectl-plugin`, `kubectl protect` through kubectl).
pub fn write_script(shell: CompletionShell, out: &mut dyn std::io::Write) {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::KubectlPlugin => {
            // A closed stdout (`| head -0`) is not worth an error.
            let _ = out.write_all(KUBECTL_PLUGIN_SCRIPT.as_bytes());
            return;
        }
    };
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "kubectl-protect", out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [
            CompletionShell::Bash,
            CompletionShell::Zsh,
            CompletionShell::Fish,
        ] {
            let mut buf = Vec::new();
            write_script(shell, &mut buf);
            let script = String::from_utf8(buf).unwrap();
            assert!(script.contains("kubectl-protect"), "{shell:?}");
            assert!(script.contains("unprotect"), "{shell:?}");
        }
    }

    #[test]
    fn the_kubectl_plugin_script_hands_every_word_to_complete() {
        let mut buf = Vec::new();
        write_script(CompletionShell::KubectlPlugin, &mut buf);
        let script = String::from_utf8(buf).unwrap();
        assert!(script.starts_with("#!/bin/sh\n"), "{script}");
        assert!(
            script.contains(r#"exec "$here/kubectl-protect" __complete "$@""#),
            "{script}"
        );
    }
}
