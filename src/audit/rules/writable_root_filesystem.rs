//! `writable-root-filesystem`: the container's root filesystem is writable.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags services without `read_only: true`.
    ///
    /// ## Why it matters
    /// A writable root filesystem lets an attacker drop tools, modify binaries or plant
    /// persistence inside the container. A read-only root with explicit `tmpfs` mounts for
    /// scratch space makes the image immutable at runtime.
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
    ///     read_only: true
    ///     tmpfs: [/tmp]
    /// ```
    ///
    /// ## References
    /// - CIS Docker Benchmark 5.12
    WritableRootFilesystem {
        id: "writable-root-filesystem",
        title: "Root filesystem is writable",
        category: LeastPrivilege,
        severity: Low,
        targets: [Compose],
        params: [],
    }
}

impl Rule for WritableRootFilesystem {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let node = svc.get("read_only");
        if node.and_then(|n| n.as_bool()) == Some(true) {
            return;
        }
        let loc = node.map_or(svc.key.loc, |n| n.loc);
        out.emit(
            loc,
            format!("service `{}` has a writable root filesystem", svc.name),
        )
        .help("set `read_only: true` and mount `tmpfs` where the service must write")
        .resource(svc.resource());
    }
}
