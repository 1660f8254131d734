//! `image-tag-mutable`: an image without a tag, or tagged `latest`.

use crate::audit::rules::image::ImageRef;
use crate::audit::rules::{ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags `image:` references with no tag (which means `latest`) or the tag `latest`,
    /// unless they are pinned by digest (`@sha256:...`), which fixes the content whatever
    /// the tag says. Services with only `build:` are not flagged. In Kubernetes, every
    /// container's `image` is checked (init, sidecar and ephemeral containers included).
    /// In Azure Container Instances groups, every container's and init container's
    /// `properties.image` is checked.
    ///
    /// Dockerfile: the base image of every `FROM` is checked, after substituting the
    /// `ARG`s declared before the first `FROM` (`FROM base:${VERSION}` with `ARG
    /// VERSION=1.2` is `base:1.2`). `FROM scratch` and `FROM <earlier stage>` are not
    /// images; a tag that depends on a variable without a known value is not reported,
    /// while a literal `:latest` still is.
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
    /// ```yaml
    /// apiVersion: batch/v1
    /// kind: CronJob
    /// metadata: {name: eod-settlement, namespace: trading}
    /// spec:
    ///   schedule: "30 22 * * 1-5"
    ///   jobTemplate:
    ///     spec:
    ///       template:
    ///         spec:
    ///           containers:
    ///           - name: settle
    ///             image: ghcr.io/acme-trading/settlement
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
        targets: [Compose, Kubernetes, Aci, Dockerfile],
        params: [],
    }
}

impl Rule for ImageTagMutable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn dockerfile(
        &self,
        _cx: &crate::audit::rules::DockerfileCx<'_>,
        df: &crate::audit::source::dockerfile::Dockerfile<'_>,
        out: &mut Emitter<'_>,
    ) {
        use crate::audit::source::dockerfile::Base;
        for st in df.stages.iter().filter(|s| s.base == Base::Image) {
            let text = match st.resolved.as_deref() {
                Some(r) => r,
                None => {
                    // A variable could carry the tag or a digest: judge only a literal tag.
                    let raw = ImageRef::parse(&st.image.text);
                    if st.image.text.contains('@') || raw.tag.is_none_or(|t| t.contains('$')) {
                        continue;
                    }
                    &st.image.text
                }
            };
            let Some(problem) = mutable_tag(text) else {
                continue;
            };
            out.emit(st.image.loc, format!("{} {problem}", st.describe()))
                .help("use an immutable version tag, ideally pinned by digest")
                .resource(st.resource());
        }
    }

    fn aci_group(
        &self,
        _cx: &crate::audit::rules::AciCx<'_>,
        group: &crate::audit::source::aci::ContainerGroup<'_>,
        out: &mut Emitter<'_>,
    ) {
        for c in group.containers() {
            let Some(node) = c.image() else { continue };
            let Some(problem) = node.as_str().and_then(mutable_tag) else {
                continue;
            };
            out.emit(
                node.loc,
                format!("{} of {} {problem}", c.describe(), group.describe()),
            )
            .help("use an immutable version tag, ideally pinned by digest")
            .resource(group.resource());
        }
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let Some(node) = svc.image() else { return };
        let Some(text) = node.as_str() else { return };
        let Some(problem) = mutable_tag(text) else {
            return;
        };
        out.emit(node.loc, format!("service `{}` {problem}", svc.name))
            .help("use an immutable version tag, ideally pinned by digest")
            .resource(svc.resource());
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for c in pod.containers() {
            let Some(node) = c.image() else { continue };
            let Some(text) = node.as_str() else { continue };
            let Some(problem) = mutable_tag(text) else {
                continue;
            };
            out.emit(
                node.loc,
                format!("{} in {} {problem}", c.describe(), pod.object.resource()),
            )
            .help("use an immutable version tag, ideally pinned by digest")
            .resource(pod.object.resource());
        }
    }
}

/// What is wrong with the reference's tag, as the end of a sentence, or `None` when the
/// reference is pinned by digest or carries a version tag.
fn mutable_tag(text: &str) -> Option<String> {
    let r = ImageRef::parse(text);
    if r.pinned() {
        return None;
    }
    match r.tag {
        None => Some(format!(
            "uses image {text} without a tag (implicitly latest)"
        )),
        Some("latest") => Some(format!("uses the mutable tag latest ({text})")),
        Some(_) => None,
    }
}
