//! `suppression-missing-reason`: Inline suppression without a reason (reported by the engine, not by a per-file check).

use crate::audit::rules::{Rule, RuleMeta};

crate::declare_rule! {
    /// ## What it does
    /// Flags `# elastics-sec: ignore[rule-id]` comments that give no reason after the rule list. The suppression still applies.
    ///
    /// ## Why it matters
    /// A suppression is a decision to accept a risk. Without a reason, the next reviewer cannot tell an accepted risk from a silenced alarm, and nobody knows when to revisit it.
    ///
    /// ## Example
    /// ```yaml
    /// # elastics-sec: ignore[runs-as-root]
    /// ```
    ///
    /// ## Fix
    /// Say why: `# elastics-sec: ignore[runs-as-root] upstream image needs root to bind :80; tracked in OPS-123`
    ///
    /// ## References
    /// - policies/README.md (suppressions and exceptions)
    SuppressionMissingReason {
        id: "suppression-missing-reason",
        title: "Inline suppression without a reason",
        category: Policy,
        severity: Low,
        targets: [Policy],
        params: [],
    }
}

impl Rule for SuppressionMissingReason {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
}
