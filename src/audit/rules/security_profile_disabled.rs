//! `security-profile-disabled`: seccomp, AppArmor or SELinux confinement switched off.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags `security_opt` entries that disable kernel confinement:
    /// `seccomp:unconfined`, `apparmor:unconfined`, `label:disable` (SELinux) and
    /// `systempaths=unconfined`.
    ///
    /// ## Why it matters
    /// The default seccomp profile blocks ~44 dangerous system calls (`mount`, `kexec_load`,
    /// `bpf`, `ptrace` on older kernels...), and AppArmor/SELinux keep a process away from
    /// host files. Turning them off removes the layer that stops most container escapes.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     security_opt: ["seccomp:unconfined"]
    /// ```
    ///
    /// ## Fix
    /// Remove the option, or ship a custom profile (`seccomp:/path/profile.json`) that allows
    /// only the extra calls the workload needs.
    ///
    /// ## References
    /// - Docker: "Seccomp security profiles for Docker"
    /// - CIS Docker Benchmark 5.1, 5.2, 5.21
    SecurityProfileDisabled {
        id: "security-profile-disabled",
        title: "Seccomp, AppArmor or SELinux confinement disabled",
        category: LeastPrivilege,
        severity: High,
        targets: [Compose],
        params: [],
    }
}

impl Rule for SecurityProfileDisabled {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        for (opt, node) in svc.str_list("security_opt") {
            let Some((name, value)) = opt.trim().split_once([':', '=']) else {
                continue;
            };
            let what = match (name, value) {
                ("seccomp", "unconfined") => "seccomp",
                ("apparmor", "unconfined") => "AppArmor",
                ("label", "disable") => "SELinux labelling",
                ("systempaths", "unconfined") => "masked system paths",
                _ => continue,
            };
            out.emit(
                node.loc,
                format!("service `{}` disables {what} confinement", svc.name),
            )
            .help("remove the option or use a custom profile that allows only what is needed")
            .resource(svc.resource());
        }
    }
}
