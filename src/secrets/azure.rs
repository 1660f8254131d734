//! Azure Key Vault provider (placeholder; implemented in its own change).
