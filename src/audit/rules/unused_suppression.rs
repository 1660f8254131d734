//! `unused-suppression`: Inline suppression that matches no finding (reported by the engine, not by a per-file check).

use crate::audit::rules::{Rule, RuleMeta};

crate::declare_rule! {
    /// ## What it does
    /// With `--report-unused-suppressions`, flags `# elastics-sec: ignore[...]` comments that suppressed nothing in this run, and suppressions that name an unknown rule id.
    ///
    /// ## Why it matters
    /// Stale suppressions hide future problems: when the code they excused changes, a new finding on that line is silenced without review.
    ///
    /// ## Example
    /// ```yaml
    /// # elastics-sec: ignore[privileged-mode] no longer privileged
    /// ```
    ///
    /// ## Fix
    /// Delete the comment, or fix the rule id.
    ///
    /// ## References
    /// - policies/README.md (suppressions and exceptions)
    UnusedSuppression {
        id: "unused-suppression",
        title: "Inline suppression that matches no finding",
        category: Policy,
        severity: Info,
        targets: [Policy],
        params: [],
    }
}

impl Rule for UnusedSuppression {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }
}
