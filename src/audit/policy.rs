//! Policies: which rules run, at which severity, with which parameters, and which findings
//! are excepted (with a reason and an expiry date).
//!
//! Built-in policies live in `policies/` and are embedded at build time; `--policy FILE` may
//! be given several times and later files win. A policy file is YAML, loaded with the same
//! span-preserving loader as audited files, and decoded strictly: an unknown key, a wrong
//! type, an unknown rule id or parameter is an error naming the file, line and column.
//! The format is documented in `policies/README.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobMatcher};

use crate::audit::finding::{Finding, Loc, Severity};
use crate::audit::rules::{self, ParamDefault, ParamValue, RuleMeta, REGISTRY};
use crate::audit::sources::SourceMap;
use crate::audit::yaml::{self, Kind, Limits, Node};

/// The policy used when no `--policy` is given.
pub const DEFAULT_POLICY: &str = include_str!("../../policies/default.yaml");

/// Built-in policies by name (usable in `extends` and `--policy`).
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", DEFAULT_POLICY),
    ("baseline", include_str!("../../policies/baseline.yaml")),
    ("restricted", include_str!("../../policies/restricted.yaml")),
];

/// A policy problem: always names the file and, when known, the line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}:{col}: {message}")]
pub struct PolicyError {
    pub path: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// How one rule is configured for the run.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub meta: &'static RuleMeta,
    /// `None` when the rule is off.
    pub level: Option<Severity>,
    pub params: Vec<ParamValue>,
}

/// One exception: findings of `rule` (or every rule for `*`) on matching paths/resources.
#[derive(Debug, Clone)]
pub struct Exception {
    pub rule: String,
    pub paths: Vec<GlobMatcher>,
    pub resources: Vec<GlobMatcher>,
    pub reason: String,
    /// `(year, month, day)`.
    pub expires: Option<(i32, u32, u32)>,
    /// Where the exception was written (for the expired-exception finding).
    pub loc: Loc,
}

/// The effective policy of a run.
#[derive(Debug, Clone)]
pub struct Policy {
    pub rules: Vec<RuleConfig>,
    pub exceptions: Vec<Exception>,
}

impl Policy {
    /// Every rule at its default severity with default parameters.
    fn all_defaults() -> Policy {
        Policy {
            rules: REGISTRY
                .iter()
                .map(|r| {
                    let meta = r.meta();
                    RuleConfig {
                        meta,
                        level: Some(meta.severity),
                        params: meta
                            .params
                            .iter()
                            .map(|p| ParamValue::from_default(p.default))
                            .collect(),
                    }
                })
                .collect(),
            exceptions: Vec::new(),
        }
    }

    pub fn rule(&self, id: &str) -> Option<&RuleConfig> {
        self.rules.iter().find(|r| r.meta.id == id)
    }

    /// Loads the built-in default policy.
    pub fn builtin_default(sources: &mut SourceMap) -> Result<Policy, PolicyError> {
        Policy::load(&[], sources)
    }

    /// Loads the policy layering of `files` (each a path or a built-in name); with no files,
    /// the built-in default. Policy files are added to `sources` so findings about them can
    /// be rendered like any other.
    pub fn load(files: &[PathBuf], sources: &mut SourceMap) -> Result<Policy, PolicyError> {
        let mut policy = Policy::all_defaults();
        if files.is_empty() {
            apply_layer(&mut policy, "default", None, sources, 0)?;
        }
        for f in files {
            let name = f.to_string_lossy();
            apply_layer(&mut policy, &name, None, sources, 0)?;
        }
        Ok(policy)
    }

    /// Is `finding` covered by a live (unexpired) exception?
    pub fn excepted(&self, finding: &Finding, path: &str, today: (i32, u32, u32)) -> bool {
        self.exceptions.iter().any(|e| {
            if e.expires.is_some_and(|d| d < today) {
                return false;
            }
            (e.rule == "*" || e.rule == finding.rule)
                && (e.paths.is_empty() || e.paths.iter().any(|g| g.is_match(path)))
                && (e.resources.is_empty()
                    || finding.resource.as_deref().is_some_and(|r| {
                        let short = r.split_once(' ').map_or(r, |(_, n)| n);
                        e.resources
                            .iter()
                            .any(|g| g.is_match(r) || g.is_match(short))
                    }))
        })
    }
}

const MAX_EXTENDS_DEPTH: usize = 8;

fn apply_layer(
    policy: &mut Policy,
    name: &str,
    relative_to: Option<&Path>,
    sources: &mut SourceMap,
    depth: usize,
) -> Result<(), PolicyError> {
    let (display, text): (String, Arc<str>) =
        if let Some((_, t)) = BUILTIN.iter().find(|(n, _)| *n == name) {
            (format!("<builtin:{name}>"), Arc::from(*t))
        } else {
            let path = match relative_to {
                Some(dir) if Path::new(name).is_relative() => dir.join(name),
                _ => PathBuf::from(name),
            };
            let text = std::fs::read_to_string(&path).map_err(|e| PolicyError {
                path: path.display().to_string(),
                line: 0,
                col: 0,
                message: format!("cannot read policy: {e}"),
            })?;
            (path.display().to_string(), Arc::from(text))
        };
    let err = |line: u32, col: u32, message: String| PolicyError {
        path: display.clone(),
        line,
        col,
        message,
    };
    if depth > MAX_EXTENDS_DEPTH {
        return Err(err(
            1,
            1,
            "policy `extends` chain is too deep (a cycle?)".into(),
        ));
    }
    let file = sources.add(display.clone(), text.clone());
    let docs =
        yaml::load(&text, file, Limits::default()).map_err(|e| err(e.line, e.col, e.message))?;
    let Some(root) = docs.into_iter().next().map(|d| d.root) else {
        return Ok(());
    };
    let at = |n: &Node, m: String| err(n.loc.line, n.loc.col, m);
    if root.as_map().is_none() {
        return Err(at(&root, "a policy must be a mapping".into()));
    }
    for (key, e) in root.str_entries() {
        if !matches!(
            key,
            "version" | "extends" | "all_rules" | "rules" | "exceptions"
        ) {
            return Err(at(
                &e.key,
                format!("unknown key `{key}` in policy (expected version, extends, all_rules, rules, exceptions)"),
            ));
        }
    }
    if let Some(v) = root.get("version") {
        if v.as_i64() != Some(1) {
            return Err(at(v, "unsupported policy version (expected 1)".into()));
        }
    }
    if let Some(ext) = root.get("extends") {
        let names: Vec<&Node> = match &ext.kind {
            Kind::Seq(items) => items.iter().collect(),
            _ => vec![ext],
        };
        let dir = Path::new(&display).parent().map(Path::to_path_buf);
        for n in names {
            let Some(parent) = n.as_str() else {
                return Err(at(n, "`extends` takes a policy name or path".into()));
            };
            apply_layer(policy, parent, dir.as_deref(), sources, depth + 1)?;
        }
    }
    if let Some(all) = root.get("all_rules") {
        let on = match all.as_str() {
            Some("enabled") => true,
            Some("disabled") => false,
            _ => {
                return Err(at(
                    all,
                    "`all_rules` must be `enabled` or `disabled`".into(),
                ))
            }
        };
        for r in &mut policy.rules {
            r.level = on.then_some(r.meta.severity);
        }
    }
    if let Some(rules_node) = root.get("rules") {
        if rules_node.as_map().is_none() && !rules_node.is_null() {
            return Err(at(
                rules_node,
                "`rules` must be a mapping of rule id to settings".into(),
            ));
        }
        for (id, e) in rules_node.str_entries() {
            let Some(cfg) = policy.rules.iter_mut().find(|r| r.meta.id == id) else {
                return Err(at(&e.key, format!("unknown rule id `{id}`")));
            };
            apply_rule(cfg, &e.value).map_err(|(n, m)| err(n.line, n.col, m))?;
        }
    }
    if let Some(ex) = root.get("exceptions") {
        let Some(items) = ex.as_seq() else {
            if ex.is_null() {
                return Ok(());
            }
            return Err(at(ex, "`exceptions` must be a list".into()));
        };
        for item in items {
            policy
                .exceptions
                .push(parse_exception(item).map_err(|(n, m)| err(n.line, n.col, m))?);
        }
    }
    Ok(())
}

type Located = (Loc, String);

fn apply_rule(cfg: &mut RuleConfig, node: &Node) -> Result<(), Located> {
    // Shorthand: `rule-id: off` or `rule-id: high`.
    if let Some(s) = node.as_str() {
        cfg.level = parse_level(s, cfg.meta).map_err(|m| (node.loc, m))?;
        return Ok(());
    }
    if node.as_map().is_none() {
        return Err((
            node.loc,
            "rule settings must be a level or a mapping".into(),
        ));
    }
    for (key, e) in node.str_entries() {
        match key {
            "level" => {
                let s = e
                    .value
                    .as_str()
                    .ok_or((e.value.loc, "`level` must be a string".to_string()))?;
                cfg.level = parse_level(s, cfg.meta).map_err(|m| (e.value.loc, m))?;
            }
            "params" => {
                for (pname, pe) in e.value.str_entries() {
                    let Some(i) = cfg.meta.params.iter().position(|p| p.name == pname) else {
                        let known: Vec<&str> = cfg.meta.params.iter().map(|p| p.name).collect();
                        return Err((
                            pe.key.loc,
                            format!(
                                "rule `{}` has no parameter `{pname}` (parameters: {})",
                                cfg.meta.id,
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        ));
                    };
                    cfg.params[i] = parse_param(cfg.meta.params[i].default, &pe.value)?;
                }
            }
            _ => {
                return Err((
                    e.key.loc,
                    format!(
                        "unknown key `{key}` in settings of rule `{}` (expected level, params)",
                        cfg.meta.id
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn parse_level(s: &str, meta: &RuleMeta) -> Result<Option<Severity>, String> {
    match s {
        "off" => Ok(None),
        "default" | "on" => Ok(Some(meta.severity)),
        _ => Severity::parse(s).map(Some).ok_or_else(|| {
            format!(
                "unknown level `{s}` (expected off, default, info, low, medium, high, critical)"
            )
        }),
    }
}

fn parse_param(default: ParamDefault, n: &Node) -> Result<ParamValue, Located> {
    let list = || n.as_seq().ok_or((n.loc, "expected a list".to_string()));
    Ok(match default {
        ParamDefault::StrList(_) => ParamValue::StrList(
            list()?
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or((i.loc, "expected a string".to_string()))
                })
                .collect::<Result<_, _>>()?,
        ),
        ParamDefault::IntList(_) => ParamValue::IntList(
            list()?
                .iter()
                .map(|i| i.as_i64().ok_or((i.loc, "expected an integer".to_string())))
                .collect::<Result<_, _>>()?,
        ),
        ParamDefault::Int(_) => ParamValue::Int(
            n.as_i64()
                .ok_or((n.loc, "expected an integer".to_string()))?,
        ),
        ParamDefault::Bool(_) => ParamValue::Bool(
            n.as_bool()
                .ok_or((n.loc, "expected a boolean".to_string()))?,
        ),
    })
}

fn globs(n: &Node) -> Result<Vec<GlobMatcher>, Located> {
    let items: Vec<&Node> = match &n.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![n],
    };
    items
        .into_iter()
        .map(|i| {
            let s = i.as_str().ok_or((i.loc, "expected a string".to_string()))?;
            Glob::new(s)
                .map(|g| g.compile_matcher())
                .map_err(|e| (i.loc, format!("invalid glob `{s}`: {e}")))
        })
        .collect()
}

fn parse_exception(item: &Node) -> Result<Exception, Located> {
    if item.as_map().is_none() {
        return Err((item.loc, "an exception must be a mapping".into()));
    }
    let mut ex = Exception {
        rule: String::new(),
        paths: Vec::new(),
        resources: Vec::new(),
        reason: String::new(),
        expires: None,
        loc: item.loc,
    };
    for (key, e) in item.str_entries() {
        let v = &e.value;
        match key {
            "rule" => {
                let id = v.as_str().ok_or((v.loc, "`rule` must be a rule id or `*`".to_string()))?;
                if id != "*" && rules::find(id).is_none() {
                    return Err((v.loc, format!("unknown rule id `{id}`")));
                }
                ex.rule = id.to_string();
            }
            "paths" | "path" => ex.paths = globs(v)?,
            "resources" | "resource" => ex.resources = globs(v)?,
            "reason" => ex.reason = v.as_str().unwrap_or("").trim().to_string(),
            "expires" => {
                let s = v.as_str().ok_or((v.loc, "`expires` must be a date YYYY-MM-DD".to_string()))?;
                ex.expires = Some(parse_date(s).ok_or((v.loc, format!("invalid date `{s}` (expected YYYY-MM-DD)")))?);
                ex.loc = v.loc;
            }
            _ => {
                return Err((
                    e.key.loc,
                    format!("unknown key `{key}` in exception (expected rule, paths, resources, reason, expires)"),
                ))
            }
        }
    }
    if ex.rule.is_empty() {
        return Err((item.loc, "an exception needs `rule`".into()));
    }
    if ex.reason.is_empty() {
        return Err((item.loc, "an exception needs a `reason`".into()));
    }
    Ok(ex)
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<(i32, u32, u32)> {
    let mut it = s.trim().splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// Today's UTC date, from the system clock (civil-from-days, proleptic Gregorian).
pub fn today() -> (i32, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_from_days((secs / 86_400) as i64)
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn default_policy_loads_and_enables_every_rule() {
        let mut sources = SourceMap::default();
        let p = Policy::builtin_default(&mut sources).unwrap();
        assert_eq!(p.rules.len(), REGISTRY.len());
        assert!(p.rules.iter().all(|r| r.level.is_some()));
    }
}
