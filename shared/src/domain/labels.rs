//! Labels and annotations in Kubernetes' key/value syntax, and label selectors in Kubernetes'
//! grammar (`GET .../clusters?labelSelector=`).
//!
//! Keys (both): an optional prefix, a DNS subdomain of at most 253 characters followed by `/`,
//! then a name of 1–63 characters matching `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`. Label
//! values: empty, or at most 63 characters of the same grammar as a name. Annotation values:
//! any text. Our own limits, stricter than Kubernetes' (which has no count limit and allows
//! 256 KiB of annotations): at most [`MAX_LABELS`] labels, and annotations of at most
//! [`MAX_ANNOTATIONS_BYTES`] in total (keys plus values), so a cluster item stays well inside
//! DynamoDB's 400 KB item limit next to its alerts and addon configurations. A request body is
//! capped at 64 KiB anyway (`http::edge::MAX_BODY_BYTES`).

use std::collections::BTreeMap;

/// Labels or annotations: key → value, in key order.
pub type KeyValues = BTreeMap<String, String>;

/// Most labels a cluster may carry.
pub const MAX_LABELS: usize = 64;
/// Largest total size of a cluster's annotations (UTF-8 bytes of every key and value).
pub const MAX_ANNOTATIONS_BYTES: usize = 64 * 1024;
/// Longest key prefix (a DNS subdomain).
pub const MAX_PREFIX: usize = 253;
/// Longest key name and label value.
pub const MAX_NAME: usize = 63;

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, 1–63 characters.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(inner)
}

/// A DNS subdomain (RFC 1123): dot-separated lowercase labels, at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= MAX_PREFIX
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// Checks a label or annotation key.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if !is_dns_subdomain(p) {
            return Err(format!(
                "key {key:?}: the prefix must be a DNS subdomain of at most {MAX_PREFIX} \
                 characters (lowercase letters, digits, '-' and '.')"
            ));
        }
    }
    if !is_qualified_name_part(name) {
        return Err(format!(
            "key {key:?}: the name must be 1-{MAX_NAME} characters of letters, digits, '-', '_' \
             and '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or a name of at most 63 characters.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_qualified_name_part(value) {
        return Ok(());
    }
    Err(format!(
        "value {value:?} must be empty or 1-{MAX_NAME} characters of letters, digits, '-', '_' \
         and '.', starting and ending with a letter or digit"
    ))
}

/// Checks a whole label set; the error names the offending field (`labels.<key>`).
///
/// # Errors
/// `(field, message)`.
pub fn check_labels(labels: &KeyValues) -> Result<(), (String, String)> {
    if labels.len() > MAX_LABELS {
        return Err((
            "labels".into(),
            format!("at most {MAX_LABELS} labels are allowed"),
        ));
    }
    for (k, v) in labels {
        check_key(k).map_err(|m| (format!("labels.{k}"), format!("labels: {m}")))?;
        check_label_value(v).map_err(|m| (format!("labels.{k}"), format!("labels.{k}: {m}")))?;
    }
    Ok(())
}

/// Checks a whole annotation set; the error names the offending field.
///
/// # Errors
/// `(field, message)`.
pub fn check_annotations(annotations: &KeyValues) -> Result<(), (String, String)> {
    for k in annotations.keys() {
        check_key(k).map_err(|m| (format!("annotations.{k}"), format!("annotations: {m}")))?;
    }
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_ANNOTATIONS_BYTES {
        return Err((
            "annotations".into(),
            format!("annotations total {total} bytes; at most {MAX_ANNOTATIONS_BYTES} are allowed"),
        ));
    }
    Ok(())
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `k=v`, `k==v`.
    Equals(String, String),
    /// `k!=v`: also true when `k` is absent (as in Kubernetes).
    NotEquals(String, String),
    /// `k in (a,b)`.
    In(String, Vec<String>),
    /// `k notin (a,b)`: also true when `k` is absent.
    NotIn(String, Vec<String>),
    /// `k`.
    Exists(String),
    /// `!k`.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &KeyValues) -> bool {
        let get = |k: &String| labels.get(k);
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v),
            Requirement::NotEquals(k, v) => get(k) != Some(v),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        }
    }
}

/// A parsed label selector: every requirement must hold (comma = AND). The empty selector
/// matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

/// Longest selector text accepted.
pub const MAX_SELECTOR: usize = 4096;

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err("nested parentheses".into()),
            ')' if depth == 1 => depth = 0,
            ')' => return Err("unbalanced ')'".into()),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn key(k: &str) -> Result<String, String> {
    let k = k.trim();
    if k.is_empty() {
        return Err("a requirement has no key".into());
    }
    check_key(k)?;
    Ok(k.to_string())
}

fn value(v: &str) -> Result<String, String> {
    let v = v.trim();
    check_label_value(v)?;
    Ok(v.to_string())
}

/// `(a, b)` → `["a", "b"]`; at least one value.
fn set(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesized value list, not {s:?}"))?;
    let values: Vec<String> = inner.split(',').map(value).collect::<Result<_, _>>()?;
    if values.len() == 1 && values[0].is_empty() && inner.trim().is_empty() {
        return Err("a value list must not be empty".into());
    }
    Ok(values)
}

/// `k in (…)` / `k notin (…)`: the key, the operator word and the list.
fn set_requirement(part: &str) -> Option<Result<Requirement, String>> {
    let open = part.find('(')?;
    let head = part[..open].trim_end();
    let (k, op) = head.rsplit_once(char::is_whitespace)?;
    let list = &part[open..];
    let build = |k: &str| -> Result<(String, Vec<String>), String> { Ok((key(k)?, set(list)?)) };
    match op {
        "in" => Some(build(k).map(|(k, v)| Requirement::In(k, v))),
        "notin" => Some(build(k).map(|(k, v)| Requirement::NotIn(k, v))),
        _ => None,
    }
}

fn requirement(part: &str) -> Result<Requirement, String> {
    let part = part.trim();
    if part.is_empty() {
        return Err("empty requirement (two commas in a row, or a trailing comma)".into());
    }
    if let Some(r) = set_requirement(part) {
        return r;
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key(k)?, value(v)?));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Requirement::Equals(key(k)?, value(v)?));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Requirement::Equals(key(k)?, value(v)?));
    }
    if let Some(k) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key(k)?));
    }
    if part.contains(['(', ')', ' ', '\t']) {
        return Err(format!("cannot parse requirement {part:?}"));
    }
    Ok(Requirement::Exists(key(part)?))
}

impl Selector {
    /// Parses Kubernetes' selector grammar: requirements separated by commas, each `k=v`,
    /// `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` or `!k`. Keys and values follow the
    /// label rules.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(s: &str) -> Result<Selector, String> {
        if s.len() > MAX_SELECTOR {
            return Err(format!("longer than {MAX_SELECTOR} characters"));
        }
        if s.trim().is_empty() {
            return Ok(Selector::default());
        }
        split_top(s)?
            .into_iter()
            .map(requirement)
            .collect::<Result<_, _>>()
            .map(Selector)
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &KeyValues) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> KeyValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn keys_follow_the_kubernetes_grammar() {
        for ok in [
            "app",
            "a",
            "App.Name_1-x",
            "example.com/app",
            "kupe.io/tier",
            &"a".repeat(63),
            &format!("{}/x", ["a".repeat(63).as_str(); 3].join(".")),
        ] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-app",
            "app-",
            "a b",
            "Example.com/app",
            "/app",
            "example.com/",
            "a/b/c",
            "ex_ample.com/app",
            &"a".repeat(64),
            &format!("{}/x", "a".repeat(254)),
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("v1.2_x-y").is_ok());
        assert!(check_label_value(&"v".repeat(64)).is_err());
        assert!(check_label_value("a/b").is_err());
        assert!(check_label_value("_x").is_err());
    }

    #[test]
    fn label_and_annotation_sets_are_capped() {
        let many: KeyValues = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert_eq!(check_labels(&many).unwrap_err().0, "labels");
        let bad = labels(&[("ok", "fine"), ("tier", "not ok")]);
        assert_eq!(check_labels(&bad).unwrap_err().0, "labels.tier");
        let big = labels(&[("note", &"x".repeat(MAX_ANNOTATIONS_BYTES))]);
        assert_eq!(check_annotations(&big).unwrap_err().0, "annotations");
        let free_text = labels(&[("note", "any text: {\"json\": true} / é")]);
        assert!(check_annotations(&free_text).is_ok());
    }

    #[test]
    fn the_selector_grammar_table() {
        let prod = labels(&[("env", "prod"), ("tier", "web"), ("team", "")]);
        let dev = labels(&[("env", "dev")]);
        let none = KeyValues::new();
        // (selector, matches prod, matches dev, matches none)
        for (sel, p, d, n) in [
            ("", true, true, true),
            ("env=prod", true, false, false),
            ("env==prod", true, false, false),
            ("env = prod", true, false, false),
            ("env!=prod", false, true, true),
            ("env in (prod,dev)", true, true, false),
            ("env in ( prod , staging )", true, false, false),
            ("env notin (prod)", false, true, true),
            ("tier", true, false, false),
            ("!tier", false, true, true),
            ("env=prod,tier=web", true, false, false),
            ("env,!tier", false, true, false),
            ("env in (prod),tier notin (db)", true, false, false),
            ("team=", true, false, false),
            ("team in ()", false, false, false),
            ("example.com/app", false, false, false),
            ("!example.com/app", true, true, true),
        ] {
            let s = match Selector::parse(sel) {
                Ok(s) => s,
                Err(e) if sel == "team in ()" => {
                    assert!(e.contains("empty"), "{e}");
                    continue;
                }
                Err(e) => panic!("{sel}: {e}"),
            };
            assert_eq!(
                (s.matches(&prod), s.matches(&dev), s.matches(&none)),
                (p, d, n),
                "{sel}"
            );
        }
        for bad in [
            "env=prod,",
            ",env",
            "env=a b",
            "env in (a",
            "env in a,b)",
            "env in ((a))",
            "env notin",
            "env=prod=x",
            "-env",
            "env!=a/b",
            "env >= 3",
            "!",
            "=x",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(Selector::parse(&"a".repeat(MAX_SELECTOR + 1)).is_err());
    }
}
