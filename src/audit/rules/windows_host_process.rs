//! `windows-host-process`: a Windows pod or container runs as a HostProcess.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags `securityContext.windowsOptions.hostProcess: true` in the pod's
    /// `securityContext` or any container's (regular, init, native sidecar, ephemeral):
    /// Pod Security Standards baseline check `windowsHostProcess`. A pod-level value is
    /// reported once, at the pod.
    ///
    /// ## Why it matters
    /// A Windows HostProcess container runs directly on the node, in the host's network
    /// namespace, with access to the host's filesystem and, as `NT AUTHORITY\SYSTEM`, full
    /// administrative control of the node: the Windows equivalent of a privileged
    /// container.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: win-exporter}
    /// spec:
    ///   template:
    ///     spec:
    ///       nodeSelector: {kubernetes.io/os: windows}
    ///       hostNetwork: true
    ///       securityContext:
    ///         windowsOptions:
    ///           hostProcess: true
    ///           runAsUserName: "NT AUTHORITY\\SYSTEM"
    ///       containers:
    ///       - name: exporter
    ///         image: registry.example.com/windows-exporter:0.25
    /// ```
    ///
    /// ## Fix
    /// Run the workload as a normal Windows container; node agents that need the host
    /// belong in a dedicated namespace with a policy exception.
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards (baseline): HostProcess
    /// - Kubernetes documentation: Create a Windows HostProcess Pod
    WindowsHostProcess {
        id: "windows-host-process",
        title: "Windows HostProcess container",
        category: LeastPrivilege,
        severity: Critical,
        targets: [Kubernetes],
        params: [],
    }
}

fn host_process(sc: Option<&Node>) -> Option<&Node> {
    sc?.path(&["windowsOptions", "hostProcess"])
        .filter(|n| n.as_bool() == Some(true))
}

impl Rule for WindowsHostProcess {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        if let Some(n) = host_process(pod.security_context()) {
            out.emit(n.loc, "the pod runs as a Windows HostProcess")
                .help("remove `windowsOptions.hostProcess: true`")
                .resource(pod.object.resource());
        }
        for c in pod.containers() {
            if let Some(n) = host_process(c.security_context()) {
                out.emit(
                    n.loc,
                    format!("{} runs as a Windows HostProcess", c.describe()),
                )
                .help("remove `windowsOptions.hostProcess: true`")
                .resource(pod.object.resource());
            }
        }
    }
}
