//! `host-device-exposed`: host devices are passed into the container.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags every entry of a service's `devices`, and `device_cgroup_rules`.
    ///
    /// ## Why it matters
    /// A host device node gives direct access to hardware or kernel interfaces: a block
    /// device exposes the host's disks, `/dev/mem` or `/dev/kmsg` the kernel, `/dev/fuse`
    /// and `/dev/net/tun` enable well-known escape and tunnelling tricks.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     devices: ["/dev/sda:/dev/sda"]
    /// ```
    ///
    /// ## Fix
    /// Remove the device. If hardware access is the point of the service (a GPU, an HSM),
    /// record a policy exception with the reason.
    ///
    /// ## References
    /// - CIS Docker Benchmark 5.17
    HostDeviceExposed {
        id: "host-device-exposed",
        title: "Host device exposed to a container",
        category: LeastPrivilege,
        severity: High,
        targets: [Compose],
        params: [],
    }
}

impl Rule for HostDeviceExposed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        if let Some(items) = svc.get("devices").and_then(|n| n.as_seq()) {
            for item in items {
                let what = item
                    .as_str()
                    .map(|s| s.split(':').next().unwrap_or(s).to_string())
                    .or_else(|| {
                        item.get("source")
                            .and_then(|s| s.as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "a device".to_string());
                out.emit(item.loc, format!("service `{}` has access to host device {what}", svc.name))
                    .help("remove the device, or record a policy exception if hardware access is required")
                    .resource(svc.resource());
            }
        }
        for (rule, node) in svc.str_list("device_cgroup_rules") {
            out.emit(
                node.loc,
                format!(
                    "service `{}` widens device access with cgroup rule `{rule}`",
                    svc.name
                ),
            )
            .resource(svc.resource());
        }
    }
}
