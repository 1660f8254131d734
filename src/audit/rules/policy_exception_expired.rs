//! `policy-exception-expired`: Policy exception past its expiry date (reported by the engine, not by a per-file check).

use crate::audit::rules::{Rule, RuleMeta};

crate::declare_rule! {
    /// ## What it does
    /// Flags policy `exceptions` whose `expires` date has passed. An expired exception no longer applies, so the findings it covered are reported again.
    ///
    /// ## Why it matters
    /// Exceptions are temporary by design; an expiry date forces the accepted risk to be reviewed instead of living forever.
    ///
    /// ## Example
    /// ```yaml
    /// exceptions: [{rule: runs-as-root, paths: [legacy/**], reason: migration, expires: 2024-01-31}]
    /// ```
    ///
    /// ## Fix
    /// Fix the findings and delete the exception, or review it and move the date.
    ///
    /// ## References
    /// - policies/README.md (suppressions and exceptions)
    PolicyExceptionExpired {
        id: "policy-exception-expired",
        title: "Policy exception past its expiry date",
        category: Policy,
        severity: Low,
        targets: [Policy],
        params: [],
    }
}

impl Rule for PolicyExceptionExpired {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
}
