//! `kubectl protect completion bash|zsh|fish`: clap_complete scripts for `kubectl-protect`.

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

/// The script for `shell`, completing the `kubectl-protect` executable.
pub fn write_script(shell: CompletionShell, out: &mut dyn std::io::Write) {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
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
}
