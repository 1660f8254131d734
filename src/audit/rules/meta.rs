//! Static description of a rule: what `elastics-sec rules` prints and SARIF's rule metadata.

use crate::audit::finding::{Category, Severity};

/// Which kinds of input a rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Compose,
    Kubernetes,
    Aci,
    Dockerfile,
    /// Engine-level rules about suppressions and policy exceptions.
    Policy,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Compose => "compose",
            Target::Kubernetes => "kubernetes",
            Target::Aci => "aci",
            Target::Dockerfile => "dockerfile",
            Target::Policy => "policy",
        }
    }
}

/// Default value of a rule parameter.
#[derive(Clone, Copy, Debug)]
pub enum ParamDefault {
    StrList(&'static [&'static str]),
    IntList(&'static [i64]),
    Int(i64),
    Bool(bool),
}

/// One tunable of a rule, settable in a policy under `rules.<id>.params.<name>`.
#[derive(Clone, Copy, Debug)]
pub struct ParamMeta {
    pub name: &'static str,
    pub doc: &'static str,
    pub default: ParamDefault,
}

/// Everything static about a rule.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable kebab-case id naming the hazard; never reused.
    pub id: &'static str,
    /// One line, used in listings and as SARIF `shortDescription`.
    pub title: &'static str,
    pub category: Category,
    pub severity: Severity,
    pub targets: &'static [Target],
    /// Markdown with the fixed headings: What it does / Why it matters / Example / Fix / References.
    pub doc: &'static str,
    pub params: &'static [ParamMeta],
}

impl RuleMeta {
    /// Where the rendered docs of a rule live; used as SARIF `helpUri`.
    pub fn help_uri(&self) -> String {
        format!(
            "https://github.com/elastics-sec/elastics-sec/blob/main/docs/rules.md#{}",
            self.id
        )
    }
}
