//! `image-not-pinned-by-digest`: an image is referenced by tag only.

use crate::audit::rules::image::ImageRef;
use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags `image:` references without a content digest (`@sha256:...`), including
    /// version tags such as `redis:alpine` or `postgres:16`. A digest-pinned image is never
    /// flagged, with or without a tag.
    ///
    /// ## Why it matters
    /// Tags are mutable pointers: `redis:alpine` today and next month are different images,
    /// and a registry (or anyone with push rights) can move a tag. Only a digest guarantees
    /// that what was reviewed and scanned is what runs.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   redis:
    ///     image: redis:alpine
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     image: redis:7.2.5-alpine@sha256:<digest>
    /// ```
    /// and let a dependency bot (Renovate, Dependabot) update the digest.
    ///
    /// ## References
    /// - SLSA: pin dependencies
    ImageNotPinnedByDigest {
        id: "image-not-pinned-by-digest",
        title: "Image not pinned by digest",
        category: SupplyChain,
        severity: Low,
        targets: [Compose],
        params: [],
    }
}

impl Rule for ImageNotPinnedByDigest {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let Some(node) = svc.image() else { return };
        let Some(text) = node.as_str() else { return };
        if ImageRef::parse(text).pinned() {
            return;
        }
        out.emit(
            node.loc,
            format!(
                "service `{}` uses image {text}, which is not pinned by digest",
                svc.name
            ),
        )
        .help("append the image digest (`@sha256:...`) and let a dependency bot keep it current")
        .resource(svc.resource());
    }
}
