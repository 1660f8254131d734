//! The Kubernetes Pod Security Standards, check by check, and the rules that implement them.
//!
//! `policies/baseline.yaml` and `policies/restricted.yaml` enable exactly the rules listed
//! here for their level (with the parameters the level needs); the conformance test audits
//! the upstream Pod Security Admission fixtures with them and checks that every `fail`
//! fixture is flagged by the rule mapped to its check and no `pass` fixture is flagged.

use crate::audit::finding::Loc;
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

/// A Pod Security Standards level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Baseline,
    Restricted,
}

/// `(check id as Pod Security Admission names it, level, rules implementing it)`.
pub const MAPPING: &[(&str, Level, &[&str])] = &[
    (
        "appArmorProfile",
        Level::Baseline,
        &["security-profile-disabled"],
    ),
    (
        "capabilities_baseline",
        Level::Baseline,
        &["capability-added"],
    ),
    (
        "hostNamespaces",
        Level::Baseline,
        &["host-namespace-shared"],
    ),
    ("hostPathVolumes", Level::Baseline, &["host-path-volume"]),
    ("hostPorts", Level::Baseline, &["host-port-used"]),
    (
        "hostProbesAndHostLifecycle",
        Level::Baseline,
        &["probe-host-override"],
    ),
    ("privileged", Level::Baseline, &["privileged-mode"]),
    ("procMount", Level::Baseline, &["proc-mount-unmasked"]),
    (
        "seLinuxOptions",
        Level::Baseline,
        &["selinux-options-custom"],
    ),
    (
        "seccompProfile_baseline",
        Level::Baseline,
        &["security-profile-disabled"],
    ),
    ("sysctls", Level::Baseline, &["unsafe-sysctl"]),
    (
        "windowsHostProcess",
        Level::Baseline,
        &["windows-host-process"],
    ),
    (
        "allowPrivilegeEscalation",
        Level::Restricted,
        &["privilege-escalation-allowed"],
    ),
    (
        "capabilities_restricted",
        Level::Restricted,
        &["capabilities-not-dropped", "capability-added"],
    ),
    (
        "procMount_restricted",
        Level::Restricted,
        &["proc-mount-unmasked"],
    ),
    (
        "restrictedVolumes",
        Level::Restricted,
        &["restricted-volume-type", "host-path-volume"],
    ),
    ("runAsNonRoot", Level::Restricted, &["runs-as-root"]),
    ("runAsUser", Level::Restricted, &["runs-as-root"]),
    (
        "seccompProfile_restricted",
        Level::Restricted,
        &["seccomp-profile-missing", "security-profile-disabled"],
    ),
];

/// The rules mapped to a check id (case-insensitive, as fixture file names are lower case).
pub fn rules_for(check: &str) -> Option<&'static [&'static str]> {
    MAPPING
        .iter()
        .find(|(c, _, _)| c.eq_ignore_ascii_case(check))
        .map(|(_, _, r)| *r)
}

/// The capabilities the baseline level lets a container add (`capabilities_baseline`), as
/// Pod Security Admission spells them: upper case, without the `CAP_` prefix.
pub const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// `spec.os.name: windows`. Pod Security Admission (v1.25+) skips the Linux-only restricted
/// checks (`allowPrivilegeEscalation`, `capabilities_restricted`,
/// `seccompProfile_restricted`) for such pods, because Windows has none of those mechanisms.
pub fn is_windows(pod: &PodSpec<'_>) -> bool {
    pod.get("os")
        .and_then(|os| os.get("name"))
        .and_then(Node::as_str)
        == Some("windows")
}

/// Where to blame a field that holds a mapping or a list: its key, which is what a reader
/// looks for (the value of a block collection starts on the next line).
pub fn key_loc(parent: &Node, key: &str) -> Option<Loc> {
    parent.entry(key).map(|e| e.key.loc)
}
