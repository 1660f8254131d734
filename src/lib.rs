//! elastics-sec: secrets delivery, TLS rotation and security-policy audit for containerised
//! platforms.
//!
//! The binary (`src/main.rs`) is a thin layer over this library: `audit` is the policy
//! engine for compose files, Kubernetes manifests and other deployment inputs.

pub mod agent;
pub mod audit;
pub mod cli;
pub mod config;
pub mod inject;
pub mod render;
pub mod secrets;
pub mod sink;
pub mod tls;
