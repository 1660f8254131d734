//! `runs-as-root`: the container's process runs as uid 0.

use crate::audit::rules::{ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// - Compose: flags services without a `user:` (most images default to root) and
    ///   services whose `user:` is `0`, `root`, or `0:<gid>`/`root:<group>`. Services that
    ///   only `build:` are flagged too: the Dockerfile's `USER` cannot be seen from the
    ///   compose file.
    /// - Kubernetes (Pod Security Standards restricted checks `runAsNonRoot` and
    ///   `runAsUser`): flags a pod-level `runAsNonRoot: false`; every container (regular,
    ///   init, native sidecar, ephemeral) whose effective `runAsNonRoot` is not `true` (its
    ///   own value wins, the pod's applies when it sets none); and `runAsUser: 0` in the
    ///   pod's or any container's `securityContext`. Pods with `hostUsers: false` are
    ///   exempt: uid 0 in a user namespace is not root on the node.
    /// - Dockerfile: flags the *final* stage (the one `docker build` produces) when its
    ///   last `USER` is `root`, `0` or `0:<gid>` (blamed on that `USER`), or when it has no
    ///   `USER` at all (blamed on its `FROM`): the image then runs as its base image's
    ///   default user, usually root. `FROM <stage>` inherits that stage's `USER`, so the
    ///   chain of stages is followed; a `USER` in an unrelated build stage does not count,
    ///   and build stages themselves are never flagged. `USER ${VAR}` is resolved from the
    ///   stage's `ARG`/`ENV` defaults when possible. Distroless-style `nonroot` tags count
    ///   as non-root.
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
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: StatefulSet
    /// metadata: {name: ledger}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: ledger
    ///         image: registry.example.com/ledger:3.0
    ///         securityContext:
    ///           runAsUser: 0
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     user: "10001:10001"
    /// ```
    ///
    /// ```yaml
    ///     spec:
    ///       securityContext:
    ///         runAsNonRoot: true
    ///         runAsUser: 10001
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
        targets: [Compose, Kubernetes, Dockerfile],
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

    fn dockerfile(
        &self,
        _cx: &crate::audit::rules::DockerfileCx<'_>,
        df: &crate::audit::source::dockerfile::Dockerfile<'_>,
        out: &mut Emitter<'_>,
    ) {
        use crate::audit::rules::image::ImageRef;
        use crate::audit::source::dockerfile::{expand, shell, Base};
        let Some(last) = df.final_stage() else { return };
        let Some(from) = df.instructions.get(last.from) else {
            return;
        };
        let help = "end the final stage with `USER 10001:10001` (a non-zero uid)";
        match df.effective_user(last.index) {
            Ok((stage, at, user)) => {
                let name = if user.text.contains('$') {
                    expand(&user.text, &df.vars_at(at), df.escape)
                } else {
                    Some(shell::unquote(&user.text))
                };
                if !name.as_deref().is_some_and(is_root_user) {
                    return;
                }
                let f = out
                    .emit(
                        user.loc,
                        format!("the final stage runs as root (`USER {}`)", user.text),
                    )
                    .help(help)
                    .resource(last.resource());
                if stage != last.index {
                    f.related(
                        from.loc,
                        "the final stage inherits this USER from the stage it is built on",
                    );
                }
            }
            Err(base) => {
                // Distroless-style `:nonroot` tags set a non-root default user.
                let nonroot = df.stages.get(base).is_some_and(|s| {
                    s.base == Base::Image
                        && s.resolved.as_deref().is_some_and(|r| {
                            ImageRef::parse(r)
                                .tag
                                .is_some_and(|t| t.contains("nonroot"))
                        })
                });
                if !nonroot {
                    out.emit(
                        from.loc,
                        "the final stage has no USER and runs as the base image's default user, usually root",
                    )
                    .help(help)
                    .resource(last.resource());
                }
            }
        }
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

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        if pod.in_user_namespace() {
            return;
        }
        let resource = pod.object.resource();
        let pod_sc = pod.security_context();
        if let Some(n) = pod_sc.and_then(|sc| sc.get("runAsNonRoot")) {
            if n.as_bool() == Some(false) {
                out.emit(n.loc, "the pod sets runAsNonRoot: false")
                    .help("set `runAsNonRoot: true` in the pod's securityContext")
                    .resource(resource.as_str());
            }
        }
        if let Some(n) = pod_sc.and_then(|sc| sc.get("runAsUser")) {
            if n.as_i64() == Some(0) {
                out.emit(n.loc, "the pod runs as root (runAsUser: 0)")
                    .help("set `runAsUser` to a non-zero uid such as 10001")
                    .resource(resource.as_str());
            }
        }
        for c in pod.containers() {
            match c.setting("runAsNonRoot") {
                Some(s) if s.node.as_bool() == Some(true) => {}
                // A pod-level false is reported once, above.
                Some(s) if s.from_pod => {}
                Some(s) => {
                    out.emit(
                        s.node.loc,
                        format!("{} sets runAsNonRoot: false", c.describe()),
                    )
                    .help("set `runAsNonRoot: true`, or remove it to inherit the pod's `true`")
                    .resource(resource.as_str());
                }
                None => {
                    out.emit(
                        c.loc(),
                        format!(
                            "{} may run as root: neither it nor the pod sets runAsNonRoot: true",
                            c.describe()
                        ),
                    )
                    .help("set `runAsNonRoot: true` in the pod's securityContext (all containers inherit it)")
                    .resource(resource.as_str());
                }
            }
            if let Some(s) = c.setting("runAsUser") {
                if !s.from_pod && s.node.as_i64() == Some(0) {
                    out.emit(
                        s.node.loc,
                        format!("{} runs as root (runAsUser: 0)", c.describe()),
                    )
                    .help("set `runAsUser` to a non-zero uid such as 10001")
                    .resource(resource.as_str());
                }
            }
        }
    }
}
