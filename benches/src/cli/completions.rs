//! `rmap-bench completions SHELL`: a completion script for bash, zsh,
//! fish, elvish or PowerShell, from the clap definition itself.

use clap::CommandFactory;

/// Writes the script on standard output; exit status 0.
pub(super) fn completions(shell: clap_complete::Shell) -> i32 {
    let mut cmd = super::Cli::command();
    clap_complete::generate(shell, &mut cmd, "rmap-bench", &mut std::io::stdout());
    0
}
