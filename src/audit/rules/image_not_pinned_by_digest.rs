//! `image-not-pinned-by-digest`: an image is referenced by tag only.

use crate::audit::finding::Loc;
use crate::audit::rules::image::ImageRef;
use crate::audit::rules::{ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags `image:` references without a content digest (`@sha256:...`), including
    /// version tags such as `redis:alpine` or `postgres:16`. A digest-pinned image is never
    /// flagged, with or without a tag. In Kubernetes, every container's `image` is checked
    /// (init, sidecar and ephemeral containers included).
    /// In Azure Container Instances groups, every container's and init container's
    /// `properties.image` is checked.
    ///
    /// Dockerfile: the base image of every `FROM` is checked, after substituting the
    /// `ARG`s declared before the first `FROM`; `FROM scratch` and `FROM <earlier stage>`
    /// are not images. When a variable without a known value could hold the digest (`FROM
    /// ${BASE_IMAGE}`, or an `@` is written), nothing is reported.
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
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: StatefulSet
    /// metadata: {name: redis, namespace: trading}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: redis
    ///         image: redis:7.2.5-alpine
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
        targets: [Compose, Kubernetes, Aci, Dockerfile],
        params: [],
    }
}

const HELP: &str =
    "append the image digest (`@sha256:...`) and let a dependency bot keep it current";

/// Reports `text` (written at `loc`) unless it is pinned. `who` opens the message ("service
/// `web`"), `noun` is "image" or "base image".
fn check(loc: Loc, text: &str, who: &str, noun: &str, resource: String, out: &mut Emitter<'_>) {
    if ImageRef::parse(text).pinned() {
        return;
    }
    out.emit(
        loc,
        format!("{who} uses {noun} {text}, which is not pinned by digest"),
    )
    .help(HELP)
    .resource(resource);
}

impl Rule for ImageNotPinnedByDigest {
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
            let text = st.resolved.as_deref().unwrap_or(&st.image.text);
            let r = ImageRef::parse(text);
            // An unresolved `${VAR}` may carry the digest: say nothing rather than guess.
            if st.resolved.is_none()
                && (text.contains('@') || (r.tag.is_none() && r.repository.contains('$')))
            {
                continue;
            }
            check(
                st.image.loc,
                text,
                &st.describe(),
                "base image",
                st.resource(),
                out,
            );
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
            let Some(text) = node.as_str() else { continue };
            let who = format!("{} of {}", c.describe(), group.describe());
            check(node.loc, text, &who, "image", group.resource(), out);
        }
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let Some(node) = svc.image() else { return };
        let Some(text) = node.as_str() else { return };
        let who = format!("service `{}`", svc.name);
        check(node.loc, text, &who, "image", svc.resource(), out);
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for c in pod.containers() {
            let Some(node) = c.image() else { continue };
            let Some(text) = node.as_str() else { continue };
            let who = format!("{} in {}", c.describe(), pod.object.resource());
            check(node.loc, text, &who, "image", pod.object.resource(), out);
        }
    }
}
