//! `image-tag-mutable`: an image without a tag, or tagged `latest`.

use crate::audit::rules::image::ImageRef;
use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags `image:` references with no tag (which means `latest`) or the tag `latest`,
    /// unless they are pinned by digest (`@sha256:...`), which fixes the content whatever
    /// the tag says. Services with only `build:` are not flagged.
    ///
    /// ## Why it matters
    /// `latest` changes under you: two hosts running "the same" compose file run different
    /// code, a rollback redeploys the broken version, and a compromised registry account
    /// ships straight to production on the next pull.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   web:
    ///     image: myregistry.azurecr.io/myapp:latest
    /// ```
    ///
    /// ## Fix
    /// Use an immutable version tag, ideally with its digest:
    /// ```yaml
    ///     image: myregistry.azurecr.io/myapp:1.4.2@sha256:<digest>
    /// ```
    ///
    /// ## References
    /// - CIS Docker Benchmark 4.x (use trusted, versioned base images)
    /// - SLSA: pin dependencies
    ImageTagMutable {
        id: "image-tag-mutable",
        title: "Image has no tag or uses latest",
        category: SupplyChain,
        severity: Medium,
        targets: [Compose],
        params: [],
    }
}

impl Rule for ImageTagMutable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let Some(node) = svc.image() else { return };
        let Some(text) = node.as_str() else { return };
        let r = ImageRef::parse(text);
        if r.pinned() {
            return;
        }
        let msg = match r.tag {
            None => format!(
                "service `{}` uses image {text} without a tag (implicitly latest)",
                svc.name
            ),
            Some("latest") => format!(
                "service `{}` uses the mutable tag latest ({text})",
                svc.name
            ),
            Some(_) => return,
        };
        out.emit(node.loc, msg)
            .help("use an immutable version tag, ideally pinned by digest")
            .resource(svc.resource());
    }
}
