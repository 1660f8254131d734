//! `sudo-used`: a `RUN` command runs through `sudo`.

use std::collections::BTreeSet;

use crate::audit::rules::{DockerfileCx, Emitter, Rule, RuleMeta};
use crate::audit::source::dockerfile::shell::{self, Pipeline};
use crate::audit::source::dockerfile::{Dockerfile, Keyword};

crate::declare_rule! {
    /// ## What it does
    /// Flags `sudo` used as a command in `RUN`: at the start of a command, after `&&`, `;`
    /// or `|`, inside `$(...)`, `sh -c '...'` scripts and heredoc bodies, or as the program
    /// of an exec-form `RUN ["sudo", ...]`. Only the command word counts: installing the
    /// package (`apt-get install sudo`), `pseudo`, or `sudo` inside a quoted string are not
    /// flagged.
    ///
    /// ## Why it matters
    /// Build steps already run as the current `USER`; a step that needs root should switch
    /// with `USER root` and back. `sudo` in a build means the image ships `sudo` and a
    /// sudoers rule that lets the runtime user become root, which turns any code execution
    /// in the container into root; `sudo` also behaves unpredictably without a TTY and
    /// forwards or drops environment variables in surprising ways.
    ///
    /// ## Example
    /// ```dockerfile
    /// USER app
    /// RUN sudo apt-get update && sudo apt-get install -y libpq5
    /// ```
    ///
    /// ## Fix
    /// ```dockerfile
    /// USER root
    /// RUN apt-get update && apt-get install -y --no-install-recommends libpq5
    /// USER 10001:10001
    /// ```
    /// and do not install `sudo` in the image.
    ///
    /// ## References
    /// - Docker documentation: Dockerfile best practices, USER ("avoid installing or using sudo")
    /// - CIS Docker Benchmark 4.1
    SudoUsed {
        id: "sudo-used",
        title: "sudo used in a build step",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Dockerfile],
        params: [],
    }
}

/// Byte offsets of `sudo` command words in a script.
fn find(text: &str, pipes: &[Pipeline]) -> BTreeSet<usize> {
    let mut hits = BTreeSet::new();
    shell::walk(pipes, &mut |p| {
        for c in &p.commands {
            let r = shell::resolve(c, text);
            for &i in r.wrappers.iter().chain(r.main.iter()) {
                if shell::word_name(c, i, text) == "sudo" {
                    hits.insert(c.words[i].start);
                }
            }
        }
    });
    hits
}

impl Rule for SudoUsed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn dockerfile(&self, _cx: &DockerfileCx<'_>, df: &Dockerfile<'_>, out: &mut Emitter<'_>) {
        let help = "drop `sudo`: switch with `USER root` for the steps that need it, then back to a non-root `USER`";
        for (idx, inst) in df.instructions.iter().enumerate() {
            let run = inst.effective();
            if run.keyword != Keyword::Run {
                continue;
            }
            if run.exec_form {
                if let Some(first) = run.args.first() {
                    if shell::basename(&first.text) == "sudo" {
                        out.emit(first.loc, "RUN runs a command through `sudo`")
                            .help(help)
                            .resource(df.resource_of(idx));
                    }
                }
            }
            for script in inst.run_scripts() {
                let pipes = shell::parse(script.text);
                for offset in find(script.text, &pipes) {
                    out.emit(script.loc(offset, 4), "RUN runs a command through `sudo`")
                        .help(help)
                        .resource(df.resource_of(idx));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> usize {
        find(text, &shell::parse(text)).len()
    }

    #[test]
    fn command_words_only() {
        assert_eq!(n("sudo apt-get update && sudo -u app make"), 2);
        assert_eq!(n("curl x | sudo bash"), 1);
        assert_eq!(n("env A=1 sudo make"), 1);
        assert_eq!(n("X=$(sudo cat /etc/shadow)"), 1);
        assert_eq!(n("/usr/bin/sudo true"), 1);
        assert_eq!(n("apt-get install -y sudo pseudo"), 0);
        assert_eq!(n("echo 'sudo make me a sandwich'"), 0);
        assert_eq!(n("command -v sudo"), 0);
        assert_eq!(n("pseudo run"), 0);
    }
}
