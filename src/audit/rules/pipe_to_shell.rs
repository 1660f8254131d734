//! `pipe-to-shell`: a `RUN` downloads a script and runs it without checking it.

use std::collections::BTreeMap;

use crate::audit::rules::{DockerfileCx, Emitter, Rule, RuleMeta};
use crate::audit::source::dockerfile::shell::{self, Pipeline};
use crate::audit::source::dockerfile::Dockerfile;

crate::declare_rule! {
    /// ## What it does
    /// Flags `RUN` instructions that download code with `curl` or `wget` and hand it
    /// straight to an interpreter (`sh`, `bash`, `zsh`, `ash`, `dash`, `ksh`, `python`,
    /// `perl`):
    /// - a pipe: `curl -fsSL https://get.example.com | sh`, `wget -qO- URL | sudo bash -s`;
    /// - a substitution: `sh -c "$(curl -fsSL URL)"`, `eval "$(curl URL)"`,
    ///   `bash <(curl -s URL)`, `source <(wget -qO- URL)`.
    ///
    /// The whole script is read: every line of a continuation, `sh -c '...'` scripts,
    /// exec-form `["sh", "-c", "..."]`, and heredoc bodies the shell runs (`RUN <<EOF`).
    /// The finding points at the `curl`/`wget` word. Pipes into a program that only reads
    /// data (`curl URL | tar -xz`, `curl URL | python3 -c 'import json...'`,
    /// `curl URL | bash script.sh`) are not flagged.
    ///
    /// ## Why it matters
    /// Whatever the server sends at build time runs as root in the build, unreviewed and
    /// unpinned: a compromised or hijacked download host, a DNS or TLS interception, or a
    /// silently changed installer all end up inside the image. A truncated download can
    /// even run half a script. Nothing records which version ran, so the build is not
    /// reproducible either.
    ///
    /// ## Example
    /// ```dockerfile
    /// RUN curl -fsSL https://deb.nodesource.com/setup_20.x | bash -
    /// ```
    ///
    /// ## Fix
    /// Download to a file, verify its checksum (or signature), then run it; or let the
    /// builder verify it:
    /// ```dockerfile
    /// ADD --checksum=sha256:<digest> https://deb.nodesource.com/setup_20.x /tmp/setup.sh
    /// RUN bash /tmp/setup.sh && rm /tmp/setup.sh
    /// ```
    /// Better still, install from the distribution's signed package repository.
    ///
    /// ## References
    /// - CWE-494: Download of Code Without Integrity Check
    /// - SLSA: build dependencies are pinned and verified
    PipeToShell {
        id: "pipe-to-shell",
        title: "Downloaded script piped into a shell",
        category: SupplyChain,
        severity: High,
        targets: [Dockerfile],
        params: [],
    }
}

/// Commands that run code given as an argument or a substituted file.
fn runs_argument(name: &str) -> bool {
    shell::is_interpreter(name) || matches!(name, "eval" | "source" | ".")
}

/// Fetcher words (byte offset → (fetcher, interpreter)) in one script.
fn find(text: &str, pipes: &[Pipeline]) -> BTreeMap<usize, (String, String)> {
    let mut hits = BTreeMap::new();
    shell::walk(pipes, &mut |p| {
        // `curl ... | sh`
        for (i, c) in p.commands.iter().enumerate() {
            let Some(m) = shell::resolve(c, text).main else {
                continue;
            };
            let fetcher = shell::word_name(c, m, text);
            if !shell::is_fetcher(&fetcher) {
                continue;
            }
            let runner = p.commands[i + 1..].iter().find_map(|d| {
                let dm = shell::resolve(d, text).main?;
                let name = shell::word_name(d, dm, text);
                (shell::is_interpreter(&name) && shell::reads_stdin(d, dm, text)).then_some(name)
            });
            if let Some(runner) = runner {
                hits.insert(c.words[m].start, (fetcher, runner));
            }
        }
        // `sh -c "$(curl ...)"`, `bash <(curl ...)`, `eval "$(curl ...)"`
        for c in &p.commands {
            let Some(m) = shell::resolve(c, text).main else {
                continue;
            };
            let runner = shell::word_name(c, m, text);
            if !runs_argument(&runner) {
                continue;
            }
            for w in &c.words[m + 1..] {
                for sub in &w.subs {
                    for inner in sub.iter().flat_map(|ip| &ip.commands) {
                        let Some(im) = shell::resolve(inner, text).main else {
                            continue;
                        };
                        let fetcher = shell::word_name(inner, im, text);
                        if shell::is_fetcher(&fetcher) {
                            hits.insert(inner.words[im].start, (fetcher, runner.clone()));
                        }
                    }
                }
            }
        }
    });
    hits
}

impl Rule for PipeToShell {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn dockerfile(&self, _cx: &DockerfileCx<'_>, df: &Dockerfile<'_>, out: &mut Emitter<'_>) {
        for (idx, inst) in df.instructions.iter().enumerate() {
            for script in inst.run_scripts() {
                let pipes = shell::parse(script.text);
                for (offset, (fetcher, runner)) in find(script.text, &pipes) {
                    out.emit(
                        script.loc(offset, fetcher.len()),
                        format!(
                            "RUN downloads a script with `{fetcher}` and runs it with `{runner}` without verifying it"
                        ),
                    )
                    .help("download to a file and verify its checksum before running it, or use `ADD --checksum=sha256:...`")
                    .resource(df.resource_of(idx));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn hits(text: &str) -> Vec<(usize, String)> {
        let pipes = shell::parse(text);
        find(text, &pipes)
            .into_iter()
            .map(|(o, (_, r))| (o, r))
            .collect()
    }

    #[test]
    fn detects_the_shapes() {
        let yes = [
            "curl -fsSL https://x | sh",
            "wget -qO- https://x | sudo -E bash -",
            "curl https://x | bash -s -- --version 1",
            "set -e; cd /tmp && curl -s x | tee i.sh | sh",
            "sh -c \"$(curl -fsSL https://x)\"",
            "bash -c \"$(wget -qO- https://x)\"",
            "bash <(curl -s https://x)",
            "eval \"$(curl -s https://x)\"",
            ". <(curl -s https://x)",
            "/usr/bin/curl -s x | /bin/sh",
            "curl -s x | python3",
            "curl -s x | perl",
            "sh -c 'curl -s x | sh'",
            "if true; then curl x | sh; fi",
        ];
        for t in yes {
            assert!(!hits(t).is_empty(), "{t}");
        }
        let no = [
            "curl -fsSL https://x | tar -xz",
            "curl -s x | python3 -c 'import sys, json; print(json.load(sys.stdin))'",
            "curl -o /tmp/i.sh https://x && sha256sum -c sums && sh /tmp/i.sh",
            "curl -s x | bash script.sh",
            "echo 'curl x | sh'",
            "apt-get install -y curl",
            "curl x || sh -c 'echo failed'",
            "curl x | sh -c 'cat > /f'",
        ];
        for t in no {
            assert!(hits(t).is_empty(), "{t}");
        }
        let t = "apt-get update && curl -s x | bash";
        assert_eq!(hits(t), [(t.find("curl").unwrap(), "bash".to_string())]);
    }
}
