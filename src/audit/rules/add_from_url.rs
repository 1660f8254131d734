//! `add-from-url`: `ADD` fetches a remote file or repository without verifying it.

use crate::audit::rules::{DockerfileCx, Emitter, Rule, RuleMeta};
use crate::audit::source::dockerfile::{shell, Dockerfile, Keyword};

crate::declare_rule! {
    /// ## What it does
    /// Flags `ADD` sources that are remote and unverified:
    /// - `http://` and `https://` URLs without `--checksum=sha256:...`;
    /// - Git repositories (`https://host/repo.git#ref`, `git@host:repo.git`, `git://`,
    ///   `ssh://`) whose ref is a branch or tag rather than a full commit hash, without
    ///   `--checksum=<commit>`.
    ///
    /// `ADD --checksum=...` and Git sources pinned to a 40- or 64-hex commit are not
    /// flagged, nor are local sources and `COPY`.
    ///
    /// ## Why it matters
    /// `ADD URL` downloads whatever the server returns at build time, with no integrity
    /// check: a compromised host, a moved tag or a man in the middle (plain `http://`)
    /// changes the image without any change to the Dockerfile, and the build is not
    /// reproducible.
    ///
    /// ## Example
    /// ```dockerfile
    /// ADD https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
    /// ```
    ///
    /// ## Fix
    /// Pin the content; BuildKit verifies it and fails the build on a mismatch:
    /// ```dockerfile
    /// ADD --checksum=sha256:<digest> \
    ///     https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
    /// ```
    /// or download in a `RUN` step and check the file with `sha256sum -c`. For Git, use a
    /// commit hash as the ref.
    ///
    /// ## References
    /// - Dockerfile reference: `ADD --checksum`
    /// - CWE-494: Download of Code Without Integrity Check
    AddFromUrl {
        id: "add-from-url",
        title: "ADD downloads a remote source without a checksum",
        category: SupplyChain,
        severity: Medium,
        targets: [Dockerfile],
        params: [],
    }
}

/// What kind of remote source `src` is, if any.
enum Remote {
    Http,
    Git { pinned: bool },
}

fn remote(src: &str) -> Option<Remote> {
    let lower = src.to_ascii_lowercase();
    let is_git_scheme = lower.starts_with("git://")
        || lower.starts_with("ssh://")
        || lower.starts_with("git@")
        || lower.starts_with("git+");
    let is_http = lower.starts_with("http://") || lower.starts_with("https://");
    if !is_git_scheme && !is_http {
        return None;
    }
    let (url, fragment) = match src.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (src, None),
    };
    let is_git = is_git_scheme || url.to_ascii_lowercase().ends_with(".git");
    if !is_git {
        return Some(Remote::Http);
    }
    // `#ref:subdir`: the ref is pinned when it is a full commit hash.
    let reference = fragment.map(|f| f.split(':').next().unwrap_or(f));
    let pinned = reference.is_some_and(|r| {
        (r.len() == 40 || r.len() == 64) && r.bytes().all(|b| b.is_ascii_hexdigit())
    });
    Some(Remote::Git { pinned })
}

/// The URL without its userinfo (`https://user:token@host/x` → `https://host/x`): a
/// credential in the URL must never be repeated in a finding.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

impl Rule for AddFromUrl {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn dockerfile(&self, _cx: &DockerfileCx<'_>, df: &Dockerfile<'_>, out: &mut Emitter<'_>) {
        for (idx, inst) in df.instructions.iter().enumerate() {
            let add = inst.effective();
            if add.keyword != Keyword::Add
                || add
                    .flag("checksum")
                    .is_some_and(|f| f.value.as_deref().is_some_and(|v| !v.is_empty()))
            {
                continue;
            }
            // The last argument is the destination.
            let Some((_, sources)) = add.args.split_last() else {
                continue;
            };
            for src in sources {
                let text = if add.exec_form {
                    src.text.clone()
                } else {
                    shell::unquote(&src.text)
                };
                let shown = without_credentials(&text);
                let msg = match remote(&text) {
                    None | Some(Remote::Git { pinned: true }) => continue,
                    Some(Remote::Http) => format!(
                        "ADD downloads {shown} without a checksum, so its content is not verified"
                    ),
                    Some(Remote::Git { pinned: false }) => format!(
                        "ADD fetches the Git repository {shown} at a movable ref (not a commit hash)"
                    ),
                };
                out.emit(src.loc, msg)
                    .help("pin the content with `ADD --checksum=sha256:<digest>` (a commit hash for Git), or download and verify it with `sha256sum -c` in a RUN step")
                    .resource(df.resource_of(idx));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_never_shown() {
        assert_eq!(
            without_credentials("https://bot:ghp_secret@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(without_credentials("https://x/a@b"), "https://x/a@b");
    }

    #[test]
    fn classifies_sources() {
        assert!(matches!(remote("https://x/a.tgz"), Some(Remote::Http)));
        assert!(matches!(remote("HTTP://x/a"), Some(Remote::Http)));
        assert!(matches!(
            remote("https://github.com/moby/buildkit.git#v0.12.0"),
            Some(Remote::Git { pinned: false })
        ));
        assert!(matches!(
            remote("git@github.com:moby/buildkit.git"),
            Some(Remote::Git { pinned: false })
        ));
        assert!(matches!(
            remote("https://github.com/moby/buildkit.git#2e5b35ad6e1bd8fd6b7a8f3c4c2bd4a1e5b8a9c0:docs"),
            Some(Remote::Git { pinned: true })
        ));
        assert!(remote("./local.tgz").is_none());
        assert!(remote("/src").is_none());
    }
}
