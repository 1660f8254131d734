//! `writable-host-mount`: a host directory is bind-mounted writable.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::{MountKind, Service};

crate::declare_rule! {
    /// ## What it does
    /// Flags bind mounts (short syntax with a path source, or long syntax `type: bind`) that
    /// are not read-only (`:ro` / `read_only: true`).
    ///
    /// ## Why it matters
    /// A writable bind mount lets a compromised container change files on the host:
    /// configuration that other services read, scripts that the host runs, or the
    /// application's own source tree. Named volumes and tmpfs keep writes inside the
    /// container engine's control.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     volumes: ["./config:/etc/app"]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     volumes: ["./config:/etc/app:ro"]
    /// ```
    ///
    /// ## References
    /// - CIS Docker Benchmark 5.5, 5.10
    WritableHostMount {
        id: "writable-host-mount",
        title: "Host path bind-mounted writable",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Compose],
        params: [],
    }
}

impl Rule for WritableHostMount {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        for m in svc.volumes() {
            if m.kind == MountKind::Bind && !m.read_only {
                let src = m.source.as_deref().unwrap_or("?");
                out.emit(m.node.loc, format!("service `{}` bind-mounts {src} writable at {}", svc.name, m.target))
                    .help("add `:ro` (or `read_only: true`), or use a named volume for data the service writes")
                    .resource(svc.resource());
            }
        }
    }
}
