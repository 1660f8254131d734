//! `runs-as-root`: the container's process runs as uid 0.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags services without a `user:` (most images default to root) and services whose
    /// `user:` is `0`, `root`, or `0:<gid>`/`root:<group>`. Services that only `build:` are
    /// flagged too: the Dockerfile's `USER` cannot be seen from the compose file.
    ///
    /// ## Why it matters
    /// Root in a container is root on the host's kernel: any breakout, writable host mount or
    /// kernel bug is immediately a host compromise, and root can read every secret file
    /// mounted into the container regardless of file modes.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     image: app:1.4
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     user: "10001:10001"
    /// ```
    ///
    /// ## References
    /// - CIS Docker Benchmark 4.1
    /// - Kubernetes Pod Security Standards (restricted): runAsNonRoot
    RunsAsRoot {
        id: "runs-as-root",
        title: "Container runs as root",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Compose],
        params: [],
    }
}

/// `0`, `root`, `0:0`, `root:staff`...
pub fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    name == "0" || name == "root"
}

impl Rule for RunsAsRoot {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        match svc.get("user") {
            Some(n) => {
                if n.as_str().is_some_and(is_root_user) {
                    out.emit(n.loc, format!("service `{}` runs as root", svc.name))
                        .help("set `user:` to a non-zero uid such as \"10001:10001\"")
                        .resource(svc.resource());
                }
            }
            None => {
                out.emit(
                    svc.key.loc,
                    format!("service `{}` has no `user:` and may run as root", svc.name),
                )
                .help("set `user:` to a non-zero uid such as \"10001:10001\"")
                .resource(svc.resource());
            }
        }
    }
}
