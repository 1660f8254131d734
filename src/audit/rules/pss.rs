//! The Kubernetes Pod Security Standards, check by check, and the rules that implement them.
//!
//! `policies/baseline.yaml` and `policies/restricted.yaml` enable exactly the rules listed
//! here for their level (with the parameters the level needs); the conformance test audits
//! the upstream Pod Security Admission fixtures with them and checks that every `fail`
//! fixture is flagged by the rule mapped to its check and no `pass` fixture is flagged.

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
