//! `docker-socket-mounted`: the container engine's socket is mounted in.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::{MountKind, Service};

crate::declare_rule! {
    /// ## What it does
    /// Flags bind mounts of a container-engine control socket: `docker.sock`,
    /// `containerd.sock`, `crio.sock`, `podman.sock` (under `/var/run`, `/run` or anywhere),
    /// read-only or not.
    ///
    /// ## Why it matters
    /// Access to the engine socket is root on the host: the container can start a privileged
    /// container that mounts `/`. A `:ro` flag does not help; it only protects the socket
    /// file, not the API behind it.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   agent:
    ///     volumes: ["/var/run/docker.sock:/var/run/docker.sock"]
    /// ```
    ///
    /// ## Fix
    /// Remove the mount. If a tool truly needs the API, put a filtering proxy in front of
    /// it (read-only endpoints only) and keep that proxy off every exposed network.
    ///
    /// ## References
    /// - OWASP Docker Security Cheat Sheet, rule 1
    /// - CIS Docker Benchmark 5.31
    DockerSocketMounted {
        id: "docker-socket-mounted",
        title: "Container engine socket mounted into a container",
        category: LeastPrivilege,
        severity: Critical,
        targets: [Compose],
        params: [],
    }
}

/// Does the host path name a container-engine socket?
pub fn is_engine_socket(path: &str) -> bool {
    let file = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    matches!(
        file,
        "docker.sock" | "containerd.sock" | "crio.sock" | "podman.sock" | "dockershim.sock"
    )
}

impl Rule for DockerSocketMounted {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        for m in svc.volumes() {
            if m.kind != MountKind::Bind {
                continue;
            }
            if let Some(src) = m.source.as_deref().filter(|s| is_engine_socket(s)) {
                out.emit(
                    m.node.loc,
                    format!(
                        "service `{}` mounts the container engine socket {src}",
                        svc.name
                    ),
                )
                .help("remove the mount; access to the engine API is root on the host")
                .resource(svc.resource());
            }
        }
    }
}
