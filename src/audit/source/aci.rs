//! Azure Container Instances container groups, as written for `az container create --file`.
//!
//! Recognised by `type: Microsoft.ContainerInstance/containerGroups`, or by the shape
//! `properties.containers` together with `properties.osType` (the type is optional in the
//! CLI's YAML). Views expose the group-level settings (IP address, subnets, identity,
//! registry credentials, volumes) and each container's `properties`.

use crate::audit::finding::{FileId, Loc};
use crate::audit::yaml::{Document, Node};

/// The resource type of a container group.
pub const GROUP_TYPE: &str = "Microsoft.ContainerInstance/containerGroups";

/// Is this document an ACI container group?
pub fn is_container_group(root: &Node) -> bool {
    if root
        .get("type")
        .and_then(Node::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case(GROUP_TYPE))
    {
        return true;
    }
    root.get("kind").is_none()
        && root
            .path(&["properties", "containers"])
            .and_then(Node::as_seq)
            .is_some()
        && root.path(&["properties", "osType"]).is_some()
}

/// One container group.
#[derive(Clone, Copy, Debug)]
pub struct ContainerGroup<'a> {
    pub file: FileId,
    pub node: &'a Node,
    pub name: &'a str,
}

/// One container of a group.
#[derive(Clone, Copy, Debug)]
pub struct AciContainer<'a> {
    pub node: &'a Node,
    pub name: &'a str,
    /// The container's `properties` mapping.
    pub props: Option<&'a Node>,
    /// True for `initContainers`.
    pub init: bool,
}

/// The container groups of a file's documents.
pub fn groups(file: FileId, docs: &[Document]) -> Vec<ContainerGroup<'_>> {
    docs.iter()
        .filter(|d| is_container_group(&d.root))
        .map(|d| ContainerGroup {
            file,
            node: &d.root,
            name: d.root.get("name").and_then(Node::as_str).unwrap_or(""),
        })
        .collect()
}

impl<'a> ContainerGroup<'a> {
    pub fn properties(&self) -> Option<&'a Node> {
        self.node.get("properties")
    }

    /// A group-level property.
    pub fn prop(&self, key: &str) -> Option<&'a Node> {
        self.properties()?.get(key)
    }

    /// `container group trading-gw`.
    pub fn resource(&self) -> String {
        format!("container group {}", self.name)
    }

    /// ``container group `trading-gw` ``, for messages.
    pub fn describe(&self) -> String {
        format!("container group `{}`", self.name)
    }

    /// Where findings about a missing group-level field point: the `name:` value.
    pub fn loc(&self) -> Loc {
        self.node.get("name").map_or(self.node.loc, |n| n.loc)
    }

    pub fn containers(&self) -> Vec<AciContainer<'a>> {
        let mut out = Vec::new();
        for (field, init) in [("initContainers", true), ("containers", false)] {
            for node in self.prop(field).and_then(Node::as_seq).unwrap_or(&[]) {
                out.push(AciContainer {
                    node,
                    name: node.get("name").and_then(Node::as_str).unwrap_or(""),
                    props: node.get("properties"),
                    init,
                });
            }
        }
        out
    }

    /// `imageRegistryCredentials` items.
    pub fn registry_credentials(&self) -> &'a [Node] {
        self.prop("imageRegistryCredentials")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
    }

    /// `volumes` items.
    pub fn volumes(&self) -> &'a [Node] {
        self.prop("volumes").and_then(Node::as_seq).unwrap_or(&[])
    }

    /// The group has a managed identity (system- or user-assigned).
    pub fn has_identity(&self) -> bool {
        self.node
            .path(&["identity", "type"])
            .and_then(Node::as_str)
            .is_some_and(|t| !t.eq_ignore_ascii_case("none"))
    }
}

impl<'a> AciContainer<'a> {
    pub fn prop(&self, key: &str) -> Option<&'a Node> {
        self.props?.get(key)
    }

    pub fn image(&self) -> Option<&'a Node> {
        self.prop("image")
    }

    /// `container app`.
    pub fn describe(&self) -> String {
        format!(
            "{} `{}`",
            if self.init {
                "init container"
            } else {
                "container"
            },
            self.name
        )
    }

    /// The container's `securityContext`.
    pub fn security_context(&self) -> Option<&'a Node> {
        self.prop("securityContext")
    }

    /// `environmentVariables` items.
    pub fn env(&self) -> &'a [Node] {
        self.prop("environmentVariables")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
    }
}
