//! Turning fetched secret values into file contents: `raw`, `base64-decode`, `json-key`,
//! `dotenv` and minijinja `template`s that combine several secrets.
//!
//! Every intermediate that holds secret material is a zeroizing buffer or is wiped before it
//! is dropped (`wipe_json`), and errors describe the shape of the problem (missing key, not
//! JSON, bad base64) but never quote the value.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use zeroize::Zeroize;

use crate::config::{Format, JsonSelector};
use crate::secrets::SecretBytes;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("value is not valid base64")]
    Base64,
    #[error("value is not a JSON object (format {0} needs one)")]
    NotJsonObject(&'static str),
    #[error("JSON key `{0}` is missing")]
    MissingKey(String),
    #[error("JSON key `{0}` is not a valid environment variable name")]
    BadDotenvKey(String),
    #[error("value is not UTF-8 (templates and dotenv need text)")]
    NotUtf8,
    #[error("template uses secret `{0}`, whose value is not UTF-8 (templates need text)")]
    InputNotUtf8(String),
    #[error("template: {0}")]
    Template(String),
}

/// Check a template's syntax at config load (no values involved).
pub fn check_template(t: &str) -> Result<(), String> {
    let env = minijinja::Environment::new();
    env.template_from_str(t)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Render one secret. `all` holds every fetched secret by config name, for templates.
pub fn render(
    format: &Format,
    value: &SecretBytes,
    all: &BTreeMap<String, SecretBytes>,
) -> Result<SecretBytes, RenderError> {
    match format {
        Format::Raw => Ok(value.clone()),
        Format::Base64Decode => {
            let mut compact: zeroize::Zeroizing<Vec<u8>> = zeroize::Zeroizing::new(
                value
                    .expose()
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect(),
            );
            let out = base64::engine::general_purpose::STANDARD
                .decode(&*compact)
                .map_err(|_| RenderError::Base64);
            compact.zeroize();
            out.map(SecretBytes::new)
        }
        Format::JsonKey(sel) => {
            let mut v = parse_json(value, "json-key")?;
            let picked = match sel {
                JsonSelector::Key(k) => v.get(k.as_str()),
                JsonSelector::Pointer(p) => v.pointer(p),
            };
            let out = match picked {
                None => Err(RenderError::MissingKey(match sel {
                    JsonSelector::Key(k) | JsonSelector::Pointer(k) => k.clone(),
                })),
                Some(serde_json::Value::String(s)) => Ok(SecretBytes::new(s.as_bytes().to_vec())),
                Some(other) => Ok(SecretBytes::new(other.to_string().into_bytes())),
            };
            wipe_json(&mut v);
            out
        }
        Format::Dotenv => {
            let mut v = parse_json(value, "dotenv")?;
            let out = dotenv(&v);
            wipe_json(&mut v);
            out
        }
        Format::Template(t) => template(t, value, all),
    }
}

fn parse_json(value: &SecretBytes, format: &'static str) -> Result<serde_json::Value, RenderError> {
    match serde_json::from_slice::<serde_json::Value>(value.expose()) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(mut other) => {
            wipe_json(&mut other);
            Err(RenderError::NotJsonObject(format))
        }
        // serde_json's error text is position-only ("expected value at line 1 column 3"),
        // but it is still dropped: the shape is all the user needs.
        Err(_) => Err(RenderError::NotJsonObject(format)),
    }
}

/// `KEY=value` lines, values single-quoted with `'` escaped, the form both docker
/// `--env-file` readers and POSIX shells accept for arbitrary bytes except NUL.
fn dotenv(v: &serde_json::Value) -> Result<SecretBytes, RenderError> {
    let serde_json::Value::Object(map) = v else {
        return Err(RenderError::NotJsonObject("dotenv"));
    };
    let mut out = Vec::new();
    for (k, val) in map {
        let valid = !k.is_empty()
            && !k.as_bytes()[0].is_ascii_digit()
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            out.zeroize();
            return Err(RenderError::BadDotenvKey(k.clone()));
        }
        let mut text = match val {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"='");
        for b in text.bytes() {
            if b == b'\'' {
                out.extend_from_slice(b"'\\''");
            } else {
                out.push(b);
            }
        }
        out.extend_from_slice(b"'\n");
        text.zeroize();
    }
    Ok(SecretBytes::new(out))
}

/// The `secrets` of a template. A value becomes text only when the template looks it up,
/// so a binary secret (a keystore, random key bytes) in the same config fails only a
/// template that touches it, by any route: attribute, subscript, loop, filter, `in`,
/// `default`. A static scan of the template cannot promise that (a slice or a filter chain
/// hides its operand), a lookup can. The first binary secret touched is recorded and
/// turned into an error that names it once rendering ends.
struct TemplateSecrets {
    values: BTreeMap<String, SecretBytes>,
    binary_touched: Mutex<Option<String>>,
}

impl std::fmt::Debug for TemplateSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values.keys()).finish()
    }
}

impl minijinja::value::Object for TemplateSecrets {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        let v = self.values.get(name)?;
        match std::str::from_utf8(v.expose()) {
            Ok(text) => Some(minijinja::Value::from(text)),
            Err(_) => {
                self.binary_touched
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(|| name.to_string());
                None
            }
        }
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        let names: Vec<minijinja::Value> = self
            .values
            .keys()
            .map(|k| minijinja::Value::from(k.as_str()))
            .collect();
        minijinja::value::Enumerator::Iter(Box::new(names.into_iter()))
    }
}

fn template(
    t: &str,
    value: &SecretBytes,
    all: &BTreeMap<String, SecretBytes>,
) -> Result<SecretBytes, RenderError> {
    let mut env = minijinja::Environment::new();
    // Undefined names are errors, so a typo never renders an empty password.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Values are inserted verbatim; escaping would corrupt passwords.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let tmpl = env
        .template_from_str(t)
        .map_err(|e| RenderError::Template(e.kind().to_string()))?;
    let own = std::str::from_utf8(value.expose()).map_err(|_| RenderError::NotUtf8)?;
    // The values are copied into zeroizing buffers; the text minijinja makes of the ones
    // the template reads lives in its own strings, which it does not wipe.
    let secrets = minijinja::Value::from_object(TemplateSecrets {
        values: all.clone(),
        binary_touched: Mutex::new(None),
    });
    let ctx = minijinja::context! { secrets => secrets.clone(), value => own };
    // minijinja's error Display can quote the offending expression but not runtime values;
    // only its kind is kept anyway, to be sure.
    let rendered = tmpl.render(ctx).map_err(|e| {
        RenderError::Template(format!("{} (line {})", e.kind(), e.line().unwrap_or(0)))
    });
    let touched = secrets
        .downcast_object_ref::<TemplateSecrets>()
        .and_then(|s| {
            s.binary_touched
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        });
    if let Some(name) = touched {
        if let Ok(mut r) = rendered {
            r.zeroize();
        }
        return Err(RenderError::InputNotUtf8(name));
    }
    rendered.map(SecretBytes::from_string)
}

/// Overwrite every string in a parsed JSON value before it is dropped.
fn wipe_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(wipe_json),
        serde_json::Value::Object(m) => m.values_mut().for_each(wipe_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretBytes {
        SecretBytes::new(v.as_bytes().to_vec())
    }

    #[test]
    fn formats() {
        let none = BTreeMap::new();
        let j = s(r#"{"user":"app","password":"p'w","port":5432,"nested":{"k":"v"}}"#);
        let r = render(
            &Format::JsonKey(JsonSelector::Key("password".into())),
            &j,
            &none,
        )
        .unwrap();
        assert_eq!(r.expose(), b"p'w");
        let r = render(
            &Format::JsonKey(JsonSelector::Pointer("/nested/k".into())),
            &j,
            &none,
        )
        .unwrap();
        assert_eq!(r.expose(), b"v");
        let r = render(
            &Format::JsonKey(JsonSelector::Key("port".into())),
            &j,
            &none,
        )
        .unwrap();
        assert_eq!(r.expose(), b"5432");
        let e = render(
            &Format::JsonKey(JsonSelector::Key("nope".into())),
            &j,
            &none,
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::MissingKey(_)));
        let d = render(&Format::Dotenv, &s(r#"{"A":"x'y","B":1}"#), &none).unwrap();
        assert_eq!(d.expose(), b"A='x'\\''y'\nB='1'\n");
        let b = render(&Format::Base64Decode, &s("aGVs\nbG8="), &none).unwrap();
        assert_eq!(b.expose(), b"hello");
    }

    #[test]
    fn errors_never_quote_the_value() {
        let canary = "CANARY-7f3a-not-json";
        let none = BTreeMap::new();
        for f in [
            Format::Dotenv,
            Format::Base64Decode,
            Format::JsonKey(JsonSelector::Key("k".into())),
        ] {
            let e = render(&f, &s(canary), &none).unwrap_err();
            assert!(!format!("{e} {e:?}").contains("CANARY"), "{e}");
        }
        let e = render(
            &Format::Template("{{ value | int }}x{{ nope }}".into()),
            &s(canary),
            &none,
        )
        .unwrap_err();
        assert!(!format!("{e} {e:?}").contains("CANARY"), "{e}");
    }

    #[test]
    fn template_combines_secrets() {
        let mut all = BTreeMap::new();
        all.insert("db_user".to_string(), s("app"));
        all.insert("db_pass".to_string(), s("s3<cr>t&"));
        let t = Format::Template(
            "postgres://{{ secrets.db_user }}:{{ secrets.db_pass }}@db/{{ value }}".into(),
        );
        let r = render(&t, &s("orders"), &all).unwrap();
        assert_eq!(r.expose(), b"postgres://app:s3<cr>t&@db/orders");
    }

    #[test]
    fn template_ignores_binary_secrets_it_does_not_use() {
        let mut all = BTreeMap::new();
        all.insert("db-user".to_string(), s("app"));
        all.insert(
            "keystore".to_string(),
            SecretBytes::new(vec![0xff, 0x00, 0xfe]),
        );
        let ok = |t: &str| {
            let r = render(&Format::Template(t.into()), &s("v"), &all).unwrap();
            String::from_utf8(r.expose().to_vec()).unwrap()
        };
        assert_eq!(ok("{{ value }}"), "v");
        assert_eq!(ok(r#"{{ secrets["db-user"] }}@{{ value }}"#), "app@v");
        assert_eq!(ok(r#"{{ secrets["db-user"][:2] }}"#), "ap");
        // Every route that touches the binary secret is an error that names it, including
        // those that would otherwise render quietly (default, is defined, in, loops, slices).
        for t in [
            "{{ secrets.keystore }}",
            r#"{{ secrets["keystore"] }}"#,
            r#"{{ secrets.keystore | default("") }}"#,
            "{% if secrets.keystore is defined %}x{% endif %}",
            "{% for k, v in secrets|items %}{{ k }}{% endfor %}",
            "{% for k, v in (secrets|items)[:5] %}{{ k }}{% endfor %}",
            "{{ secrets|dictsort }}",
        ] {
            match render(&Format::Template(t.into()), &s("v"), &all) {
                Err(e @ RenderError::InputNotUtf8(_)) => {
                    assert!(e.to_string().contains("`keystore`"), "{t}: {e}")
                }
                other => panic!("{t}: expected InputNotUtf8, got {other:?}"),
            }
        }
        // Names alone are not values: listing them is fine.
        assert_eq!(
            ok("{% for k in secrets %}{{ k }},{% endfor %}"),
            "db-user,keystore,"
        );
    }
}
