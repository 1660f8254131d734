//! `privilege-escalation-allowed`: `no-new-privileges` is not set.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags services without `no-new-privileges:true` (or `no-new-privileges`) in
    /// `security_opt`, and services that set it to false.
    ///
    /// ## Why it matters
    /// Without it, a process can gain privileges through set-user-ID binaries or file
    /// capabilities (`sudo`, `su`, a planted setuid shell), undoing a non-root `user:`.
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
    ///     security_opt: ["no-new-privileges:true"]
    /// ```
    ///
    /// ## References
    /// - Linux `PR_SET_NO_NEW_PRIVS`
    /// - CIS Docker Benchmark 5.25
    PrivilegeEscalationAllowed {
        id: "privilege-escalation-allowed",
        title: "no-new-privileges is not set",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Compose],
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
}
