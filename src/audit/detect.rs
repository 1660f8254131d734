//! Detection of literal secrets in configuration key/value pairs: compose `environment:`,
//! Kubernetes `env`, Dockerfile `ENV`/`ARG`, container-instance environment variables.
//!
//! [`detect`] judges one pair and says *why* it looks like a secret ([`SecretKind`]);
//! [`is_reference`] tells a `${VAR}` reference from a literal. Everything here works on
//! borrowed bytes with hand-written matchers: it runs on every variable of every file, so
//! the common case (`LOG_LEVEL=debug`) allocates nothing and touches each byte a few times.
//!
//! # Rules of judgement
//!
//! The value is first trimmed and one layer of matching quotes is removed (Dockerfile
//! `ENV A="b"`), because the quotes are syntax, not part of the secret.
//!
//! 1. **By value**, whatever the key, most specific first, so the most telling kind wins:
//!    PEM private key header, Azure account key / shared access key, Azure SAS token,
//!    GitHub token, Slack token, AWS access key id, JWT, URL with an embedded password.
//!    These shapes are credentials on their own; a key name cannot make them harmless.
//!    They look at the literal text even when another part of the value is a reference
//!    (a key pasted next to `${VAR}` still leaks); callers that skip every partial
//!    reference check [`is_reference`] first.
//! 2. **AWS secret access key**: 40 characters of `[A-Za-z0-9/+]` under a key whose name
//!    contains both `AWS` and `SECRET`. The shape alone is too common to report without the
//!    name.
//! 3. **By name** ([`SecretKind::SecretName`]): the key is split on `_`, `-`, `.` (any
//!    non-alphanumeric byte) and camelCase boundaries into tokens, compared without regard
//!    to case. It is secret-named when it contains:
//!    - a token that is, or ends with, `PASSWORD`, `PASSWD`, `PASSPHRASE`, `SECRET`,
//!      `TOKEN`, `APIKEY`, `CREDENTIAL` (optionally plural): `DB_PASSWORD`, `PGPASSWORD`,
//!      `clientSecret`, `AUTHTOKEN`, `CREDENTIALS`; only the *end* of a token counts, so
//!      `TOKENIZER` is not a token;
//!    - the whole tokens `PASS`, `PWD`, `CONNSTR`, `SAS` (so `BYPASS`, `COMPASS` and
//!      `OLDPWD` are not; the shell's own `PWD` is the working directory and never counts);
//!    - the adjacent token runs `API KEY`, `ACCESS KEY`, `PRIVATE KEY`, `SECRET KEY`,
//!      `CLIENT SECRET`, `CONNECTION STRING`, `CONN STR`, `AUTH KEY`, `MASTER KEY`,
//!      `ENCRYPTION KEY`, `SIGNING KEY`;
//!    - a run given in [`DetectorConfig::extra_name_patterns`].
//!
//!    `DSN` is deliberately absent: most DSNs carry no password, and those that do are
//!    caught by the URL check.
//!
//!    A key whose **last token** says it is *about* a secret rather than the secret itself
//!    is never secret-named: indirections (`FILE`, `PATH`, `DIR`, `FILENAME`, `LOCATION`,
//!    `REF`, `NAME`, `ID`, `ARN`, `URI`, `URL`, `ENDPOINT`, `HOST`, `PORT`, `USER`,
//!    `USERNAME`, ...) and settings (`LENGTH`, `TTL`, `EXPIRY`, `TIMEOUT`, `ENABLED`,
//!    `TYPE`, `METHOD`, `POLICY`, `HEADER`, `ALGORITHM`, `VERSION`, `MODE`, `ROTATION`,
//!    time units, ...). `AWS_ACCESS_KEY_ID` is therefore not secret-named, but an
//!    `AKIA...` value under it is caught by value. `TOKEN_ID` is the one exception: it
//!    holds the token itself (`VAULT_DEV_ROOT_TOKEN_ID`), where `KEY_ID` and `SECRET_ID`
//!    name a key or a secrets-manager entry. Keys listed in
//!    [`DetectorConfig::allow_names`] are never secret-named either; their values still go
//!    through the by-value checks.
//!
//!    A secret-named key is reported only when its value is a literal: non-empty, not a
//!    reference, not a template expression (`{{ ... }}`), not a boolean word
//!    (`true`/`false`/`yes`/`no`/`on`/`off`, which are switches such as
//!    `MYSQL_ALLOW_EMPTY_PASSWORD=yes`), not a number of fewer than 6 digits (a setting,
//!    not a PIN), not a path under `/run/secrets`, `/var/run/secrets` or `/mnt/secrets*`
//!    (where secrets *should* live), and not a `<placeholder>`. Weak literals such as
//!    `changeme`, `password` or `admin` **are** reported: they are real, guessable
//!    credentials.
//! 4. **High entropy**, whatever the key: one token (after an optional `base64:` label)
//!    of at least [`DetectorConfig::entropy_min_len`] characters, drawn only from the
//!    base64 / base64url / hex alphabet (`A-Z a-z 0-9 + / = - _`, `=` only as trailing
//!    padding), with at least one letter and one digit, whose Shannon entropy reaches
//!    [`DetectorConfig::entropy_threshold`] bits per character (three quarters of it for
//!    hex-only strings, whose alphabet carries 4 bits instead of 6). Excluded, because they
//!    are random-looking but public: UUIDs; hex strings of digest lengths (32, 40, 56, 64,
//!    96, 128: git commits, checksums, image digests); paths (`/a/b`, `./a`); values made of
//!    dictionary-like words (`my-service-eu-west-1`). The alphabet already rules out URLs,
//!    `sha256:` digests, `host:port`, dotted hostnames and version strings.
//!
//! References (`${VAR}`, `$VAR`, `${VAR:-default}`, `${VAR:?err}`, Kubernetes `$(VAR)`)
//! are never reported by name or entropy. Compose and Kubernetes write a literal dollar as
//! `$$`, so `pa$$word` is a literal, not a reference.

/// Why a value was judged a literal secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// Key name says so (PASSWORD, TOKEN, ...) and the value is a literal.
    SecretName,
    /// An AWS access key id (`AKIA...`, `ASIA...`, ... followed by 16 base32 characters).
    AwsAccessKeyId,
    /// A 40-character base64-ish value under a key naming an AWS secret.
    AwsSecretAccessKey,
    /// An Azure connection string carrying a key (`AccountKey=` or `SharedAccessKey=`).
    AzureStorageConnectionString,
    /// An Azure shared access signature: a query string with `sv=` and `sig=`.
    AzureSasToken,
    /// A PEM private key (`-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |DSA ]PRIVATE KEY-----`).
    PrivateKeyPem,
    /// A URL with a literal password in its user info (`scheme://user:password@host`).
    UrlWithPassword,
    /// A GitHub token (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`).
    GithubToken,
    /// A Slack token (`xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`).
    SlackToken,
    /// A JSON Web Token: three base64url parts, the first two starting with `eyJ`.
    Jwt,
    /// A long random-looking string (see the module documentation for the filters).
    HighEntropy,
}

impl SecretKind {
    /// A short noun phrase for messages, e.g. "an AWS access key id".
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::SecretName => "a literal value under a secret-looking name",
            SecretKind::AwsAccessKeyId => "an AWS access key id",
            SecretKind::AwsSecretAccessKey => "an AWS secret access key",
            SecretKind::AzureStorageConnectionString => "an Azure connection string with a key",
            SecretKind::AzureSasToken => "an Azure shared access signature",
            SecretKind::PrivateKeyPem => "a PEM private key",
            SecretKind::UrlWithPassword => "a URL with an embedded password",
            SecretKind::GithubToken => "a GitHub token",
            SecretKind::SlackToken => "a Slack token",
            SecretKind::Jwt => "a JSON Web Token",
            SecretKind::HighEntropy => "a high-entropy string",
        }
    }
}

/// Tuning of the detector, taken from the rule's policy parameters. [`Default`] gives the
/// built-in behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    /// Extra key-name fragments that mark a key as secret, on top of the built-ins. Each is
    /// split like a key (`MY_PIN` is the token run `MY PIN`) and matched as whole adjacent
    /// tokens, without regard to case.
    pub extra_name_patterns: Vec<String>,
    /// Key names never reported by name (exact, case-insensitive), e.g.
    /// `POSTGRES_HOST_AUTH_METHOD`. Their values are still checked by value.
    pub allow_names: Vec<String>,
    /// Minimum length of a value for the high-entropy check (default 32).
    pub entropy_min_len: usize,
    /// Shannon entropy, in bits per character, a value must reach to count as high-entropy
    /// (default 4.0). Hex-only values use three quarters of it (3.0 by default).
    pub entropy_threshold: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            extra_name_patterns: Vec::new(),
            allow_names: Vec::new(),
            entropy_min_len: 32,
            entropy_threshold: 4.0,
        }
    }
}

/// Judges one key/value pair. `value` is the raw literal text as written in the file,
/// before any interpolation. Returns the reason it is a literal secret, or `None` when it
/// is not one. See the module documentation for the rules and their order.
#[must_use]
pub fn detect(key: &str, value: &str, cfg: &DetectorConfig) -> Option<SecretKind> {
    let v = unquote(value);
    if v.is_empty() {
        return None;
    }
    if let Some(kind) = detect_by_value(v) {
        return Some(kind);
    }
    let literal = !is_reference(v);
    if literal && is_aws_secret_access_key(key, v) {
        return Some(SecretKind::AwsSecretAccessKey);
    }
    if literal && is_literal_secret_value(v) && is_secret_name(key, cfg) {
        return Some(SecretKind::SecretName);
    }
    if literal && is_high_entropy(v, cfg) {
        return Some(SecretKind::HighEntropy);
    }
    None
}

/// True when `value` is (entirely or partly) a reference rather than a literal: `${VAR}`,
/// `$VAR`, `${VAR:-x}`, `${VAR:?err}`, or Kubernetes' `$(VAR)`. `$$` is an escaped literal
/// dollar (Compose and Kubernetes both), so `pa$$word` is not a reference; neither is a
/// `$` followed by something that cannot start a variable name (`$1`, a trailing `$`).
#[must_use]
pub fn is_reference(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            if b.get(i + 1) == Some(&b'$') {
                i += 2;
                continue;
            }
            if reference_end(b, i).is_some() {
                return true;
            }
        }
        i += 1;
    }
    false
}

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// Trims, then removes one layer of matching quotes: they are syntax (Dockerfile, dotenv),
/// not part of the value.
fn unquote(value: &str) -> &str {
    let v = value.trim();
    let b = v.as_bytes();
    if b.len() >= 2 {
        let (first, last) = (b[0], b[b.len() - 1]);
        if first == last && (first == b'"' || first == b'\'') {
            return v.get(1..v.len() - 1).map_or(v, str::trim);
        }
    }
    v
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// When a reference starts at `b[i]` (a `$`), the index just past it. An unclosed `${` runs
/// to the end: interpolation would fail on it, and it is certainly not a literal secret.
fn reference_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i + 1).copied() {
        Some(b'{') if b.get(i + 2).copied().is_some_and(is_name_start) => {
            // Nested defaults (`${A:-${B}}`) close at the matching brace.
            let mut depth = 0usize;
            for (j, &c) in b.iter().enumerate().skip(i + 1) {
                match c {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
            }
            Some(b.len())
        }
        Some(b'(') if b.get(i + 2).copied().is_some_and(is_name_start) => {
            let mut j = i + 3;
            while b.get(j).copied().is_some_and(is_name_char) {
                j += 1;
            }
            (b.get(j) == Some(&b')')).then_some(j + 1)
        }
        Some(c) if is_name_start(c) => {
            let mut j = i + 2;
            while b.get(j).copied().is_some_and(is_name_char) {
                j += 1;
            }
            Some(j)
        }
        _ => None,
    }
}

/// True when the whole of `s` is one reference (a URL password of `${DB_PASSWORD}`).
fn is_whole_reference(s: &str) -> bool {
    let b = s.as_bytes();
    b.first() == Some(&b'$') && reference_end(b, 0) == Some(b.len())
}

/// Start offsets of `needle` in `hay`, optionally ignoring ASCII case.
fn occurrences<'a>(
    hay: &'a [u8],
    needle: &'a [u8],
    ignore_case: bool,
) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len().max(1))
        .enumerate()
        .filter(move |(_, w)| {
            if ignore_case {
                w.eq_ignore_ascii_case(needle)
            } else {
                *w == needle
            }
        })
        .map(|(i, _)| i)
}

/// Length of the run of bytes satisfying `pred` starting at `b[from]`.
fn run_len(b: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    b.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|&&c| pred(c)).count())
}

/// True when `b[i]` is not preceded by an alphanumeric byte, i.e. a match at `i` is not
/// the tail of a longer word.
fn starts_word(b: &[u8], i: usize) -> bool {
    i == 0 || b.get(i - 1).is_none_or(|c| !c.is_ascii_alphanumeric())
}

fn is_base64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='
}

fn is_base64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

// ---------------------------------------------------------------------------------------
// By value
// ---------------------------------------------------------------------------------------

/// The shortest value any by-value pattern can match (a Slack token prefix and its body);
/// most configuration values are shorter and skip the scans entirely. URLs are shorter
/// still and are checked separately.
const MIN_PATTERN_LEN: usize = 15;

fn detect_by_value(v: &str) -> Option<SecretKind> {
    let b = v.as_bytes();
    if b.len() >= MIN_PATTERN_LEN {
        if has_pem_private_key(b) {
            return Some(SecretKind::PrivateKeyPem);
        }
        if has_azure_account_key(b) {
            return Some(SecretKind::AzureStorageConnectionString);
        }
        if has_azure_sas(b) {
            return Some(SecretKind::AzureSasToken);
        }
        if has_github_token(b) {
            return Some(SecretKind::GithubToken);
        }
        if has_slack_token(b) {
            return Some(SecretKind::SlackToken);
        }
        if has_aws_access_key_id(b) {
            return Some(SecretKind::AwsAccessKeyId);
        }
        if has_jwt(b) {
            return Some(SecretKind::Jwt);
        }
    }
    if has_url_with_password(v) {
        return Some(SecretKind::UrlWithPassword);
    }
    None
}

/// `-----BEGIN <LABEL>PRIVATE KEY-----` (or `PRIVATE KEY BLOCK`, PGP), anywhere: the value
/// may hold the whole key with escaped newlines. The label is a short upper-case word run
/// (`RSA `, `EC `, `OPENSSH `, `ENCRYPTED `, `DSA `, ...); public keys and certificates do
/// not match.
fn has_pem_private_key(b: &[u8]) -> bool {
    const OPEN: &[u8] = b"-----BEGIN ";
    occurrences(b, OPEN, false).any(|i| {
        let start = i + OPEN.len();
        let label_len = run_len(b, start, |c| c.is_ascii_uppercase() || c == b' ');
        let Some(label) = b.get(start..start + label_len) else {
            return false;
        };
        let closed = b
            .get(start + label_len..)
            .is_some_and(|r| r.starts_with(b"-----"));
        closed
            && label_len <= 40
            && (label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"))
    })
}

/// `AccountKey=<base64>` (storage) or `SharedAccessKey=<base64>` (Service Bus, Event Hubs,
/// `IoT` Hub) with at least 20 key characters: the key is the credential, whatever surrounds
/// it. Azure reads these names without regard to case. `SharedAccessKeyName=` is the key's
/// name and does not match.
fn has_azure_account_key(b: &[u8]) -> bool {
    [&b"AccountKey="[..], &b"SharedAccessKey="[..]]
        .into_iter()
        .any(|needle| {
            occurrences(b, needle, true)
                .any(|i| starts_word(b, i) && run_len(b, i + needle.len(), is_base64) >= 20)
        })
}

/// A SAS query string: an `sv=` (service version) parameter and a `sig=` parameter whose
/// value has at least 20 base64 or percent-encoded characters.
fn has_azure_sas(b: &[u8]) -> bool {
    let is_param = |i: usize| i == 0 || b.get(i - 1).is_some_and(|c| !is_name_char(*c));
    let has_sig = occurrences(b, b"sig=", false)
        .any(|i| is_param(i) && run_len(b, i + 4, |c| is_base64(c) || c == b'%') >= 20);
    has_sig && occurrences(b, b"sv=", false).any(is_param)
}

/// `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` followed by 36 alphanumerics (classic tokens), or
/// `github_pat_` followed by at least 22 characters (fine-grained tokens).
fn has_github_token(b: &[u8]) -> bool {
    let classic = occurrences(b, b"gh", false).any(|i| {
        starts_word(b, i)
            && matches!(b.get(i + 2), Some(b'p' | b'o' | b'u' | b's' | b'r'))
            && b.get(i + 3) == Some(&b'_')
            && run_len(b, i + 4, |c| c.is_ascii_alphanumeric()) >= 36
    });
    classic
        || occurrences(b, b"github_pat_", false)
            .any(|i| starts_word(b, i) && run_len(b, i + 11, is_name_char) >= 22)
}

/// `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-` followed by at least 10 characters of
/// digits, letters and dashes, including a digit (real tokens embed numeric ids).
fn has_slack_token(b: &[u8]) -> bool {
    occurrences(b, b"xox", false).any(|i| {
        if !starts_word(b, i)
            || !matches!(b.get(i + 3), Some(b'b' | b'p' | b'a' | b'r' | b's'))
            || b.get(i + 4) != Some(&b'-')
        {
            return false;
        }
        let n = run_len(b, i + 5, |c| c.is_ascii_alphanumeric() || c == b'-');
        n >= 10
            && b.get(i + 5..i + 5 + n)
                .is_some_and(|body| body.iter().any(u8::is_ascii_digit))
    })
}

/// A four-letter AWS key-id prefix followed by 16 characters of `[A-Z2-7]`, standing alone
/// (not inside a longer alphanumeric run, which would be some other identifier).
fn has_aws_access_key_id(b: &[u8]) -> bool {
    const PREFIXES: [&[u8; 4]; 10] = [
        b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AROA", b"ANPA", b"ANVA", b"APKA",
    ];
    b.windows(20).enumerate().any(|(i, w)| {
        w[0] == b'A'
            && PREFIXES.iter().any(|p| w.starts_with(&p[..]))
            && w[4..]
                .iter()
                .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(c))
            && starts_word(b, i)
            && !b.get(i + 20).is_some_and(u8::is_ascii_alphanumeric)
    })
}

/// Three dot-separated base64url parts, the first two starting with `eyJ` (base64 of
/// `{"`), a non-empty signature, at least 30 characters in all.
fn has_jwt(b: &[u8]) -> bool {
    occurrences(b, b"eyJ", false).any(|i| {
        if i > 0 && b.get(i - 1).copied().is_some_and(is_base64url) {
            return false;
        }
        let h = run_len(b, i, is_base64url);
        let p_start = i + h + 1;
        if b.get(i + h) != Some(&b'.') || !b.get(p_start..).is_some_and(|r| r.starts_with(b"eyJ")) {
            return false;
        }
        let p = run_len(b, p_start, is_base64url);
        let s_start = p_start + p + 1;
        if b.get(p_start + p) != Some(&b'.') {
            return false;
        }
        let s = run_len(b, s_start, is_base64url);
        s > 0 && s_start + s - i >= 30
    })
}

/// `scheme://user:password@host` with a non-empty password that is not wholly a
/// reference. Masks such as `****` are reported too: a real password may hide behind them
/// and the file should not hold one either way. Every URL in the value is checked (lists of
/// brokers, `${X:-url}` defaults).
fn has_url_with_password(v: &str) -> bool {
    let b = v.as_bytes();
    occurrences(b, b"://", false).any(|i| {
        // The scheme must be a real one: a letter then letters, digits, `+`, `-`, `.`.
        let mut s = i;
        while s > 0
            && b.get(s - 1)
                .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            s -= 1;
        }
        if s == i || !b.get(s).is_some_and(u8::is_ascii_alphabetic) {
            return false;
        }
        let Some(rest) = v.get(i + 3..) else {
            return false;
        };
        // The authority ends at the path, query, fragment or whitespace; the last `@` in it
        // ends the user info (sloppy configs leave `@` unencoded in passwords).
        let end = rest
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(rest.len());
        let Some(authority) = rest.get(..end) else {
            return false;
        };
        let Some((userinfo, _host)) = authority.rsplit_once('@') else {
            return false;
        };
        match userinfo.split_once(':') {
            Some((_user, pass)) => !pass.is_empty() && !is_whole_reference(pass),
            None => false,
        }
    })
}

/// 40 characters of `[A-Za-z0-9/+]` under a key naming both AWS and a secret, unless the
/// key is an indirection (`AWS_SECRET_ACCESS_KEY_FILE`) or the value a secrets mount path.
fn is_aws_secret_access_key(key: &str, v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 40
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+')
        && contains_ignore_case(key.as_bytes(), b"AWS")
        && contains_ignore_case(key.as_bytes(), b"SECRET")
        && !ends_with_config_token(key)
        && !is_secrets_mount_path(v)
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    occurrences(hay, needle, true).next().is_some()
}

// ---------------------------------------------------------------------------------------
// By name
// ---------------------------------------------------------------------------------------

/// Iterates over the tokens of a key: split on every non-alphanumeric ASCII byte and on
/// camelCase boundaries (`apiKey` → `api Key`, `APIKey` → `API Key`, `s3Bucket` →
/// `s3 Bucket`). Splits only ever happen at ASCII bytes, so slices stay on char boundaries.
#[derive(Clone)]
struct Tokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        Tokens { s, pos: 0 }
    }
}

fn is_key_separator(c: u8) -> bool {
    c.is_ascii() && !c.is_ascii_alphanumeric()
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        while self.pos < b.len() && is_key_separator(b[self.pos]) {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let start = self.pos;
        let mut i = start + 1;
        while i < b.len() {
            let (prev, c) = (b[i - 1], b[i]);
            if is_key_separator(c) {
                break;
            }
            if c.is_ascii_uppercase() {
                // fooBar, s3Bucket: a capital after a lower-case letter or digit.
                if prev.is_ascii_lowercase() || prev.is_ascii_digit() {
                    break;
                }
                // APIKey: the last capital of a run starts the next word.
                if prev.is_ascii_uppercase() && b.get(i + 1).is_some_and(u8::is_ascii_lowercase) {
                    break;
                }
            }
            i += 1;
        }
        self.pos = i;
        self.s.get(start..i)
    }
}

/// Words that make a token secret when the token is, or ends with, them (optionally
/// plural): `PGPASSWORD`, `AUTHTOKEN`, `clientSecret`. A word merely *starting* a token
/// (`TOKENIZER`, `PASSWORDLESS`) does not count.
const SUFFIX_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "APIKEY",
    "CREDENTIAL",
];

/// Words that make a key secret only as whole tokens: `PASS` and `PWD` hide in ordinary
/// words (`BYPASS`, `COMPASS`, `OLDPWD`).
const WHOLE_WORDS: &[&str] = &["PASS", "PWD", "CONNSTR", "SAS"];

/// Adjacent token runs that make a key secret.
const TOKEN_RUNS: &[&[&str]] = &[
    &["API", "KEY"],
    &["ACCESS", "KEY"],
    &["PRIVATE", "KEY"],
    &["SECRET", "KEY"],
    &["CLIENT", "SECRET"],
    &["CONNECTION", "STRING"],
    &["CONN", "STR"],
    &["AUTH", "KEY"],
    &["MASTER", "KEY"],
    &["ENCRYPTION", "KEY"],
    &["SIGNING", "KEY"],
];

/// Last tokens that make a key *about* a secret rather than the secret itself: where it
/// is (indirections), who or what uses it, and how it is configured. Their values are
/// paths, names, ids, durations, switches and algorithm names.
const CONFIG_TOKENS: &[&str] = &[
    // Indirections: the value points at the secret.
    "FILE",
    "FILES",
    "PATH",
    "DIR",
    "FILENAME",
    "LOCATION",
    "REF",
    "NAME",
    "ID",
    "ARN",
    "URI",
    "URL",
    "ENDPOINT",
    "HOST",
    "PORT",
    "USER",
    "USERNAME",
    "MOUNT",
    "STORE",
    "PROVIDER",
    "BACKEND",
    "SOURCE",
    "ISSUER",
    "AUDIENCE",
    "SCOPE",
    "SCOPES",
    // Settings: the value configures how secrets are handled.
    "LENGTH",
    "LEN",
    "MIN",
    "MAX",
    "SIZE",
    "COUNT",
    "TTL",
    "EXPIRY",
    "EXPIRES",
    "EXPIRATION",
    "LIFETIME",
    "TIMEOUT",
    "INTERVAL",
    "DURATION",
    "ROTATION",
    "ENABLED",
    "DISABLED",
    "REQUIRED",
    "TYPE",
    "KIND",
    "METHOD",
    "MODE",
    "POLICY",
    "HEADER",
    "ALGORITHM",
    "ENCODING",
    "ENCRYPTION",
    "FORMAT",
    "PREFIX",
    "SUFFIX",
    "VERSION",
    "COMPLEXITY",
    "STRENGTH",
    // Time units: `TOKEN_EXPIRATION_MS=3600000` is a duration.
    "MS",
    "MILLIS",
    "SEC",
    "SECS",
    "SECONDS",
    "MINS",
    "MINUTES",
    "HOURS",
    "DAYS",
];

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn is_secret_word(token: &str) -> bool {
    let singular = match token.len().checked_sub(1) {
        Some(n) if token.as_bytes()[n].eq_ignore_ascii_case(&b'S') => token.get(..n),
        _ => None,
    };
    SUFFIX_WORDS.iter().any(|w| {
        ends_with_ignore_case(token, w) || singular.is_some_and(|s| ends_with_ignore_case(s, w))
    }) || WHOLE_WORDS.iter().any(|w| token.eq_ignore_ascii_case(w))
}

/// True when the tokens from `at` on begin with the tokens of `pattern`.
fn run_matches<'a>(mut at: Tokens<'_>, pattern: impl IntoIterator<Item = &'a str>) -> bool {
    let mut any = false;
    for p in pattern {
        match at.next() {
            Some(t) if t.eq_ignore_ascii_case(p) => any = true,
            _ => return false,
        }
    }
    any
}

fn ends_with_config_token(key: &str) -> bool {
    let (mut prev, mut last) = (None, None);
    for t in Tokens::new(key) {
        prev = last.replace(t);
    }
    let Some(last) = last else {
        return false;
    };
    // A token id is the token (Vault's `VAULT_DEV_ROOT_TOKEN_ID`), unlike a key id.
    if last.eq_ignore_ascii_case("ID") && prev.is_some_and(|p| p.eq_ignore_ascii_case("TOKEN")) {
        return false;
    }
    CONFIG_TOKENS.iter().any(|c| last.eq_ignore_ascii_case(c))
}

/// True when the key names a secret (see the module documentation).
fn is_secret_name(key: &str, cfg: &DetectorConfig) -> bool {
    let key = key.trim();
    // The shell's working directories, not passwords.
    if key.eq_ignore_ascii_case("PWD") || key.eq_ignore_ascii_case("OLDPWD") {
        return false;
    }
    if cfg
        .allow_names
        .iter()
        .any(|n| n.trim().eq_ignore_ascii_case(key))
    {
        return false;
    }
    if ends_with_config_token(key) {
        return false;
    }
    let mut at = Tokens::new(key);
    loop {
        let here = at.clone();
        let Some(token) = at.next() else {
            return false;
        };
        if is_secret_word(token)
            || TOKEN_RUNS
                .iter()
                .any(|run| run_matches(here.clone(), run.iter().copied()))
            || cfg
                .extra_name_patterns
                .iter()
                .any(|p| run_matches(here.clone(), Tokens::new(p)))
        {
            return true;
        }
    }
}

/// True when a value under a secret-named key is a literal secret rather than a switch, a
/// small number, a path to a mounted secret, a template or a placeholder.
fn is_literal_secret_value(v: &str) -> bool {
    const SWITCHES: &[&str] = &["true", "false", "yes", "no", "on", "off"];
    if v.is_empty() || SWITCHES.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        return false;
    }
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let numeric = v
        .strip_prefix('-')
        .unwrap_or(v)
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b'.');
    if numeric && digits < 6 {
        return false;
    }
    if is_secrets_mount_path(v) {
        return false;
    }
    // `{{ .Values.password }}`, `{{ db_password }}`: filled in by a template engine.
    if v.contains("{{") && v.contains("}}") {
        return false;
    }
    // `<your-password>`: a placeholder explicitly meant to be replaced.
    !(v.len() > 2 && v.starts_with('<') && v.ends_with('>'))
}

/// A path where orchestrators mount secrets: pointing at it is the recommended practice.
fn is_secrets_mount_path(v: &str) -> bool {
    let under = |root: &str| {
        v.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    under("/run/secrets") || under("/var/run/secrets") || v.starts_with("/mnt/secrets")
}

// ---------------------------------------------------------------------------------------
// High entropy
// ---------------------------------------------------------------------------------------

/// Lengths of hex digests (MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512): git commits,
/// checksums and image digests are random-looking but public.
const DIGEST_HEX_LENGTHS: &[usize] = &[32, 40, 56, 64, 96, 128];

fn is_high_entropy(v: &str, cfg: &DetectorConfig) -> bool {
    // `base64:<key>` (Laravel's APP_KEY and others) labels the encoding; judge the key.
    let v = match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("base64:") => v.get(7..).unwrap_or(v),
        _ => v,
    };
    let b = v.as_bytes();
    if b.len() < cfg.entropy_min_len.max(1) {
        return false;
    }
    let (mut letters, mut digits, mut hex_only) = (0usize, 0usize, true);
    for &c in b {
        match c {
            b'0'..=b'9' => digits += 1,
            b'a'..=b'f' | b'A'..=b'F' => letters += 1,
            b'g'..=b'z' | b'G'..=b'Z' => {
                letters += 1;
                hex_only = false;
            }
            b'+' | b'/' | b'=' | b'-' | b'_' => hex_only = false,
            // Whitespace, `.`, `:`, `@`...: prose, hostnames, versions, URLs, digests.
            _ => return false,
        }
    }
    if letters == 0 || digits == 0 {
        return false;
    }
    // `=` is only base64 padding; elsewhere it is an assignment (`a=b`).
    let unpadded = v.trim_end_matches('=');
    if b.len() - unpadded.len() > 2 || unpadded.contains('=') {
        return false;
    }
    if (hex_only && DIGEST_HEX_LENGTHS.contains(&b.len()))
        || is_uuid(b)
        || looks_like_path(v)
        || is_word_list(unpadded)
    {
        return false;
    }
    let threshold = if hex_only {
        cfg.entropy_threshold * 0.75
    } else {
        cfg.entropy_threshold
    };
    shannon_entropy(b) >= threshold
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `/a/b`, `./a`, `../a`, `~/a`: a path, unless it carries base64-only characters.
fn looks_like_path(v: &str) -> bool {
    let rooted =
        v.starts_with('/') || v.starts_with("./") || v.starts_with("../") || v.starts_with("~/");
    rooted && !v.contains('+') && !v.contains("//")
}

/// True when every `-`/`_`/`/`/`+`-separated segment reads like a word or a number
/// (`my-service-eu-west-1`, `FEATURE_X_V2`): identifiers, not random strings. A word is a
/// run of letters in one case (or Capitalised), optionally followed by digits.
fn is_word_list(v: &str) -> bool {
    v.split(['-', '_', '/', '+'])
        .filter(|s| !s.is_empty())
        .all(|seg| {
            let b = seg.as_bytes();
            let alpha = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
            let (word, number) = b.split_at(alpha);
            let word_ok = match word.split_first() {
                None => true,
                Some((_, rest)) => {
                    rest.iter().all(u8::is_ascii_lowercase)
                        || word.iter().all(u8::is_ascii_uppercase)
                }
            };
            word_ok && number.iter().all(u8::is_ascii_digit)
        })
}

/// Shannon entropy in bits per byte.
fn shannon_entropy(b: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in b {
        counts[usize::from(c)] += 1;
    }
    // Values are far shorter than 2^32 bytes; saturating keeps this total anyway.
    let n = f64::from(u32::try_from(b.len()).unwrap_or(u32::MAX));
    counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = f64::from(k) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(key: &str, value: &str) -> Option<SecretKind> {
        detect(key, value, &DetectorConfig::default())
    }

    const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const AZURE_CONN: &str = "DefaultEndpointsProtocol=https;AccountName=mystorageacct;AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDRA==;EndpointSuffix=core.windows.net";
    const SAS: &str = "?sv=2022-11-02&ss=bfqt&srt=sco&sp=rwdlacupiytfx&se=2025-12-31T23:59:59Z&st=2024-01-01T00:00:00Z&spr=https&sig=abcDEF123%2BghiJKL456%2Fmno789PQRstu%3D";
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    const GH: &str = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
    const SLACK: &str = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    const RANDOM: &str = "Zx8Q2mN7vR4tY1pK9sL3wB6hJ0cF5gDa";

    // ----- references --------------------------------------------------------------

    #[test]
    fn references() {
        for r in [
            "${DB_PASSWORD}",
            "$DB_PASSWORD",
            "${X:?required}",
            "${X:-default}",
            "${A:-${B}}",
            "prefix-${VAR}",
            "$(K8S_VAR)",
            "${UNCLOSED",
            "a$$b$REAL",
        ] {
            assert!(is_reference(r), "{r}");
        }
        for l in [
            "pa$$word",
            "$$",
            "$",
            "cost$5",
            "plain",
            "",
            "$$(NOT_K8S)",
            "${}",
            "$(x",
        ] {
            assert!(!is_reference(l), "{l}");
        }
    }

    #[test]
    fn references_are_never_reported() {
        assert_eq!(d("DB_PASSWORD", "${DB_PASSWORD}"), None);
        assert_eq!(d("DB_PASSWORD", "$DB_PASSWORD"), None);
        assert_eq!(d("DB_PASSWORD", "${X:?required}"), None);
        assert_eq!(d("AWS_ACCESS_KEY_ID", "${AWS_ACCESS_KEY_ID}"), None);
        assert_eq!(d("AWS_SECRET_ACCESS_KEY", "${AWS_SECRET_ACCESS_KEY}"), None);
        assert_eq!(d("API_TOKEN", "$(API_TOKEN)"), None);
        assert_eq!(
            d("DATABASE_URL", "postgres://app:${DB_PASSWORD}@db/app"),
            None
        );
        assert_eq!(
            d("DATABASE_URL", "postgres://app:$DB_PASSWORD@db/app"),
            None
        );
    }

    #[test]
    fn escaped_dollar_is_literal() {
        assert_eq!(d("DB_PASSWORD", "pa$$word"), Some(SecretKind::SecretName));
        assert_eq!(
            d("DATABASE_URL", "postgres://app:pa$$w@db/app"),
            Some(SecretKind::UrlWithPassword)
        );
    }

    // ----- by name -----------------------------------------------------------------

    #[test]
    fn secret_names_with_literals() {
        for (k, v) in [
            ("POSTGRES_PASSWORD", "example"),
            ("REDIS_PASSWORD", "hunter2"),
            ("apiKey", "abc123def456"),
            ("APIKey", "abc123def456"),
            ("x-api-key", "abc"),
            ("api.key", "abc"),
            ("DB_PASS", "changeme"),
            ("MYSQL_PWD", "password"),
            ("PGPASSWORD", "secret"),
            ("GF_SECURITY_ADMIN_PASSWORD", "admin"),
            ("DJANGO_SECRET_KEY", "not-so-secret"),
            ("clientSecret", "s3cr3t"),
            ("JWT_SECRET", "mysecret"),
            ("GITHUB_TOKEN", "abc"),
            ("authToken", "abc"),
            ("MINIO_ACCESS_KEY", "minioadmin"),
            ("TLS_PRIVATE_KEY", "abc"),
            (
                "AZURE_STORAGE_CONNECTION_STRING",
                "UseDevelopmentStorage=true",
            ),
            ("DB_CONNSTR", "Server=db;Database=app"),
            ("DB_CONN_STR", "Server=db;Database=app"),
            ("GOOGLE_APPLICATION_CREDENTIALS_JSON", "{}"),
            ("AWS_CREDENTIAL", "x"),
            ("AUTH_KEY", "x"),
            ("MASTER_KEY", "x"),
            ("ENCRYPTION_KEY", "x"),
            ("SIGNING_KEY", "x"),
            ("AZURE_SAS", "x"),
            ("SSL_PASSPHRASE", "x"),
            ("RABBITMQ_DEFAULT_PASS", "guest"),
            ("SECRET_KEY_BASE", "x"),
            ("API_TOKENS", "a,b"),
            ("PIN_PASSWORD", "123456"),
            ("KEYSTORE_PASSWORD", "\"quoted\""),
            ("VAULT_DEV_ROOT_TOKEN_ID", "root"),
        ] {
            assert_eq!(d(k, v), Some(SecretKind::SecretName), "{k}={v}");
        }
    }

    #[test]
    fn names_that_are_not_secret() {
        for k in [
            "TOKENIZER",
            "BYPASS_CACHE",
            "COMPASS",
            "OLDPWD",
            "PWD",
            "PASSWORDLESS_MODE_X",
            "DB_HOST",
            "LOG_LEVEL",
            "NODE_ENV",
            "SENTRY_DSN",
            "API",
            "KEY",
            "PUBLIC_KEY",
            "KEY_ACCESS",
        ] {
            assert!(!is_secret_name(k, &DetectorConfig::default()), "{k}");
        }
    }

    #[test]
    fn indirections_and_settings_are_not_secret_names() {
        for (k, v) in [
            ("POSTGRES_PASSWORD_FILE", "/run/secrets/db"),
            ("DB_PASSWORD_FILE", "/etc/app/db-password"),
            ("PASSWORD_MIN_LENGTH", "12"),
            ("TOKEN_TTL", "3600"),
            ("TOKEN_TTL", "1h"),
            ("SECRET_NAME", "prod/db"),
            ("secretName", "prod-db"),
            ("AWS_ACCESS_KEY_ID", "${AWS_ACCESS_KEY_ID}"),
            (
                "SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
            ),
            ("VAULT_TOKEN_PATH", "auth/token"),
            ("SECRETS_DIR", "/secrets"),
            ("TOKEN_ENDPOINT", "https://login.example.com/token"),
            ("AUTH_TOKEN_HEADER", "Authorization"),
            ("PASSWORD_HASH_ALGORITHM", "argon2id"),
            ("SECRET_VERSION", "latest"),
            ("TOKEN_EXPIRATION_MS", "3600000"),
            ("PASSWORD_ENCRYPTION", "scram-sha-256"),
            ("SECRETS_PROVIDER", "vault"),
            ("DB_USER", "app"),
            ("TOKEN_TYPE", "Bearer"),
            ("SECRET_ROTATION", "30d"),
            ("API_KEY_HEADER", "X-Api-Key"),
            ("CLIENT_SECRET_REF", "my-secret"),
            ("KMS_KEY_ID", "alias/app"),
            ("DB_SECRET_ID", "prod/db"),
        ] {
            assert_eq!(d(k, v), None, "{k}={v}");
        }
    }

    #[test]
    fn secret_named_values_that_are_not_literals() {
        for v in [
            "",
            "   ",
            "\"\"",
            "true",
            "FALSE",
            "yes",
            "no",
            "on",
            "Off",
            "12",
            "3600",
            "99999",
            "/run/secrets/db_password",
            "/run/secrets",
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "/mnt/secrets-store/db",
            "<your-password>",
            "{{ .Values.db.password }}",
        ] {
            assert_eq!(d("DB_PASSWORD", v), None, "{v:?}");
        }
        // Six digits or more may well be a PIN; a run-secrets look-alike is not a mount.
        assert_eq!(d("DB_PASSWORD", "123456"), Some(SecretKind::SecretName));
        assert_eq!(
            d("DB_PASSWORD", "/run/secretsX"),
            Some(SecretKind::SecretName)
        );
        assert_eq!(d("DB_PASSWORD", "<"), Some(SecretKind::SecretName));
    }

    #[test]
    fn allow_names_disable_only_the_name_check() {
        let cfg = DetectorConfig {
            allow_names: vec!["postgres_host_auth_method".into(), "LEGACY_TOKEN".into()],
            ..DetectorConfig::default()
        };
        assert_eq!(detect("POSTGRES_HOST_AUTH_METHOD", "trust", &cfg), None);
        assert_eq!(detect("legacy_token", "abc", &cfg), None);
        assert_eq!(
            detect("LEGACY_TOKEN", AWS_ID, &cfg),
            Some(SecretKind::AwsAccessKeyId)
        );
        assert_eq!(
            detect("LEGACY_TOKEN", RANDOM, &cfg),
            Some(SecretKind::HighEntropy)
        );
    }

    #[test]
    fn extra_name_patterns_match_whole_token_runs() {
        let cfg = DetectorConfig {
            extra_name_patterns: vec!["PIN".into(), "LICENSE_BLOB".into(), String::new()],
            ..DetectorConfig::default()
        };
        assert_eq!(
            detect("ATM_PIN", "1234x", &cfg),
            Some(SecretKind::SecretName)
        );
        assert_eq!(
            detect("atmPin", "1234x", &cfg),
            Some(SecretKind::SecretName)
        );
        assert_eq!(
            detect("APP_LICENSE_BLOB", "abc", &cfg),
            Some(SecretKind::SecretName)
        );
        assert_eq!(detect("SPINNER", "abc", &cfg), None);
        assert_eq!(detect("LICENSE", "abc", &cfg), None);
        assert_eq!(detect("BLOB_LICENSE", "abc", &cfg), None);
        assert_eq!(detect("ATM_PIN_FILE", "abc", &cfg), None);
        assert_eq!(detect("NOTHING", "abc", &cfg), None);
    }

    #[test]
    fn tokenizer_splits_camel_case_and_separators() {
        let t: Vec<&str> = Tokens::new("myAPIKey_v2.s3Bucket--x").collect();
        assert_eq!(t, ["my", "API", "Key", "v2", "s3", "Bucket", "x"]);
        assert_eq!(Tokens::new("__").count(), 0);
        let t: Vec<&str> = Tokens::new("päss_wörd").collect();
        assert_eq!(t, ["päss", "wörd"]);
    }

    // ----- ordinary configuration ----------------------------------------------------

    #[test]
    fn ordinary_configuration_is_quiet() {
        for (k, v) in [
            ("DB_HOST", "postgres"),
            ("LOG_LEVEL", "debug"),
            ("NODE_ENV", "production"),
            ("AWS_REGION", "eu-west-1"),
            ("JWT_ALGORITHM", "RS256"),
            ("GIT_COMMIT", "3f786850e387550fdab836ed7e6dc881de23001b"),
            ("GIT_SHA", "3f78685"),
            ("REQUEST_ID", "123e4567-e89b-12d3-a456-426614174000"),
            ("INSTANCE_UUID", "123E4567-E89B-12D3-A456-426614174000"),
            (
                "IMAGE",
                "nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
            ),
            (
                "BASE_DIGEST",
                "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
            ),
            (
                "CHECKSUM",
                "0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
            ),
            ("MD5", "9e107d9d372bb6826bd81d3542a419d6"),
            ("PYTHONPATH", "/opt/app/lib/site2packages/extra9modules/xyz"),
            (
                "HOME_URL",
                "https://example.com/a/b/c/d/e/f/g/h/i/j/k/l/m/n",
            ),
            ("SERVICE", "my-service-production-eu-west-1-cluster-2024"),
            ("FLAG", "FEATURE_FLAG_NEW_CHECKOUT_V2_ENABLED_2024"),
            ("VERSION", "1.2.3-alpha.4+build.5678.abcdef1234567890"),
            ("HOSTNAME", "ip-10-0-1-23.eu-west-1.compute.internal"),
            ("SENTRY_DSN", "https://abc123@o123.ingest.sentry.io/456"),
            ("JAVA_OPTS", "-Xmx512m -Dspring.profiles.active=prod"),
            ("REDIS_URL", "redis://redis:6379/0"),
            ("PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----"),
            ("CERT", "-----BEGIN CERTIFICATE-----"),
            ("PWD", "/app"),
            ("EMPTY", ""),
        ] {
            assert_eq!(d(k, v), None, "{k}={v}");
        }
    }

    // ----- by value ------------------------------------------------------------------

    #[test]
    fn aws_access_key_id() {
        assert_eq!(
            d("AWS_ACCESS_KEY_ID", AWS_ID),
            Some(SecretKind::AwsAccessKeyId)
        );
        assert_eq!(d("WHATEVER", AWS_ID), Some(SecretKind::AwsAccessKeyId));
        assert_eq!(
            d("CREDS", "id=ASIAY34FZKBOKMUTVV7A region=eu"),
            Some(SecretKind::AwsAccessKeyId)
        );
        // Inside a longer run, wrong alphabet, wrong prefix, too short.
        assert_eq!(d("X", "XAKIAIOSFODNN7EXAMPLE"), None);
        assert_eq!(d("X", "AKIAIOSFODNN7EXAMPLEX"), None);
        assert_eq!(d("X", "AKIAIOSFODNN8EXAMPLE"), None);
        assert_eq!(d("X", "AKIAiosfodnn7example"), None);
        assert_eq!(d("X", "AXYZIOSFODNN7EXAMPLE"), None);
        assert_eq!(d("X", "AKIAIOSFODNN7EXAMPL"), None);
    }

    #[test]
    fn aws_secret_access_key() {
        assert_eq!(
            d("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
            Some(SecretKind::AwsSecretAccessKey)
        );
        assert_eq!(
            d("aws_secret_access_key", AWS_SECRET),
            Some(SecretKind::AwsSecretAccessKey)
        );
        // The name still makes it a secret, just a less specific one.
        assert_eq!(d("S3_SECRET_KEY", AWS_SECRET), Some(SecretKind::SecretName));
        assert_eq!(
            d("AWS_SECRET_ACCESS_KEY", "short"),
            Some(SecretKind::SecretName)
        );
        // An indirection name does not vouch for a value that is itself random.
        assert_eq!(
            d("AWS_SECRET_ACCESS_KEY_FILE", AWS_SECRET),
            Some(SecretKind::HighEntropy)
        );
        assert_eq!(
            d(
                "AWS_SECRET_ACCESS_KEY",
                "/run/secrets/aws/secretaccesskeyforprod1"
            ),
            None
        );
    }

    #[test]
    fn azure_connection_string() {
        assert_eq!(
            d("AZURE_STORAGE_CONNECTION_STRING", AZURE_CONN),
            Some(SecretKind::AzureStorageConnectionString)
        );
        assert_eq!(
            d("STORAGE", AZURE_CONN),
            Some(SecretKind::AzureStorageConnectionString)
        );
        assert_eq!(
            d(
                "BUS",
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG="
            ),
            Some(SecretKind::AzureStorageConnectionString)
        );
        assert_eq!(
            d("CONN", "accountkey=abcdefghijklmnopqrstuvwxyz0123"),
            Some(SecretKind::AzureStorageConnectionString)
        );
        assert_eq!(d("STORAGE", "AccountName=x;AccountKey=${KEY}"), None);
        assert_eq!(d("STORAGE", "AccountName=x;AccountKey=short"), None);
        assert_eq!(
            d("STORAGE", "MyAccountKey=abcdefghijklmnopqrstuvwxyz0123"),
            None
        );
        assert_eq!(
            d("BUS", "SharedAccessKeyName=RootManageSharedAccessKey"),
            None
        );
    }

    #[test]
    fn azure_sas_token() {
        assert_eq!(d("BLOB_SAS_URL", SAS), Some(SecretKind::AzureSasToken));
        let url = format!("https://acct.blob.core.windows.net/c{SAS}");
        assert_eq!(d("BACKUP_TARGET", &url), Some(SecretKind::AzureSasToken));
        assert_eq!(d("X", "sv=2022-11-02&sig=ab"), None, "signature too short");
        assert_eq!(
            d("X", "sig=abcDEF123ghiJKL456mnoPQR&x=1"),
            None,
            "no service version"
        );
        assert_eq!(d("X", "csv=1&mysig=abcDEF123ghiJKL456mnoPQR"), None);
    }

    #[test]
    fn pem_private_key() {
        for label in ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "DSA "] {
            let v = format!("-----BEGIN {label}PRIVATE KEY-----\\nMIIEow...\\n");
            assert_eq!(d("TLS_KEY", &v), Some(SecretKind::PrivateKeyPem), "{label}");
        }
        assert_eq!(
            d("SIGNING_KEY", "-----BEGIN RSA PRIVATE KEY-----"),
            Some(SecretKind::PrivateKeyPem)
        );
        assert_eq!(
            d("GPG", "-----BEGIN PGP PRIVATE KEY BLOCK-----"),
            Some(SecretKind::PrivateKeyPem)
        );
        assert_eq!(d("X", "-----BEGIN RSA PUBLIC KEY-----"), None);
        assert_eq!(d("X", "-----BEGIN RSA PRIVATE KEY"), None);
        assert_eq!(d("X", "-----BEGIN private key-----"), None);
    }

    #[test]
    fn url_with_password() {
        assert_eq!(
            d("DATABASE_URL", "postgres://app:s3cret@db:5432/app"),
            Some(SecretKind::UrlWithPassword)
        );
        assert_eq!(
            d("CACHE", "redis://:hunter2@redis:6379/0"),
            Some(SecretKind::UrlWithPassword)
        );
        assert_eq!(
            d("BROKERS", "amqp://a:b@h1,amqp://guest:guest@h2"),
            Some(SecretKind::UrlWithPassword)
        );
        assert_eq!(
            d("MONGO", "mongodb+srv://u:p@ss@cluster0.mongodb.net/db"),
            Some(SecretKind::UrlWithPassword)
        );
        assert_eq!(
            d("MASKED", "https://u:****@h"),
            Some(SecretKind::UrlWithPassword)
        );
        for v in [
            "postgres://app@db:5432/app",
            "postgres://app:@db/app",
            "https://example.com/path?a=b:c@d",
            "https://example.com:8443/x",
            "://u:p@h",
            "1http://u:p@h",
            "postgres://app:${DB_PASSWORD}@db/app",
            "postgres://app:${DB_PASSWORD:-x}@db/app",
        ] {
            assert_eq!(d("SOME_URL", v), None, "{v}");
        }
    }

    #[test]
    fn github_token() {
        assert_eq!(d("CI_AUTH", GH), Some(SecretKind::GithubToken));
        for p in ["gho_", "ghu_", "ghs_", "ghr_"] {
            let v = format!("{p}aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789");
            assert_eq!(d("X", &v), Some(SecretKind::GithubToken), "{p}");
        }
        assert_eq!(
            d(
                "X",
                "github_pat_11ABCDEFG0123456789abc_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"
            ),
            Some(SecretKind::GithubToken)
        );
        assert_eq!(d("X", "ghp_short"), None);
        assert_ne!(
            d("X", "ghx_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
            Some(SecretKind::GithubToken)
        );
        assert_eq!(
            d("X", "xghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
            Some(SecretKind::HighEntropy)
        );
    }

    #[test]
    fn slack_token() {
        assert_eq!(d("NOTIFY", SLACK), Some(SecretKind::SlackToken));
        for p in ["xoxp-", "xoxa-", "xoxr-", "xoxs-"] {
            let v = format!("{p}1234567890-abcdef");
            assert_eq!(d("X", &v), Some(SecretKind::SlackToken), "{p}");
        }
        assert_eq!(d("X", "xoxb-abcdefghijklmnop"), None, "no digits");
        assert_eq!(d("X", "xoxz-1234567890-abcdef"), None);
        assert_eq!(d("X", "xoxb-123"), None);
    }

    #[test]
    fn jwt() {
        assert_eq!(d("BEARER", JWT), Some(SecretKind::Jwt));
        assert_eq!(
            d("AUTH_HEADER_VALUE", &format!("Bearer {JWT}")),
            Some(SecretKind::Jwt)
        );
        assert_eq!(
            d("X", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."),
            None,
            "unsigned"
        );
        assert_eq!(d("X", "eyJhbGciOiJIUzI1NiJ9.notajwtpayload.sig"), None);
        assert_eq!(d("X", "eyJa.eyJb.c"), None, "too short");
        assert_eq!(
            d(
                "X",
                "xeyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc"
            ),
            None
        );
    }

    #[test]
    fn high_entropy() {
        assert_eq!(d("SOME_VALUE", RANDOM), Some(SecretKind::HighEntropy));
        assert_eq!(
            d("X", "q8Zr3/Vx+Lm9Tn2Kp7Wb5Yc1Hd4Jf6Gs0Ae=="),
            Some(SecretKind::HighEntropy)
        );
        assert_eq!(
            d("X", "q8Zr3_Vx-Lm9Tn2Kp7Wb5Yc1Hd4Jf6Gs0Aeu"),
            Some(SecretKind::HighEntropy)
        );
        assert_eq!(
            d(
                "APP_KEY",
                "base64:Zx8Q2mN7vR4tY1pK9sL3wB6hJ0cF5gDa1234567890a="
            ),
            Some(SecretKind::HighEntropy)
        );
        // Hex of a non-digest length uses the lower threshold.
        assert_eq!(
            d("X", "4f9a1c7e2b8d3f6a0e5c9b1d7a2f8e4c6b0d3a9f5e1c7b2d"),
            Some(SecretKind::HighEntropy)
        );
        // Under a secret name, the name is the better explanation.
        assert_eq!(d("API_TOKEN", RANDOM), Some(SecretKind::SecretName));
        for v in [
            "Zx8Q2mN7vR4tY1pK9sL3wB6hJ0cF5gD",       // too short
            "ZxQmNvRtYpKsLwBhJcFgDaZxQmNvRtYpKsLw",  // no digit
            "12345678901234567890123456789012345",   // no letter
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",  // low entropy
            "Zx8Q2mN7vR4tY1pK9sL3wB6hJ0cF5gDa Zx8Q", // whitespace
            "Zx8Q2mN7vR4tY1pK9s=L3wB6hJ0cF5gDaXy",   // inner '='
            "Zx8Q2mN7vR4tY1pK9sL3wB6hJ0cF5gDa===",   // too much padding
            "/srv/Zx8Q2mN7vR4tY1pK9sL3wB6hJ0cF5gDa", // path
            "./Zx8Q2mN7vR4tY1pK9sL3wB6hJ0cF5gDa",    // relative path
        ] {
            assert_eq!(d("SOME_VALUE", v), None, "{v}");
        }
        let cfg = DetectorConfig {
            entropy_min_len: 40,
            ..DetectorConfig::default()
        };
        assert_eq!(detect("X", RANDOM, &cfg), None);
        let cfg = DetectorConfig {
            entropy_threshold: 5.5,
            ..DetectorConfig::default()
        };
        assert_eq!(detect("X", RANDOM, &cfg), None);
    }

    #[test]
    fn entropy_helpers() {
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(shannon_entropy(b"aaaa").abs() < 1e-9);
        assert!(is_uuid(b"123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid(b"123e4567-e89b-12d3-a456-42661417400g"));
        assert!(is_word_list("my-service-eu-west-1"));
        assert!(is_word_list("Python3_Django4"));
        assert!(!is_word_list("Zx8Q2mN7vR4t"));
    }

    #[test]
    fn most_specific_kind_wins() {
        // A by-value match beats the name.
        assert_eq!(d("DB_PASSWORD", JWT), Some(SecretKind::Jwt));
        assert_eq!(d("API_KEY", GH), Some(SecretKind::GithubToken));
        assert_eq!(
            d("DATABASE_PASSWORD", "postgres://app:s3cret@db/app"),
            Some(SecretKind::UrlWithPassword)
        );
        // A value pattern still fires next to a reference.
        assert_eq!(
            d("CREDS", &format!("{AWS_ID}:${{SECRET}}")),
            Some(SecretKind::AwsAccessKeyId)
        );
    }

    #[test]
    fn unquote_strips_one_layer() {
        assert_eq!(unquote("  \"abc\" "), "abc");
        assert_eq!(unquote("'abc'"), "abc");
        assert_eq!(unquote("\"abc'"), "\"abc'");
        assert_eq!(unquote("\""), "\"");
        assert_eq!(unquote("\"\""), "");
    }

    #[test]
    fn describe_is_a_noun_phrase() {
        assert_eq!(
            SecretKind::AwsAccessKeyId.describe(),
            "an AWS access key id"
        );
        for k in [
            SecretKind::SecretName,
            SecretKind::AwsAccessKeyId,
            SecretKind::AwsSecretAccessKey,
            SecretKind::AzureStorageConnectionString,
            SecretKind::AzureSasToken,
            SecretKind::PrivateKeyPem,
            SecretKind::UrlWithPassword,
            SecretKind::GithubToken,
            SecretKind::SlackToken,
            SecretKind::Jwt,
            SecretKind::HighEntropy,
        ] {
            let s = k.describe();
            assert!(s.starts_with("a ") || s.starts_with("an "), "{s}");
        }
    }

    #[test]
    fn odd_input_does_not_panic() {
        for v in [
            "$",
            "${",
            "$(",
            "://",
            "@",
            "-----BEGIN ",
            "eyJ.",
            "eyJ.eyJ.",
            "ghp_",
            "xoxb-",
            "sig=",
            "é€😀",
            "\u{0}",
        ] {
            let _ = d("K", v);
            let _ = d(v, v);
            let _ = is_reference(v);
        }
    }
}
