//! Injection into a compose file: an `elastics-sec-init` service that runs `fetch` once
//! (and/or an `elastics-sec-agent` service that keeps the files fresh), a tmpfs-backed named
//! volume shared with the app services, read-only mounts and `depends_on` in those services.
//!
//! Services are selected with `--service` (repeatable); by default every service with an
//! `image` or `build` whose name does not start with `elastics-sec`. A short-syntax
//! `depends_on` list (block, or a one-line `[a, b]`) is rewritten to the long syntax (`condition: service_started` for the
//! existing entries, which is what the short syntax means), because `condition:
//! service_completed_successfully` has no short form; a list with comments inside is
//! refused instead, since rewriting it would drop them.

use crate::audit::yaml::{Document, Node};
use crate::inject::text::{emit_entry, emit_item, flow_strs, map, raw, s, Edits, Text, Y};
/// The network of the elastics-sec services (egress to the provider).
const NETWORK: &str = "elastics-sec";

use crate::inject::{
    at, relative_to, InjectError, Options, Output, AGENT_NAME, CONFIG_FILE, INIT_SERVICE,
    SECRETS_DIR, SECRETS_VOLUME, UID,
};

pub fn inject(
    name: &str,
    t: &Text<'_>,
    doc: &Document,
    dir: Option<&std::path::Path>,
    opts: &Options,
) -> Result<Output, InjectError> {
    let Some(cfg) = &opts.config else {
        return Err(InjectError::Input {
            file: name.to_string(),
            message: "a compose file needs --config FILE (bind-mounted read-only into the \
                      elastics-sec service)"
                .to_string(),
        });
    };
    let root = &doc.root;
    let mut edits = Edits::default();
    let notes = Vec::new();
    let Some(services) = root.get("services") else {
        return Err(at(name, root, "no `services`"));
    };
    editable(name, t, "services", services, root)?;

    let selected: Vec<(&str, &Node, &Node)> = if opts.services.is_empty() {
        services
            .str_entries()
            .filter(|(n, e)| {
                !n.starts_with("elastics-sec")
                    && (e.value.get("image").is_some() || e.value.get("build").is_some())
            })
            .map(|(n, e)| (n, &e.key, &e.value))
            .collect()
    } else {
        let mut out = Vec::new();
        for want in &opts.services {
            let Some(e) = services.entry(want) else {
                let all: Vec<&str> = services.str_entries().map(|(n, _)| n).collect();
                return Err(at(
                    name,
                    root.entry("services").map_or(services, |e| &e.key),
                    format!(
                        "--service {want}: no such service (the file has: {})",
                        all.join(", ")
                    ),
                ));
            };
            out.push((want.as_str(), &e.key, &e.value));
        }
        out
    };

    // The app waits for the one-shot fetch; with only the agent, for the agent to start.
    let (dep, condition) = if opts.mode.init() {
        (INIT_SERVICE, "service_completed_successfully")
    } else {
        (AGENT_NAME, "service_started")
    };
    let mount = format!("{SECRETS_VOLUME}:{SECRETS_DIR}:ro");
    for (sname, key, svc) in &selected {
        let what = format!("service `{sname}`");
        if svc.as_map().is_none() || !t.is_block(svc) {
            return Err(at(
                name,
                key,
                format!("{what} is not a block mapping inject can edit"),
            ));
        }
        // Volumes.
        let targets: Vec<&str> = svc
            .get("volumes")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .filter_map(|v| match v.as_str() {
                Some(short) => short.split(':').nth(1),
                None => v.get("target").and_then(Node::as_str),
            })
            .collect();
        if !targets.contains(&SECRETS_DIR) {
            add_item(name, t, &mut edits, &what, svc, "volumes", s(&mount))?;
        }
        // depends_on.
        match svc.get("depends_on") {
            None => {
                let mut out = String::new();
                emit_entry(
                    &mut out,
                    t.indent_of(svc),
                    "depends_on",
                    &map(vec![(dep, map(vec![("condition", s(condition))]))]),
                );
                edits.after_line(t, t.block_end(svc), out);
            }
            Some(d) if d.as_map().is_some() => {
                editable(name, t, &format!("depends_on of {what}"), d, svc)?;
                if d.get(dep).is_none() {
                    let mut out = String::new();
                    emit_entry(
                        &mut out,
                        t.indent_of(d),
                        dep,
                        &map(vec![("condition", s(condition))]),
                    );
                    edits.after_line(t, t.block_end(d), out);
                }
            }
            Some(d) => {
                let flow = flow_list_end(t, d);
                if flow.is_none() {
                    editable(name, t, &format!("depends_on of {what}"), d, svc)?;
                } else if !(svc.loc.line..=t.block_end(svc)).contains(&d.loc.line) {
                    return Err(at(
                        name,
                        key,
                        format!("depends_on of {what} comes from a YAML alias or merge key"),
                    ));
                }
                let items = d.as_seq().unwrap_or(&[]);
                let mut names = Vec::new();
                for i in items {
                    match i.as_str() {
                        Some(n) => names.push(n),
                        None => return Err(at(name, i, "unexpected `depends_on` item")),
                    }
                }
                let dep_key: &Node = svc.entry("depends_on").map_or(*svc, |e| &e.key);
                let indent = t.indent_of(dep_key) + 2;
                let mut entries: Vec<(String, Y)> = names
                    .iter()
                    .map(|n| {
                        (
                            n.to_string(),
                            map(vec![("condition", s("service_started"))]),
                        )
                    })
                    .collect();
                if !names.contains(&dep) {
                    entries.push((dep.to_string(), map(vec![("condition", s(condition))])));
                }
                let mut out = String::new();
                for (k, v) in &entries {
                    emit_entry(&mut out, indent, k, v);
                }
                match flow {
                    Some((a, b)) => {
                        // `depends_on: [db]`: the list goes, a comment after it stays.
                        edits.replace(a, b, String::new());
                        edits.into_line(t, d.loc.line, out);
                    }
                    None => {
                        let (l0, l1) = (d.loc.line, t.block_end(d));
                        if (l0..=l1).any(|l| t.line(l).contains('#')) {
                            return Err(at(
                                name,
                                d,
                                format!(
                                    "depends_on of {what} is a short-syntax list with \
                                     comments; inject must rewrite it to the long syntax and \
                                     would drop them (rewrite it as a mapping first)"
                                ),
                            ));
                        }
                        let end = if l1 >= t.line_count() {
                            t.src.len()
                        } else {
                            t.line_start(l1 + 1)
                        };
                        edits.replace(t.line_start(l0), end, out);
                    }
                }
            }
        }
    }

    // The elastics-sec services, at the end of `services`.
    let source = relative_to(&cfg.path, dir.unwrap_or_else(|| std::path::Path::new(".")));
    let mut out = String::new();
    let indent = t.indent_of(services);
    if opts.mode.init() && services.get(INIT_SERVICE).is_none() {
        emit_entry(
            &mut out,
            indent,
            INIT_SERVICE,
            &service(opts, "fetch", &source, false),
        );
    }
    if opts.mode.sidecar() && services.get(AGENT_NAME).is_none() {
        emit_entry(
            &mut out,
            indent,
            AGENT_NAME,
            &service(opts, "agent", &source, true),
        );
    }
    if !out.is_empty() {
        if t.blank_separated(services) {
            out.insert(0, '\n');
        }
        edits.after_line(t, t.block_end(services), out);
    }

    // A network of their own for the elastics-sec services: they need a route to the
    // secrets provider, the app needs no route to them (they share only the volume).
    ensure_top(name, t, &mut edits, root, "networks", NETWORK, map(vec![]))?;
    // The tmpfs-backed volume.
    let volume = map(vec![(
        "driver_opts",
        map(vec![
            ("type", s("tmpfs")),
            ("device", s("tmpfs")),
            ("o", s(format!("size=16m,uid={UID},gid={UID},mode=0755"))),
        ]),
    )]);
    ensure_top(name, t, &mut edits, root, "volumes", SECRETS_VOLUME, volume)?;
    Ok(Output {
        text: edits.apply(t.src),
        notes,
    })
}

fn service(opts: &Options, cmd: &str, config_source: &str, agent: bool) -> Y {
    let mut entries = vec![
        ("image", s(&opts.image)),
        ("command", flow_strs(&[cmd, "--config", CONFIG_FILE])),
    ];
    if agent {
        entries.push(("restart", s("unless-stopped")));
        if opts.mode.init() {
            entries.push((
                "depends_on",
                map(vec![(
                    INIT_SERVICE,
                    map(vec![("condition", s("service_completed_successfully"))]),
                )]),
            ));
        }
    }
    entries.extend([("user", s(format!("{UID}:{UID}")))]);
    // The files are chowned to the config's `gid`, which needs membership of that group.
    if let Some(gid) = opts.config.as_ref().and_then(|c| c.gid) {
        entries.push(("group_add", flow_strs(&[&gid.to_string()])));
    }
    entries.extend([
        ("read_only", raw("true")),
        ("cap_drop", flow_strs(&["ALL"])),
        ("security_opt", flow_strs(&["no-new-privileges:true"])),
        ("networks", flow_strs(&[NETWORK])),
        (
            "volumes",
            Y::Seq(vec![
                s(format!("{config_source}:{CONFIG_FILE}:ro")),
                s(format!("{SECRETS_VOLUME}:{}", opts.output_dir())),
            ]),
        ),
    ]);
    map(entries)
}

/// For a one-line flow list of scalars (`[db, cache]`) followed by nothing but a comment:
/// the byte range from the blank before `[` through `]`. Service names cannot contain `]`
/// or `#`, so the first `]` closes the list.
/// Ensures the top-level `key` (`networks`, `volumes`) has an entry `entry`: added to a
/// block mapping, to an empty `{}`, or as a new key at the end of the file.
fn ensure_top(
    name: &str,
    t: &Text<'_>,
    edits: &mut Edits,
    root: &Node,
    key: &str,
    entry: &str,
    value: Y,
) -> Result<(), InjectError> {
    match root.get(key) {
        Some(m) if m.get(entry).is_some() => {}
        Some(m) if t.empty_flow(m).is_some() => {
            if let Some((a, b)) = t.empty_flow(m) {
                edits.replace(a, b, String::new());
            }
            let mut out = String::new();
            emit_entry(&mut out, t.indent_of(root) + 2, entry, &value);
            edits.into_line(t, m.loc.line, out);
        }
        Some(m) => {
            editable(name, t, &format!("top-level {key}"), m, root)?;
            let mut out = String::new();
            emit_entry(&mut out, t.indent_of(m), entry, &value);
            edits.after_line(t, t.block_end(m), out);
        }
        None => {
            let mut out = blank(t, root);
            emit_entry(
                &mut out,
                t.indent_of(root),
                key,
                &Y::Map(vec![(entry.to_string(), value)]),
            );
            edits.after_line(t, t.block_end(root), out);
        }
    }
    Ok(())
}

/// A blank line to start a new top-level key with, when the file separates them so.
fn blank(t: &Text<'_>, root: &Node) -> String {
    if t.blank_separated(root) {
        "\n".to_string()
    } else {
        String::new()
    }
}

fn flow_list_end(t: &Text<'_>, d: &Node) -> Option<(usize, usize)> {
    if t.is_block(d) || d.as_seq()?.iter().any(|i| i.as_str().is_none()) {
        return None;
    }
    let off = t.offset(d);
    let line_end = t.src[off..].find('\n').map_or(t.src.len(), |i| off + i);
    let line = &t.src[off..line_end];
    if !line.starts_with('[') {
        return None;
    }
    let close = line.find(']')?;
    let after = line[close + 1..].trim();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let start = if t.src[..off].ends_with(' ') {
        off - 1
    } else {
        off
    };
    Some((start, off + close + 1))
}

fn editable(
    name: &str,
    t: &Text<'_>,
    what: &str,
    node: &Node,
    within: &Node,
) -> Result<(), InjectError> {
    if node.as_map().is_none() && node.as_seq().is_none() {
        return Err(at(
            name,
            node,
            format!("{what} is a {}, not a collection", node.kind_name()),
        ));
    }
    if !t.is_block(node) {
        return Err(at(
            name,
            node,
            format!(
                "{what} is written in flow style; inject only edits block-style YAML (rewrite \
                 it in block style, or add the elastics-sec parts by hand)"
            ),
        ));
    }
    let (l0, l1) = (within.loc.line, t.block_end(within));
    if node.loc.line < l0 || node.loc.line > l1 {
        return Err(at(
            name,
            within,
            format!(
                "{what} comes from a YAML alias or merge key (line {}); inject would change \
                 every service sharing it (give the service its own key)",
                node.loc.line
            ),
        ));
    }
    Ok(())
}

fn add_item(
    name: &str,
    t: &Text<'_>,
    edits: &mut Edits,
    what: &str,
    parent: &Node,
    key: &str,
    item: Y,
) -> Result<(), InjectError> {
    match parent.get(key) {
        Some(seq)
            if t.empty_flow(seq).is_some()
                && (parent.loc.line..=t.block_end(parent)).contains(&seq.loc.line) =>
        {
            // `volumes: []`: drop the `[]`, the item follows as a block.
            if let Some((a, b)) = t.empty_flow(seq) {
                edits.replace(a, b, String::new());
            }
            let mut out = String::new();
            emit_item(&mut out, t.indent_of(parent) + 2, &item);
            edits.into_line(t, seq.loc.line, out);
        }
        Some(seq) => {
            editable(name, t, &format!("{key} of {what}"), seq, parent)?;
            let mut out = String::new();
            emit_item(&mut out, t.indent_of(seq), &item);
            edits.after_line(t, t.block_end(seq), out);
        }
        None => {
            let mut out = String::new();
            emit_entry(&mut out, t.indent_of(parent), key, &Y::Seq(vec![item]));
            edits.after_line(t, t.block_end(parent), out);
        }
    }
    Ok(())
}
