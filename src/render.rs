//! Rendering of secret values into file contents (placeholder).

/// Check a template's syntax at config load.
pub fn check_template(t: &str) -> Result<(), String> {
    let env = minijinja::Environment::new();
    env.template_from_str(t)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
