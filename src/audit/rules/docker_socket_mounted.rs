//! `docker-socket-mounted`: the container engine's socket is mounted in.

use crate::audit::rules::{ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::{MountKind, Service};
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags bind mounts of a container-engine control socket: `docker.sock`,
    /// `containerd.sock`, `crio.sock`, `podman.sock` (under `/var/run`, `/run` or anywhere),
    /// read-only or not, and Kubernetes `hostPath` volumes whose `path` is such a socket.
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
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: log-shipper, namespace: observability}
    /// spec:
    ///   template:
    ///     spec:
    ///       volumes:
    ///       - name: docker
    ///         hostPath: {path: /var/run/docker.sock, type: Socket}
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
        targets: [Compose, Kubernetes],
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

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for (name, vol) in pod.volumes() {
            let Some(path) = vol.path(&["hostPath", "path"]) else {
                continue;
            };
            let Some(p) = path.as_str().filter(|p| is_engine_socket(p)) else {
                continue;
            };
            out.emit(
                path.loc,
                format!(
                    "volume `{name}` of {} mounts the container engine socket {p} from the host",
                    pod.object.resource()
                ),
            )
            .help("remove the hostPath volume; access to the engine API is root on the node")
            .resource(pod.object.resource());
        }
    }
}
