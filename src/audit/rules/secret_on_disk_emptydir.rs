//! `secret-on-disk-emptydir`: secrets are written to a disk-backed `emptyDir`.

use crate::audit::finding::Loc;
use crate::audit::rules::image::ImageRef;
use crate::audit::rules::{Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::kubernetes::{Container, PodSpec};
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags `emptyDir` volumes without `medium: Memory` that hold secrets, judged two
    /// ways:
    /// - the volume is mounted by an elastics-sec container (image named `elastics-sec`, the
    ///   last path component of the repository, or a `command`/`args` starting with
    ///   `elastics-sec`), which writes fetched secrets and certificates into it;
    /// - any container mounts it at a path with a segment naming secrets (the
    ///   `path_words` parameter: `secrets`, `certs`, `tls`, `keys`, `credentials` by
    ///   default, compared without regard to case), such as `/run/secrets/app`.
    ///
    /// ## Why it matters
    /// A default `emptyDir` lives on the node's disk (under `/var/lib/kubelet/pods`). Secret
    /// files written there survive on the disk after the pod is gone, end up in node
    /// backups and snapshots, and can be read by anyone with access to the node's
    /// filesystem. A `Memory` medium is a tmpfs: the data never touches the disk and
    /// disappears with the pod. elastics-sec refuses to write into a non-tmpfs directory by
    /// default for this reason.
    ///
    /// ## Example
    /// ```yaml
    ///       initContainers:
    ///       - name: fetch-secrets
    ///         image: ghcr.io/elastics-sec/elastics-sec:1.0.0
    ///         args: [fetch, --config, /etc/elastics-sec/config.toml]
    ///         volumeMounts: [{name: secrets, mountPath: /run/secrets/app}]
    ///       volumes:
    ///       - name: secrets
    ///         emptyDir: {}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///       volumes:
    ///       - name: secrets
    ///         emptyDir: {medium: Memory, sizeLimit: 1Mi}
    /// ```
    ///
    /// ## References
    /// - Kubernetes documentation: "Volumes", emptyDir (`medium: Memory` is a tmpfs)
    /// - Kubernetes documentation: "Good practices for Kubernetes Secrets"
    SecretOnDiskEmptydir {
        id: "secret-on-disk-emptydir",
        title: "Secrets written to a disk-backed emptyDir",
        category: SecretsHygiene,
        severity: High,
        targets: [Kubernetes],
        params: [ParamMeta {
            name: "path_words",
            doc: "Mount-path segments that mark a volume as holding secrets.",
            default: ParamDefault::StrList(&["secrets", "certs", "tls", "keys", "credentials"]),
        }],
    }
}

/// The program name of a command-line word: its first word, without directories.
fn first_word(n: &Node) -> Option<&str> {
    n.as_str()
        .and_then(|s| s.split_whitespace().next())
        .map(|w| w.rsplit('/').next().unwrap_or(w))
}

/// Is the first word of a command line (or of a `sh -c` script) the elastics-sec binary?
fn starts_with_elastics_sec(words: &[Node]) -> bool {
    match words.first().and_then(first_word) {
        Some("elastics-sec") => true,
        // `sh -c "elastics-sec fetch ..."`: the script's first word counts.
        Some("sh" | "bash" | "ash" | "dash") => {
            words.get(1).and_then(Node::as_str) == Some("-c")
                && words.get(2).and_then(first_word) == Some("elastics-sec")
        }
        _ => false,
    }
}

/// Is this container elastics-sec (by image name, or by the program it runs)?
pub fn is_elastics_sec(c: &Container<'_>) -> bool {
    let by_image = c.image().and_then(Node::as_str).is_some_and(|i| {
        ImageRef::parse(i)
            .name()
            .eq_ignore_ascii_case("elastics-sec")
    });
    by_image
        || ["command", "args"].iter().any(|f| {
            c.get(f)
                .and_then(Node::as_seq)
                .is_some_and(starts_with_elastics_sec)
        })
}

/// The `volumeMounts` of a container, as `(volume name, mount node)`.
pub fn mounts<'a>(c: &Container<'a>) -> Vec<(&'a str, &'a Node)> {
    c.get("volumeMounts")
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .filter_map(|m| m.get("name").and_then(Node::as_str).map(|n| (n, m)))
        .collect()
}

/// Where a finding about a volume mount points: its `name:` value, or the mount item.
pub fn mount_loc(mount: &Node) -> Loc {
    mount.get("name").map_or(mount.loc, |n| n.loc)
}

/// Does a path have a segment equal to one of `words` (case-insensitive)?
fn names_secrets(path: &str, words: &[String]) -> bool {
    path.split('/')
        .any(|seg| words.iter().any(|w| seg.eq_ignore_ascii_case(w)))
}

impl Rule for SecretOnDiskEmptydir {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let words = cx.params.str_list("path_words");
        let containers: Vec<_> = pod.containers().collect();
        for (name, vol) in pod.volumes() {
            let Some(entry) = vol.entry("emptyDir") else {
                continue;
            };
            let medium = entry.value.get("medium");
            if medium.and_then(Node::as_str) == Some("Memory") {
                continue;
            }
            let mut reasons = Vec::new();
            for c in &containers {
                for (_, m) in mounts(c).into_iter().filter(|(v, _)| *v == name) {
                    let path = m.get("mountPath").and_then(Node::as_str).unwrap_or("");
                    if is_elastics_sec(c) {
                        reasons.push((
                            mount_loc(m),
                            format!("elastics-sec {} writes it at {path}", c.describe()),
                        ));
                    } else if names_secrets(path, words) {
                        reasons.push((
                            mount_loc(m),
                            format!("{} mounts it at {path}", c.describe()),
                        ));
                    }
                }
            }
            let Some((_, first)) = reasons.first() else {
                continue;
            };
            let loc = medium.map_or(entry.key.loc, |m| m.loc);
            let mut f = out
                .emit(
                    loc,
                    format!(
                        "volume `{name}` of {} holds secrets on the node's disk ({first}): emptyDir without `medium: Memory`",
                        pod.object.resource()
                    ),
                )
                .help("set `emptyDir: {medium: Memory}` so the secrets live in a tmpfs and never touch the disk")
                .resource(pod.object.resource());
            for (l, why) in &reasons {
                f = f.related(*l, why.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::source::kubernetes::objects;
    use crate::audit::yaml::{load, Limits};

    #[test]
    fn recognises_elastics_sec_containers() {
        let docs = load(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: 'ghcr.io/elastics-sec/elastics-sec:1.0@sha256:00'}\n  - {name: b, image: tools:1, command: [/usr/bin/elastics-sec, agent]}\n  - {name: c, image: tools:1, args: ['elastics-sec fetch']}\n  - {name: d, image: tools:1, command: [bash, -c, 'elastics-sec exec -- app']}\n  - {name: e, image: elastics-sec-exporter:1}\n  - {name: f, image: tools:1, command: [sh, -c, 'echo elastics-sec']}\n",
            0,
            Limits::default(),
        )
        .unwrap();
        let objs = objects(0, &docs);
        let pod = objs[0].pod_spec().unwrap();
        let got: Vec<bool> = pod.containers().map(|c| is_elastics_sec(&c)).collect();
        assert_eq!(got, [true, true, true, true, false, false]);
    }

    #[test]
    fn secret_path_segments() {
        let words: Vec<String> = ["secrets", "tls"].iter().map(|s| s.to_string()).collect();
        assert!(names_secrets("/run/secrets/app", &words));
        assert!(names_secrets("/etc/TLS", &words));
        assert!(!names_secrets("/var/secrets-cache", &words));
    }
}
