//! `privilege-escalation-allowed`: `no-new-privileges` is not set.

use crate::audit::rules::{pss, ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// - Compose: flags services without `no-new-privileges:true` (or `no-new-privileges`)
    ///   in `security_opt`, and services that set it to false.
    /// - Kubernetes: flags every container (regular, init, native sidecar, ephemeral) whose
    ///   `securityContext.allowPrivilegeEscalation` is not explicitly `false` (Pod Security
    ///   Standards restricted check `allowPrivilegeEscalation`: unset counts as allowed,
    ///   because that is the kernel default). Pods with `os.name: windows` are skipped, as
    ///   Pod Security Admission does.
    ///
    /// ## Why it matters
    /// Without it, a process can gain privileges through set-user-ID binaries or file
    /// capabilities (`sudo`, `su`, a planted setuid shell), undoing a non-root user.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     image: app:1.4
    /// ```
    ///
    /// ```yaml
    /// apiVersion: batch/v1
    /// kind: Job
    /// metadata: {name: migrate}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: migrate
    ///         image: registry.example.com/migrate:4.1
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     security_opt: ["no-new-privileges:true"]
    /// ```
    ///
    /// ```yaml
    ///         securityContext:
    ///           allowPrivilegeEscalation: false
    /// ```
    ///
    /// ## References
    /// - Linux `PR_SET_NO_NEW_PRIVS`
    /// - CIS Docker Benchmark 5.25
    /// - Kubernetes Pod Security Standards (restricted): Privilege Escalation
    PrivilegeEscalationAllowed {
        id: "privilege-escalation-allowed",
        title: "Privilege escalation (no-new-privileges) is not prevented",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Compose, Kubernetes],
        params: [],
    }
}

impl Rule for PrivilegeEscalationAllowed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let opts = svc.str_list("security_opt");
        let mut set = None;
        for (opt, node) in &opts {
            let opt = opt.trim();
            let (name, value) = match opt.split_once([':', '=']) {
                Some((n, v)) => (n, v),
                None => (opt, "true"),
            };
            if name == "no-new-privileges" {
                set = Some((value.eq_ignore_ascii_case("true"), *node));
            }
        }
        match set {
            Some((true, _)) => {}
            Some((false, node)) => {
                out.emit(
                    node.loc,
                    format!(
                        "service `{}` explicitly allows privilege escalation",
                        svc.name
                    ),
                )
                .help("use `no-new-privileges:true`")
                .resource(svc.resource());
            }
            None => {
                let loc = svc.get("security_opt").map_or(svc.key.loc, |n| n.loc);
                out.emit(
                    loc,
                    format!("service `{}` does not set no-new-privileges", svc.name),
                )
                .help("add `security_opt: [\"no-new-privileges:true\"]`")
                .resource(svc.resource());
            }
        }
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        if pss::is_windows(pod) {
            return;
        }
        for c in pod.containers() {
            match c.own_setting(&["allowPrivilegeEscalation"]) {
                Some(n) if n.as_bool() == Some(false) => {}
                Some(n) => {
                    out.emit(
                        n.loc,
                        format!("{} explicitly allows privilege escalation", c.describe()),
                    )
                    .help("set `securityContext.allowPrivilegeEscalation: false`")
                    .resource(pod.object.resource());
                }
                None => {
                    out.emit(
                        c.loc(),
                        format!(
                            "{} does not set allowPrivilegeEscalation: false",
                            c.describe()
                        ),
                    )
                    .help("add `securityContext.allowPrivilegeEscalation: false`; unset means allowed")
                    .resource(pod.object.resource());
                }
            }
        }
    }
}
