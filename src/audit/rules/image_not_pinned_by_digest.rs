//! `image-not-pinned-by-digest`: an image is referenced by tag only.

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
            if r.pinned() {
                continue;
            }
            if st.resolved.is_none()
                && (text.contains('@') || (r.tag.is_none() && r.repository.contains('$')))
            {
                continue;
            }
            out.emit(
                st.image.loc,
                format!(
                    "{} uses base image {text}, which is not pinned by digest",
                    st.describe()
                ),
            )
            .help(
                "append the image digest (`@sha256:...`) and let a dependency bot keep it current",
            )
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
            let Some(text) = node.as_str() else { continue };
            if ImageRef::parse(text).pinned() {
                continue;
            }
            out.emit(
                node.loc,
                format!(
                    "{} of {} uses image {text}, which is not pinned by digest",
                    c.describe(),
                    group.describe()
                ),
            )
            .help(
                "append the image digest (`@sha256:...`) and let a dependency bot keep it current",
            )
            .resource(group.resource());
        }
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

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for c in pod.containers() {
            let Some(node) = c.image() else { continue };
            let Some(text) = node.as_str() else { continue };
            if ImageRef::parse(text).pinned() {
                continue;
            }
            out.emit(
                node.loc,
                format!(
                    "{} in {} uses image {text}, which is not pinned by digest",
                    c.describe(),
                    pod.object.resource()
                ),
            )
            .help(
                "append the image digest (`@sha256:...`) and let a dependency bot keep it current",
            )
            .resource(pod.object.resource());
        }
    }
}
