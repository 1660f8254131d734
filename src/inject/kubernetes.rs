//! Injection into Kubernetes manifests: every Pod and pod template (Deployment,
//! StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob; `kind: List`
//! items included) gets the secrets and config volumes, the elastics-sec init container
//! and/or native sidecar, read-only mounts in the app's containers and the injection
//! annotations. Other documents are not touched. The order of the edits matters where two
//! land at the same position (the end of a container is often the end of the pod spec):
//! inner edits are made first, so they stay inside their block.

use std::collections::HashSet;

use crate::audit::source::kubernetes::{objects, Object};
use crate::audit::yaml::{Document, Node};
use crate::inject::text::{dquote, emit_entry, emit_item, flow_strs, map, raw, s, Edits, Text, Y};
use crate::inject::{
    at, InjectError, Options, Output, Session, AGENT_NAME, ANNOTATION_INJECT, ANNOTATION_INJECTED,
    ANNOTATION_SECRETS, CONFIG_DIR, CONFIG_FILE, CONFIG_KEY, CONFIG_VOLUME, FETCH_NAME,
    SECRETS_DIR, SECRETS_VOLUME, UID,
};

pub fn inject(
    name: &str,
    t: &Text<'_>,
    docs: &[Document],
    opts: &Options,
    session: &mut Session,
) -> Result<Output, InjectError> {
    let mut edits = Edits::default();
    let mut notes = Vec::new();
    let objs = objects(0, docs);
    let mut namespaces: Vec<Option<String>> = Vec::new();
    let mut specs = HashSet::new();
    for obj in &objs {
        let Some(pod) = obj.pod_spec() else {
            continue;
        };
        let disabled = pod.annotations().iter().any(|(k, v)| {
            *k == ANNOTATION_INJECT
                && matches!(v.as_str(), Some("disabled" | "false" | "off" | "no"))
        });
        if disabled {
            notes.push(format!(
                "{name}: {} opted out ({ANNOTATION_INJECT}: disabled)",
                obj.resource()
            ));
            continue;
        }
        // Two workloads at one position: a pod spec shared through a YAML alias.
        if !specs.insert((pod.spec.loc.line, pod.spec.loc.col)) {
            return Err(at(
                name,
                pod.spec,
                format!(
                    "the pod spec of {} is shared with another workload through a YAML \
                     alias; inject would edit both through one text",
                    obj.resource()
                ),
            ));
        }
        inject_pod(name, t, obj, pod.spec, pod.meta, opts, &mut edits)?;
        let ns = obj.namespace.map(str::to_string);
        if !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    if let Some(cfg) = &opts.config {
        let mut existing: HashSet<Option<String>> = HashSet::new();
        for o in objs
            .iter()
            .filter(|o| o.kind == "ConfigMap" && o.name == opts.config_map)
        {
            existing.insert(o.namespace.map(str::to_string));
            let data = o.node.path(&["data", CONFIG_KEY]).and_then(Node::as_str);
            if data != Some(cfg.text.as_str()) {
                notes.push(format!(
                    "{name}:{}: {} differs from {}; left as is",
                    o.node.loc.line,
                    o.resource(),
                    cfg.path.display()
                ));
            }
        }
        let mut docs_out = String::new();
        for ns in namespaces {
            if existing.contains(&ns) || !session.config_maps.insert(ns.clone()) {
                continue;
            }
            docs_out.push_str(&config_map(&opts.config_map, ns.as_deref(), &cfg.text));
        }
        if !docs_out.is_empty() {
            edits.insert(t.src.len(), docs_out);
        }
    }
    Ok(Output {
        text: edits.apply(t.src),
        notes,
    })
}

/// The pod template mapping (holder of `metadata` and `spec`) of a workload.
fn template<'a>(obj: &Object<'a>) -> Option<&'a Node> {
    match obj.kind {
        "Pod" => Some(obj.node),
        "CronJob" => obj.node.path(&["spec", "jobTemplate", "spec", "template"]),
        _ => obj.node.path(&["spec", "template"]),
    }
}

/// Refuses a collection inject would have to edit that is not block style, or that comes
/// from an alias or merge key (its position is elsewhere in the file).
fn editable(
    name: &str,
    t: &Text<'_>,
    obj: &Object<'_>,
    key: &str,
    node: &Node,
    within: &Node,
) -> Result<(), InjectError> {
    if node.as_map().is_none() && node.as_seq().is_none() {
        return Err(at(
            name,
            node,
            format!(
                "`{key}` of {} is a {}, not a block collection inject can add to",
                obj.resource(),
                node.kind_name()
            ),
        ));
    }
    if !t.is_block(node) {
        return Err(at(
            name,
            node,
            format!(
                "`{key}` of {} is written in flow style; inject only edits block-style YAML \
                 (rewrite it in block style, or add the elastics-sec parts by hand)",
                obj.resource()
            ),
        ));
    }
    let (l0, l1) = (within.loc.line, t.block_end(within));
    if node.loc.line < l0 || node.loc.line > l1 {
        return Err(at(
            name,
            within,
            format!(
                "`{key}` of {} comes from a YAML alias or merge key (line {}); inject would \
                 change every object sharing it",
                obj.resource(),
                node.loc.line
            ),
        ));
    }
    Ok(())
}

/// Adds `items` to the block sequence `parent.key`, creating the key at the end of `parent`
/// when missing. `front`: insert before the existing items instead of after them.
#[allow(clippy::too_many_arguments)]
fn add_items(
    name: &str,
    t: &Text<'_>,
    obj: &Object<'_>,
    edits: &mut Edits,
    parent: &Node,
    key: &str,
    items: Vec<Y>,
    front: bool,
) -> Result<(), InjectError> {
    if items.is_empty() {
        return Ok(());
    }
    match parent.get(key) {
        Some(seq) if t.empty_flow(seq).is_some() && on_lines(t, seq, parent) => {
            // `key: []`: drop the `[]`, the items follow as a block.
            if let Some((a, b)) = t.empty_flow(seq) {
                edits.replace(a, b, String::new());
            }
            let mut out = String::new();
            for item in &items {
                emit_item(&mut out, t.indent_of(parent) + 2, item);
            }
            edits.into_line(t, seq.loc.line, out);
        }
        Some(seq) => {
            editable(name, t, obj, key, seq, parent)?;
            let Some(existing) = seq.as_seq() else {
                return Err(at(
                    name,
                    seq,
                    format!("`{key}` of {} is not a list", obj.resource()),
                ));
            };
            let indent = t.indent_of(seq);
            let mut out = String::new();
            for item in &items {
                emit_item(&mut out, indent, item);
            }
            match existing.first() {
                Some(first) if front => {
                    // Comments directly above the first item stay with it.
                    let mut line = first.loc.line;
                    while line > 1 {
                        let above = t.line(line - 1);
                        let trimmed = above.trim_start();
                        if trimmed.starts_with('#') && above.len() - trimmed.len() == indent {
                            line -= 1;
                        } else {
                            break;
                        }
                    }
                    edits.before_line(t, line, out);
                }
                _ => edits.after_line(t, t.block_end(seq), out),
            }
        }
        None => {
            let mut out = String::new();
            emit_entry(&mut out, t.indent_of(parent), key, &Y::Seq(items));
            edits.after_line(t, t.block_end(parent), out);
        }
    }
    Ok(())
}

/// Is `node` written inside `within` (not reached through an alias)?
fn on_lines(t: &Text<'_>, node: &Node, within: &Node) -> bool {
    (within.loc.line..=t.block_end(within)).contains(&node.loc.line)
}

fn names(seq: Option<&Node>) -> Vec<&str> {
    seq.and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .filter_map(|n| n.get("name").and_then(Node::as_str))
        .collect()
}

fn inject_pod(
    name: &str,
    t: &Text<'_>,
    obj: &Object<'_>,
    spec: &Node,
    meta: Option<&Node>,
    opts: &Options,
    edits: &mut Edits,
) -> Result<(), InjectError> {
    let holder = template(obj).unwrap_or(obj.node);
    editable(name, t, obj, "spec", spec, holder)?;
    let Some(containers) = spec.get("containers") else {
        return Err(at(
            name,
            spec,
            format!("{} has no `containers`", obj.resource()),
        ));
    };
    editable(name, t, obj, "containers", containers, spec)?;

    // 1. Mounts in the app's containers (and its own init containers, which run after
    //    elastics-sec's and may need the secrets too, e.g. a database migration).
    let ours = [FETCH_NAME, AGENT_NAME];
    let mut app: Vec<&Node> = Vec::new();
    if let Some(init) = spec.get("initContainers") {
        editable(name, t, obj, "initContainers", init, spec)?;
        app.extend(init.as_seq().unwrap_or(&[]).iter().filter(|c| {
            !c.get("name")
                .and_then(Node::as_str)
                .is_some_and(|n| ours.contains(&n))
        }));
    }
    app.extend(containers.as_seq().unwrap_or(&[]));
    let mut seen = Vec::new();
    for c in app {
        editable(name, t, obj, "containers[]", c, spec)?;
        // The same position twice: an alias (`- *c`) repeating another container.
        if seen.contains(&(c.loc.line, c.loc.col)) {
            return Err(at(
                name,
                c,
                format!(
                    "a container of {} is repeated through a YAML alias; inject would edit \
                     both through one text",
                    obj.resource()
                ),
            ));
        }
        seen.push((c.loc.line, c.loc.col));
        let mounted = c
            .get("volumeMounts")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .any(|m| {
                m.get("name").and_then(Node::as_str) == Some(SECRETS_VOLUME)
                    || m.get("mountPath").and_then(Node::as_str) == Some(SECRETS_DIR)
            });
        if !mounted {
            let mount = map(vec![
                ("name", s(SECRETS_VOLUME)),
                ("mountPath", s(SECRETS_DIR)),
                ("readOnly", raw("true")),
            ]);
            add_items(name, t, obj, edits, c, "volumeMounts", vec![mount], false)?;
        }
    }

    // 2. The elastics-sec containers, first among the init containers.
    let have = names(spec.get("initContainers"));
    let mut new = Vec::new();
    if opts.mode.init() && !have.contains(&FETCH_NAME) {
        new.push(container(opts, FETCH_NAME, "fetch", false));
    }
    if opts.mode.sidecar() && !have.contains(&AGENT_NAME) {
        new.push(container(opts, AGENT_NAME, "agent", true));
    }
    add_items(name, t, obj, edits, spec, "initContainers", new, true)?;

    // 3. Volumes.
    let have = names(spec.get("volumes"));
    let mut vols = Vec::new();
    if !have.contains(&SECRETS_VOLUME) {
        vols.push(map(vec![
            ("name", s(SECRETS_VOLUME)),
            (
                "emptyDir",
                map(vec![("medium", s("Memory")), ("sizeLimit", s("16Mi"))]),
            ),
        ]));
    }
    if !have.contains(&CONFIG_VOLUME) {
        vols.push(map(vec![
            ("name", s(CONFIG_VOLUME)),
            ("configMap", map(vec![("name", s(&opts.config_map))])),
        ]));
    }
    add_items(name, t, obj, edits, spec, "volumes", vols, false)?;

    // 4. Annotations on the pod (template).
    let mut want: Vec<(&str, String)> = vec![(ANNOTATION_INJECTED, "true".to_string())];
    if !opts.secrets.is_empty() {
        let list: Vec<&str> = opts.secrets.iter().map(|s| s.name.as_str()).collect();
        want.push((ANNOTATION_SECRETS, list.join(",")));
    }
    annotate(name, t, obj, holder, meta, &want, edits)
}

fn annotate(
    name: &str,
    t: &Text<'_>,
    obj: &Object<'_>,
    holder: &Node,
    meta: Option<&Node>,
    want: &[(&str, String)],
    edits: &mut Edits,
) -> Result<(), InjectError> {
    let entries = |present: Option<&Node>| -> Vec<(String, Y)> {
        want.iter()
            .filter(|(k, _)| present.and_then(|a| a.get(k)).is_none())
            .map(|(k, v)| (k.to_string(), raw(dquote(v))))
            .collect()
    };
    match meta {
        Some(meta) => {
            editable(name, t, obj, "metadata", meta, holder)?;
            match meta.get("annotations") {
                Some(ann) if t.empty_flow(ann).is_some() && on_lines(t, ann, meta) => {
                    if let Some((a, b)) = t.empty_flow(ann) {
                        edits.replace(a, b, String::new());
                    }
                    let mut out = String::new();
                    for (k, v) in &entries(None) {
                        emit_entry(&mut out, t.indent_of(meta) + 2, k, v);
                    }
                    edits.into_line(t, ann.loc.line, out);
                }
                Some(ann) => {
                    editable(name, t, obj, "metadata.annotations", ann, meta)?;
                    let new = entries(Some(ann));
                    if !new.is_empty() {
                        let mut out = String::new();
                        for (k, v) in &new {
                            emit_entry(&mut out, t.indent_of(ann), k, v);
                        }
                        edits.after_line(t, t.block_end(ann), out);
                    }
                }
                None => {
                    let mut out = String::new();
                    emit_entry(
                        &mut out,
                        t.indent_of(meta),
                        "annotations",
                        &Y::Map(entries(None)),
                    );
                    edits.after_line(t, t.block_end(meta), out);
                }
            }
        }
        None => {
            // A pod template without metadata: add it just before its `spec:` key.
            let mut out = String::new();
            let m = Y::Map(vec![("annotations".to_string(), Y::Map(entries(None)))]);
            emit_entry(&mut out, t.indent_of(holder), "metadata", &m);
            match holder.entry("spec") {
                Some(e) => edits.before_line(t, e.key.loc.line, out),
                None => edits.after_line(t, t.block_end(holder), out),
            }
        }
    }
    Ok(())
}

/// The restricted security context of the injected containers.
pub fn security_context() -> Y {
    map(vec![
        ("runAsNonRoot", raw("true")),
        ("runAsUser", raw(UID.to_string())),
        ("runAsGroup", raw(UID.to_string())),
        ("allowPrivilegeEscalation", raw("false")),
        ("readOnlyRootFilesystem", raw("true")),
        ("capabilities", map(vec![("drop", flow_strs(&["ALL"]))])),
        ("seccompProfile", map(vec![("type", s("RuntimeDefault"))])),
    ])
}

fn container(opts: &Options, cname: &str, cmd: &str, sidecar: bool) -> Y {
    let mut entries = vec![
        ("name", s(cname)),
        ("image", s(&opts.image)),
        ("args", flow_strs(&[cmd, "--config", CONFIG_FILE])),
    ];
    if sidecar {
        // A native sidecar: started before the app, kept running, stopped after it.
        entries.push(("restartPolicy", s("Always")));
    }
    entries.extend([
        ("securityContext", security_context()),
        (
            "resources",
            map(vec![
                (
                    "requests",
                    map(vec![("cpu", s("10m")), ("memory", s("32Mi"))]),
                ),
                ("limits", map(vec![("memory", s("64Mi"))])),
            ]),
        ),
        (
            "volumeMounts",
            Y::Seq(vec![
                map(vec![
                    ("name", s(SECRETS_VOLUME)),
                    ("mountPath", s(opts.output_dir())),
                ]),
                map(vec![
                    ("name", s(CONFIG_VOLUME)),
                    ("mountPath", s(CONFIG_DIR)),
                    ("readOnly", raw("true")),
                ]),
            ]),
        ),
    ]);
    map(entries)
}

/// A ConfigMap document holding the daemon config as a literal block.
fn config_map(cm: &str, ns: Option<&str>, toml: &str) -> String {
    let mut out = String::from("---\n# elastics-sec daemon config (added by `elastics-sec inject`).\napiVersion: v1\nkind: ConfigMap\nmetadata:\n");
    out.push_str(&format!("  name: {}\n", crate::inject::text::scalar(cm)));
    if let Some(ns) = ns {
        out.push_str(&format!(
            "  namespace: {}\n",
            crate::inject::text::scalar(ns)
        ));
    }
    let chomp = if toml.ends_with("\n\n") {
        "+"
    } else if toml.ends_with('\n') {
        ""
    } else {
        "-"
    };
    // An indentation indicator when the first line starts with a space.
    let ind = if toml.starts_with(' ') { "2" } else { "" };
    out.push_str(&format!("data:\n  {CONFIG_KEY}: |{ind}{chomp}\n"));
    for line in toml.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
