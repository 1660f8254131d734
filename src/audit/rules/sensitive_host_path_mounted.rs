//! `sensitive-host-path-mounted`: a sensitive host directory is bind-mounted.

use crate::audit::rules::docker_socket_mounted::is_engine_socket;
use crate::audit::rules::{ComposeCx, Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::compose::{MountKind, Service};
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags bind mounts whose host path is one of the `paths` parameter or below one of
    /// them (default: `/`, `/etc`, `/proc`, `/sys`, `/boot`, `/root`, `/home`, `/var/run`,
    /// `/run`, `/dev`, `/var/lib/docker`, `/var/lib/containerd`, `/var/lib/kubelet`,
    /// `/var/log`, `/usr`, `/lib`, `/bin`, `/sbin`), read-only or not; in Kubernetes, the
    /// same for the `path` of `hostPath` volumes. Engine sockets are left to
    /// `docker-socket-mounted`.
    ///
    /// ## Why it matters
    /// These directories hold host credentials (`/etc/shadow`, kubelet and cloud agent
    /// keys, SSH keys in `/root`), kernel interfaces (`/proc`, `/sys`) and other containers'
    /// data (`/var/lib/docker`). Even read-only, they leak secrets; writable, they are a
    /// host takeover.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     volumes: ["/etc:/host-etc:ro"]
    /// ```
    ///
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: node-exporter, namespace: observability}
    /// spec:
    ///   template:
    ///     spec:
    ///       volumes:
    ///       - name: kubelet
    ///         hostPath: {path: /var/lib/kubelet}
    /// ```
    ///
    /// ## Fix
    /// Mount only the specific file or application directory needed, from a path the
    /// service owns (`./config/app.toml:/etc/app/app.toml:ro`), or use a named volume. In
    /// Kubernetes, use a `configMap`, `secret`, `projected` or `persistentVolumeClaim` volume
    /// instead of `hostPath`.
    ///
    /// ## References
    /// - CIS Docker Benchmark 5.5
    SensitiveHostPathMounted {
        id: "sensitive-host-path-mounted",
        title: "Sensitive host path bind-mounted",
        category: LeastPrivilege,
        severity: High,
        targets: [Compose, Kubernetes],
        params: [ParamMeta {
            name: "paths",
            doc: "Host paths that must not be bind-mounted (the path itself or anything below it; `/` matches only itself).",
            default: ParamDefault::StrList(&[
                "/", "/etc", "/proc", "/sys", "/boot", "/root", "/home", "/var/run", "/run", "/dev",
                "/var/lib/docker", "/var/lib/containerd", "/var/lib/kubelet", "/var/log", "/usr",
                "/lib", "/bin", "/sbin",
            ]),
        }],
    }
}

/// Is `path` equal to or below one of `sensitive` (`/` only matches itself)?
pub fn is_sensitive(path: &str, sensitive: &[String]) -> bool {
    let p = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    sensitive.iter().any(|s| {
        let s = if s.len() > 1 {
            s.trim_end_matches('/')
        } else {
            s.as_str()
        };
        if s == "/" {
            p == "/"
        } else {
            p == s || p.strip_prefix(s).is_some_and(|rest| rest.starts_with('/'))
        }
    })
}

impl Rule for SensitiveHostPathMounted {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let paths = cx.params.str_list("paths");
        for m in svc.volumes() {
            if m.kind != MountKind::Bind {
                continue;
            }
            let Some(src) = m.source.as_deref() else {
                continue;
            };
            if is_engine_socket(src) || !is_sensitive(src, paths) {
                continue;
            }
            out.emit(
                m.node.loc,
                format!(
                    "service `{}` bind-mounts the sensitive host path {src}",
                    svc.name
                ),
            )
            .help("mount only the specific files the service needs, or use a named volume")
            .resource(svc.resource());
        }
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let paths = cx.params.str_list("paths");
        for (name, vol) in pod.volumes() {
            let Some(path) = vol.path(&["hostPath", "path"]) else {
                continue;
            };
            let Some(p) = path.as_str() else { continue };
            if is_engine_socket(p) || !is_sensitive(p, paths) {
                continue;
            }
            out.emit(
                path.loc,
                format!(
                    "volume `{name}` of {} mounts the sensitive host path {p}",
                    pod.object.resource()
                ),
            )
            .help("mount only what the workload needs through a configMap, secret, projected or persistentVolumeClaim volume")
            .resource(pod.object.resource());
        }
    }
}
