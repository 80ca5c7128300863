//! The tenant's Alertmanager configuration: receivers (Kupe's types: Slack, Microsoft Teams,
//! PagerDuty, email, webhook), the route tree below Kupe's root route, and the `global` section;
//! and the assembled configuration, rendered as Alertmanager YAML.
//!
//! The wire shape is Alertmanager's own (snake_case keys, as Kupe's Terraform provider sends
//! them). Each part is parsed once into its typed shape (`deny_unknown_fields`, every value
//! checked, the field at fault named by its JSON path) and kept as the canonical JSON of that
//! shape (absent fields dropped).
//!
//! **Secrets.** Credential-bearing values ([`SECRET_FIELDS`]: webhook URLs, keys, passwords) are
//! stored as sent and never returned: every answer carries [`SECRET_SENTINEL`] in their place,
//! as Kupe's API does. A PUT may send the sentinel back where a value is already stored (the
//! same field of the same config, by index): the stored value is kept. A sentinel with nothing
//! stored at its place is 400.

use super::{member::Email, Invalid};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{Map, Value};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

/// What every answer shows instead of a credential (Kupe's `alertmanager.SecretSentinel`).
pub const SECRET_SENTINEL: &str = "<secret>";

/// Keys whose string values are credentials: masked in every answer, kept on a PUT that sends
/// the sentinel back. (`url` is a webhook's URL, which usually carries a token; PagerDuty's API
/// `url` is masked too, harmlessly.)
pub const SECRET_FIELDS: &[&str] = &[
    "api_url",
    "webhook_url",
    "url",
    "routing_key",
    "service_key",
    "auth_password",
    "auth_secret",
    "slack_api_url",
    "smtp_auth_password",
    "smtp_auth_secret",
];

/// The root route's receiver, defined in every assembled configuration with no integration
/// (alerts no child route takes are dropped). Reserved: no tenant receiver may take the name.
pub const DEFAULT_RECEIVER: &str = "kupe-default";

/// Kupe's documented root-route defaults.
pub const ROOT_GROUP_BY: &str = "alertname";
/// Root `group_wait`.
pub const ROOT_GROUP_WAIT: &str = "30s";
/// Root `group_interval`.
pub const ROOT_GROUP_INTERVAL: &str = "5m";
/// Root `repeat_interval`.
pub const ROOT_REPEAT_INTERVAL: &str = "4h";

/// Deepest nesting of child routes below the root (an item of `items` is at depth 1).
pub const MAX_ROUTE_DEPTH: usize = 8;
/// Most routes in the whole tree.
pub const MAX_ROUTES: usize = 500;
/// Largest receiver body, serialized.
pub const MAX_RECEIVER_BYTES: usize = 16 * 1024;
/// Largest `global` body, serialized.
pub const MAX_GLOBAL_BYTES: usize = 16 * 1024;
/// Most integrations (configs of all types) in one receiver.
pub const MAX_CONFIGS: usize = 32;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

// ---------------------------------------------------------------------------------------------
// Names

/// A receiver's name: 1–63 letters, digits, `-`, `_` or `.`, starting with a letter or digit.
/// [`DEFAULT_RECEIVER`] is one (a GET or DELETE of it is 404: it is not the tenant's), but no
/// PUT may take it ([`ReceiverName::parse_new`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiverName(String);

impl ReceiverName {
    /// Parses a receiver name.
    ///
    /// # Errors
    /// A message saying which rule the name breaks.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        let first_ok = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if raw.is_empty() || raw.len() > 63 || !first_ok || !raw.chars().all(ok_char) {
            return Err(
                "receiver name must be 1-63 letters, digits, '-', '_' or '.', \
                        starting with a letter or digit"
                    .into(),
            );
        }
        Ok(Self(raw.to_string()))
    }

    /// Parses the name of a receiver to write: [`ReceiverName::parse`], and not
    /// [`DEFAULT_RECEIVER`].
    ///
    /// # Errors
    /// A message saying which rule the name breaks.
    pub fn parse_new(raw: &str) -> Result<Self, String> {
        let name = Self::parse(raw)?;
        if raw == DEFAULT_RECEIVER {
            return Err(format!(
                "receiver name {DEFAULT_RECEIVER} is reserved for the root route"
            ));
        }
        Ok(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by every part

/// Collects the first problem found, with its JSON path.
type Check = Result<(), Invalid>;

fn bad(field: &str, message: impl Into<String>) -> Invalid {
    Invalid::at(field, format!("{field}: {}", message.into()))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn is_sentinel(v: &str) -> bool {
    v == SECRET_SENTINEL
}

/// Hosts a notification may not be sent to (SSRF): loopback, private, link-local, unspecified
/// and multicast addresses, `localhost` and `*.localhost`, the cloud metadata name.
fn forbidden_host(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") || lower == "metadata.google.internal"
    {
        return true;
    }
    let bare = lower.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_multicast()
                || ip.is_broadcast()
                || ip.octets()[0] == 0
                // carrier-grade NAT, 100.64.0.0/10
                || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
        }
        Ok(IpAddr::V6(ip)) => {
            let seg = ip.segments();
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some()
        }
        Err(_) => false,
    }
}

/// A URL a notification is sent to: `https://` (or `http://` where `plain_http`), a host that is
/// not internal, an optional numeric port, no credentials in it, at most [`MAX_URL_LEN`].
fn check_url(field: &str, url: &str, plain_http: bool) -> Check {
    if url.len() > MAX_URL_LEN {
        return Err(bad(
            field,
            format!("URL must be at most {MAX_URL_LEN} bytes"),
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(field, "URL must not contain whitespace"));
    }
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://").filter(|_| plain_http) {
        r
    } else if plain_http {
        return Err(bad(field, "URL must start with https:// or http://"));
    } else {
        return Err(bad(field, "URL must start with https://"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad(field, "URL must not carry credentials before the host"));
    }
    let (host, port) = if authority.starts_with('[') {
        match authority.split_once(']') {
            Some((h, p)) => (&authority[..=h.len()], p.strip_prefix(':')),
            None => return Err(bad(field, "URL has a malformed host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad(field, "URL must name a host"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad(field, "URL port must be 1-65535"));
        }
    }
    if forbidden_host(host) {
        return Err(bad(
            field,
            "URL must not point at a loopback, private or link-local address",
        ));
    }
    Ok(())
}

/// `host:port` of an SMTP server.
fn check_smarthost(field: &str, v: &str) -> Check {
    let ok = v.rsplit_once(':').is_some_and(|(h, p)| {
        !h.is_empty()
            && !h.chars().any(|c| c.is_whitespace() || c.is_control())
            && p.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if !ok {
        return Err(bad(field, "must be host:port"));
    }
    Ok(())
}

fn check_email(field: &str, v: &str) -> Check {
    Email::parse(v)
        .map(|_| ())
        .map_err(|e| bad(field, e.to_string()))
}

/// A comma-separated list of addresses (Alertmanager's `to`).
fn check_email_list(field: &str, v: &str) -> Check {
    if v.trim().is_empty() {
        return Err(bad(field, "at least one address is required"));
    }
    v.split(',').try_for_each(|a| check_email(field, a))
}

fn check_not_blank(field: &str, v: &str) -> Check {
    if v.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    Ok(())
}

/// A Prometheus duration (`30s`, `1h30m`, `0`): units y, w, d, h, m, s, ms in that order, each
/// at most once. Returns milliseconds.
///
/// # Errors
/// A message for a malformed duration.
pub fn parse_duration(v: &str) -> Result<u64, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let err = || format!("{v:?} is not a duration (like 30s, 5m, 1h30m)");
    if v == "0" {
        return Ok(0);
    }
    if v.is_empty() {
        return Err(err());
    }
    let mut rest = v;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let at = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(err)?;
        total = total
            .checked_add(n.checked_mul(UNITS[next_unit + at].1).ok_or_else(err)?)
            .ok_or_else(err)?;
        next_unit += at + 1;
    }
    Ok(total)
}

fn check_duration(field: &str, v: &str, positive: bool) -> Check {
    let ms = parse_duration(v).map_err(|m| bad(field, m))?;
    if positive && ms == 0 {
        return Err(bad(field, "must be greater than zero"));
    }
    Ok(())
}

/// A Prometheus label name.
fn is_label_name(v: &str) -> bool {
    let mut chars = v.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_label_name(field: &str, v: &str) -> Check {
    if !is_label_name(v) {
        return Err(bad(
            field,
            format!("{v:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
        ));
    }
    Ok(())
}

/// A regular expression as Alertmanager (Go's RE2, anchored) reads it; RE2 and Rust's regex
/// syntax agree on what is well formed for everything but backreferences and look-around,
/// which both refuse. Of Unicode, both know general categories, scripts and case folding;
/// regex-syntax is built without the Age, binary and segmentation properties RE2 does not have
/// (shared/Cargo.toml), so those are refused here as Alertmanager refuses them.
fn check_regex(field: &str, v: &str) -> Check {
    regex_syntax::Parser::new()
        .parse(v)
        .map(|_| ())
        .map_err(|e| {
            let first = e.to_string();
            let why = first.lines().last().unwrap_or("invalid").trim().to_string();
            bad(
                field,
                format!("{v:?} is not a valid regular expression: {why}"),
            )
        })
}

/// One matcher, `label op value` with op `=`, `!=`, `=~` or `!~` and the value bare or in double
/// quotes (with `\"`, `\\` and `\n` escapes). Regex values must compile.
fn check_matcher(field: &str, m: &str) -> Check {
    let m = m.trim();
    let name_len = m
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(m.len(), |(i, _)| i);
    let (name, rest) = m.split_at(name_len);
    if !is_label_name(name) {
        return Err(bad(
            field,
            format!("{m:?} is not a matcher (label=\"value\", with =, !=, =~ or !~)"),
        ));
    }
    let rest = rest.trim_start();
    let (op, value) = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v.trim())))
        .ok_or_else(|| bad(field, format!("{m:?} has no operator (=, !=, =~ or !~)")))?;
    let value = if let Some(inner) = value.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| bad(field, format!("{m:?} has an unterminated quoted value")))?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    _ => return Err(bad(field, format!("{m:?} has an invalid escape"))),
                },
                '"' => return Err(bad(field, format!("{m:?} has an unescaped quote"))),
                c => out.push(c),
            }
        }
        out
    } else {
        if value.contains('"') {
            return Err(bad(field, format!("{m:?} has a stray quote")));
        }
        value.to_string()
    };
    if op.ends_with('~') {
        check_regex(field, &value)?;
    }
    Ok(())
}

/// Strips `null`s from objects, recursively: the canonical form keeps only present fields.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let path = if path == "." { String::new() } else { path };
        if let Some(rest) = inner.strip_prefix("missing field ") {
            let field = join(&path, rest.trim_matches('`'));
            return Invalid::at(field.clone(), format!("{field} is required"));
        }
        if inner.starts_with("unknown field ") {
            return Invalid::at(path.clone(), format!("unknown field {path}"));
        }
        let field = if path.is_empty() {
            "body".to_string()
        } else {
            path
        };
        let why = inner
            .split_once(", expected ")
            .map_or(inner.clone(), |(_, e)| format!("must be {e}"));
        Invalid::at(field.clone(), format!("{field}: {why}"))
    })
}

fn canonical<T: Serialize>(t: &T) -> Value {
    strip_nulls(serde_json::to_value(t).unwrap_or(Value::Null))
}

fn check_size(field: &str, v: &Value, max: usize) -> Check {
    if v.to_string().len() > max {
        return Err(Invalid::at(
            field,
            format!("{field} must be at most {max} bytes serialized"),
        ));
    }
    Ok(())
}

/// A secret field: the sentinel is kept for [`unmask`] to resolve, anything else is checked.
fn secret(field: &str, v: &str, check: impl Fn(&str, &str) -> Check) -> Check {
    if is_sentinel(v) {
        return Ok(());
    }
    check(field, v)
}

// ---------------------------------------------------------------------------------------------
// Receivers

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SlackConfig {
    send_resolved: Option<bool>,
    api_url: String,
    channel: Option<String>,
    username: Option<String>,
    color: Option<String>,
    title: Option<String>,
    title_link: Option<String>,
    pretext: Option<String>,
    text: Option<String>,
    footer: Option<String>,
    fallback: Option<String>,
    icon_emoji: Option<String>,
    icon_url: Option<String>,
    link_names: Option<bool>,
    short_fields: Option<bool>,
    callback_id: Option<String>,
    mrkdwn_in: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TeamsConfig {
    send_resolved: Option<bool>,
    webhook_url: String,
    title: Option<String>,
    summary: Option<String>,
    text: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PagerDutyConfig {
    send_resolved: Option<bool>,
    routing_key: Option<String>,
    service_key: Option<String>,
    url: Option<String>,
    client: Option<String>,
    client_url: Option<String>,
    description: Option<String>,
    severity: Option<String>,
    class: Option<String>,
    component: Option<String>,
    group: Option<String>,
    details: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct EmailConfig {
    send_resolved: Option<bool>,
    to: String,
    from: Option<String>,
    smarthost: Option<String>,
    hello: Option<String>,
    auth_username: Option<String>,
    auth_password: Option<String>,
    auth_secret: Option<String>,
    auth_identity: Option<String>,
    require_tls: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
    html: Option<String>,
    text: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct WebhookConfig {
    send_resolved: Option<bool>,
    url: String,
    max_alerts: Option<u32>,
}

/// A receiver body as sent: Alertmanager's receiver without its name, which the path gives (a
/// `name` in the body is ignored, as Kupe's API does).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ReceiverWire {
    #[serde(default, skip_serializing)]
    #[allow(dead_code)]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    slack_configs: Vec<SlackConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    msteams_configs: Vec<TeamsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pagerduty_configs: Vec<PagerDutyConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    email_configs: Vec<EmailConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    webhook_configs: Vec<WebhookConfig>,
}

impl SlackConfig {
    fn check(&self, at: &str) -> Check {
        secret(&join(at, "api_url"), &self.api_url, |f, v| {
            check_url(f, v, false)
        })?;
        if let Some(u) = &self.icon_url {
            check_url(&join(at, "icon_url"), u, false)?;
        }
        if let Some(c) = &self.channel {
            check_not_blank(&join(at, "channel"), c)?;
        }
        Ok(())
    }
}

impl TeamsConfig {
    fn check(&self, at: &str) -> Check {
        secret(&join(at, "webhook_url"), &self.webhook_url, |f, v| {
            check_url(f, v, false)
        })
    }
}

impl PagerDutyConfig {
    fn check(&self, at: &str) -> Check {
        match (&self.routing_key, &self.service_key) {
            (Some(k), None) => secret(&join(at, "routing_key"), k, check_not_blank)?,
            (None, Some(k)) => secret(&join(at, "service_key"), k, check_not_blank)?,
            _ => {
                return Err(bad(
                    at,
                    "exactly one of routing_key (Events API v2) or service_key is required",
                ))
            }
        }
        if let Some(u) = &self.url {
            secret(&join(at, "url"), u, |f, v| check_url(f, v, false))?;
        }
        if let Some(u) = &self.client_url {
            check_url(&join(at, "client_url"), u, false)?;
        }
        if let Some(s) = &self.severity {
            if !matches!(s.as_str(), "critical" | "error" | "warning" | "info") && !s.contains("{{")
            {
                return Err(bad(
                    &join(at, "severity"),
                    "must be critical, error, warning, info or a template",
                ));
            }
        }
        Ok(())
    }
}

impl EmailConfig {
    fn check(&self, at: &str) -> Check {
        check_email_list(&join(at, "to"), &self.to)?;
        if let Some(f) = &self.from {
            check_email(&join(at, "from"), f)?;
        }
        if let Some(h) = &self.smarthost {
            check_smarthost(&join(at, "smarthost"), h)?;
        }
        for (k, _) in self.headers.iter().flatten() {
            check_not_blank(&join(at, "headers"), k)?;
        }
        Ok(())
    }
}

impl WebhookConfig {
    fn check(&self, at: &str) -> Check {
        secret(&join(at, "url"), &self.url, |f, v| check_url(f, v, true))
    }
}

impl ReceiverWire {
    fn check(&self) -> Check {
        let count = self.slack_configs.len()
            + self.msteams_configs.len()
            + self.pagerduty_configs.len()
            + self.email_configs.len()
            + self.webhook_configs.len();
        if count > MAX_CONFIGS {
            return Err(Invalid::at(
                "body",
                format!("a receiver holds at most {MAX_CONFIGS} configs"),
            ));
        }
        let at = |kind: &str, i: usize| format!("{kind}[{i}]");
        for (i, c) in self.slack_configs.iter().enumerate() {
            c.check(&at("slack_configs", i))?;
        }
        for (i, c) in self.msteams_configs.iter().enumerate() {
            c.check(&at("msteams_configs", i))?;
        }
        for (i, c) in self.pagerduty_configs.iter().enumerate() {
            c.check(&at("pagerduty_configs", i))?;
        }
        for (i, c) in self.email_configs.iter().enumerate() {
            c.check(&at("email_configs", i))?;
        }
        for (i, c) in self.webhook_configs.iter().enumerate() {
            c.check(&at("webhook_configs", i))?;
        }
        Ok(())
    }
}

/// A validated receiver body (without its name), in canonical JSON; may still hold
/// [`SECRET_SENTINEL`]s until [`unmask`]ed against what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverSpec(pub Value);

impl ReceiverSpec {
    /// Parses and validates a receiver body.
    ///
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        check_size("body", &body, MAX_RECEIVER_BYTES)?;
        let wire: ReceiverWire = decode(body)?;
        wire.check()?;
        Ok(Self(canonical(&wire)))
    }
}

// ---------------------------------------------------------------------------------------------
// Global

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct GlobalWire {
    resolve_timeout: Option<String>,
    smtp_from: Option<String>,
    smtp_smarthost: Option<String>,
    smtp_hello: Option<String>,
    smtp_auth_username: Option<String>,
    smtp_auth_password: Option<String>,
    smtp_auth_identity: Option<String>,
    smtp_auth_secret: Option<String>,
    smtp_require_tls: Option<bool>,
    slack_api_url: Option<String>,
    pagerduty_url: Option<String>,
}

/// A validated `global` section, canonical JSON (may hold sentinels until unmasked).
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSpec(pub Value);

impl GlobalSpec {
    /// Parses and validates a `global` body.
    ///
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        check_size("body", &body, MAX_GLOBAL_BYTES)?;
        let g: GlobalWire = decode(body)?;
        if let Some(d) = &g.resolve_timeout {
            check_duration("resolve_timeout", d, true)?;
        }
        if let Some(f) = &g.smtp_from {
            check_email("smtp_from", f)?;
        }
        if let Some(h) = &g.smtp_smarthost {
            check_smarthost("smtp_smarthost", h)?;
        }
        if let Some(u) = &g.slack_api_url {
            secret("slack_api_url", u, |f, v| check_url(f, v, false))?;
        }
        if let Some(u) = &g.pagerduty_url {
            check_url("pagerduty_url", u, false)?;
        }
        Ok(Self(canonical(&g)))
    }

    /// No global settings.
    pub fn empty() -> Self {
        Self(Value::Object(Map::new()))
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RouteWire {
    receiver: Option<String>,
    group_by: Option<Vec<String>>,
    #[serde(rename = "continue")]
    continue_: Option<bool>,
    matchers: Option<Vec<String>>,
    #[serde(rename = "match")]
    match_: Option<BTreeMap<String, String>>,
    match_re: Option<BTreeMap<String, String>>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    mute_time_intervals: Option<Vec<String>>,
    active_time_intervals: Option<Vec<String>>,
    routes: Option<Vec<RouteWire>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RoutesWire {
    items: Vec<RouteWire>,
}

impl RouteWire {
    fn check(
        &self,
        at: &str,
        depth: usize,
        count: &mut usize,
        receivers: &mut BTreeSet<String>,
    ) -> Check {
        *count += 1;
        if *count > MAX_ROUTES {
            return Err(Invalid::at(
                at,
                format!("the route tree holds at most {MAX_ROUTES} routes"),
            ));
        }
        if depth > MAX_ROUTE_DEPTH {
            return Err(Invalid::at(
                at,
                format!("routes nest at most {MAX_ROUTE_DEPTH} levels deep"),
            ));
        }
        if let Some(r) = &self.receiver {
            let field = join(at, "receiver");
            if r != DEFAULT_RECEIVER {
                ReceiverName::parse(r).map_err(|m| bad(&field, m))?;
                receivers.insert(r.clone());
            }
        }
        if let Some(g) = &self.group_by {
            let field = join(at, "group_by");
            if g.iter().any(|l| l == "...") {
                if g.len() != 1 {
                    return Err(bad(&field, "\"...\" must be the only label when used"));
                }
            } else {
                for (i, l) in g.iter().enumerate() {
                    check_label_name(&format!("{field}[{i}]"), l)?;
                }
            }
        }
        for (i, m) in self.matchers.iter().flatten().enumerate() {
            check_matcher(&format!("{}[{i}]", join(at, "matchers")), m)?;
        }
        for (k, _) in self.match_.iter().flatten() {
            check_label_name(&join(&join(at, "match"), k), k)?;
        }
        for (k, v) in self.match_re.iter().flatten() {
            let field = join(&join(at, "match_re"), k);
            check_label_name(&field, k)?;
            check_regex(&field, v)?;
        }
        if let Some(d) = &self.group_wait {
            check_duration(&join(at, "group_wait"), d, false)?;
        }
        if let Some(d) = &self.group_interval {
            check_duration(&join(at, "group_interval"), d, true)?;
        }
        if let Some(d) = &self.repeat_interval {
            check_duration(&join(at, "repeat_interval"), d, true)?;
        }
        for key in ["mute_time_intervals", "active_time_intervals"] {
            let list = if key == "mute_time_intervals" {
                &self.mute_time_intervals
            } else {
                &self.active_time_intervals
            };
            if list.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(bad(
                    &join(at, key),
                    "no time intervals are defined for this tenant (the API does not manage \
                     time_intervals yet), so a route cannot name one",
                ));
            }
        }
        for (i, child) in self.routes.iter().flatten().enumerate() {
            child.check(
                &format!("{}[{i}]", join(at, "routes")),
                depth + 1,
                count,
                receivers,
            )?;
        }
        Ok(())
    }
}

/// A validated route list (the children of Kupe's root route), canonical JSON, with the
/// receivers it names.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutesSpec {
    /// The list, `[...]`.
    pub items: Value,
    /// Every receiver a route names ([`DEFAULT_RECEIVER`] aside).
    pub receivers: BTreeSet<String>,
}

impl RoutesSpec {
    /// Parses and validates `{items: [...]}`.
    ///
    /// # Errors
    /// [`Invalid`] naming the field at fault (`items[0].routes[1].matchers[0]`).
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let wire: RoutesWire = decode(body)?;
        let mut count = 0;
        let mut receivers = BTreeSet::new();
        for (i, r) in wire.items.iter().enumerate() {
            r.check(&format!("items[{i}]"), 1, &mut count, &mut receivers)?;
        }
        let items = canonical(&wire.items);
        Ok(Self { items, receivers })
    }

    /// The receivers a stored route list names.
    pub fn receivers_of(items: &Value) -> BTreeSet<String> {
        fn walk(v: &Value, out: &mut BTreeSet<String>) {
            for r in v.as_array().into_iter().flatten() {
                if let Some(name) = r.get("receiver").and_then(Value::as_str) {
                    if name != DEFAULT_RECEIVER {
                        out.insert(name.to_string());
                    }
                }
                if let Some(children) = r.get("routes") {
                    walk(children, out);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(items, &mut out);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// `value` with every credential replaced by [`SECRET_SENTINEL`].
pub fn mask(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let masked = match v {
                        Value::String(_) if SECRET_FIELDS.contains(&k.as_str()) => {
                            Value::String(SECRET_SENTINEL.into())
                        }
                        other => mask(other),
                    };
                    (k.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        other => other.clone(),
    }
}

/// Replaces each [`SECRET_SENTINEL`] in a secret field of `next` with the value stored at the
/// same place in `stored`.
///
/// # Errors
/// [`Invalid`] naming the field when nothing is stored there.
pub fn unmask(next: &mut Value, stored: Option<&Value>, path: &str) -> Check {
    match next {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let at = join(path, k);
                let before = stored.and_then(|s| s.get(k));
                if SECRET_FIELDS.contains(&k.as_str()) && v.as_str().is_some_and(is_sentinel) {
                    match before.and_then(Value::as_str).filter(|s| !is_sentinel(s)) {
                        Some(real) => *v = Value::String(real.to_string()),
                        None => {
                            return Err(Invalid::at(
                                at.clone(),
                                format!(
                                    "{at}: {SECRET_SENTINEL} keeps a stored value, \
                                     and none is stored here: send the value"
                                ),
                            ))
                        }
                    }
                } else {
                    unmask(v, before, &at)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                let before = stored.and_then(|s| s.get(i));
                unmask(v, before, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The assembled configuration

/// The whole configuration as Alertmanager loads it: `global`, Kupe's root route (with
/// [`DEFAULT_RECEIVER`] and Kupe's grouping defaults) over the tenant's routes, and the
/// receivers (the default one first, then the tenant's by name).
pub fn assemble(global: &Value, receivers: &[(String, Value)], routes: &Value) -> Value {
    let mut route = Map::new();
    route.insert("receiver".into(), DEFAULT_RECEIVER.into());
    route.insert("group_by".into(), Value::Array(vec![ROOT_GROUP_BY.into()]));
    route.insert("group_wait".into(), ROOT_GROUP_WAIT.into());
    route.insert("group_interval".into(), ROOT_GROUP_INTERVAL.into());
    route.insert("repeat_interval".into(), ROOT_REPEAT_INTERVAL.into());
    if routes.as_array().is_some_and(|r| !r.is_empty()) {
        route.insert("routes".into(), routes.clone());
    }
    let mut list = vec![serde_json::json!({ "name": DEFAULT_RECEIVER })];
    for (name, body) in receivers {
        let mut r = Map::new();
        r.insert("name".into(), Value::String(name.clone()));
        if let Value::Object(fields) = body {
            r.extend(fields.clone());
        }
        list.push(Value::Object(r));
    }
    let mut config = Map::new();
    if global.as_object().is_some_and(|g| !g.is_empty()) {
        config.insert("global".into(), global.clone());
    }
    config.insert("route".into(), Value::Object(route));
    config.insert("receivers".into(), Value::Array(list));
    Value::Object(config)
}

/// The configuration as Alertmanager YAML.
pub fn to_yaml(config: &Value) -> String {
    serde_yaml::to_string(config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(r: Result<impl std::fmt::Debug, Invalid>) -> String {
        r.unwrap_err().field.unwrap_or_default()
    }

    #[test]
    fn durations_follow_prometheus() {
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1d2h"), Ok(93_600_000));
        assert_eq!(parse_duration("500ms"), Ok(500));
        for bad in ["", "5", "m5", "5m1h", "5m5m", "1.5h", "5 m", "-5m", "5M"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matchers_need_a_label_an_operator_and_a_valid_regex() {
        for ok in [
            "severity=\"critical\"",
            "severity = critical",
            "team!=\"a\\\"b\"",
            "service=~\"api|web\"",
            "env!~prod.*",
            "x=\"\"",
        ] {
            assert!(check_matcher("m", ok).is_ok(), "{ok}");
        }
        for bad in [
            "severity",
            "=critical",
            "1abc=x",
            "a==\"x",
            "a=~\"(\"",
            "a=\"unterminated",
            "a=b\"c",
        ] {
            assert!(check_matcher("m", bad).is_err(), "{bad}");
        }
    }

    /// What Go's RE2 (Alertmanager) knows of Unicode is accepted: general categories, scripts,
    /// case folding, `\d \w \s`. Age, binary and segmentation properties, which RE2 refuses, are
    /// refused here too (regex-syntax is built without their tables; shared/Cargo.toml).
    #[test]
    fn regex_matchers_know_the_unicode_classes_re2_knows() {
        // Bare values: a quoted one would read `\p` as an escape of the quoting.
        for ok in [
            r"a=~\pL+",
            r"a=~\p{Lu}\p{Greek}",
            r"a=~(?i)straße",
            r"a=~\w+\d*\s?",
            r"a!~[^\p{Han}]",
        ] {
            assert!(check_matcher("m", ok).is_ok(), "{ok}");
        }
        for bad in [
            r"a=~\p{Alphabetic}",
            r"a=~\p{Age:3.0}",
            r"a=~\p{Grapheme_Cluster_Break=Extend}",
        ] {
            let e = check_matcher("m", bad).unwrap_err();
            assert!(
                e.to_string().contains("not a valid regular expression"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn urls_must_be_https_to_a_public_host() {
        for ok in [
            "https://hooks.slack.com/services/T0/B0/x",
            "https://example.com:8443/x?y=1",
        ] {
            assert!(check_url("u", ok, false).is_ok(), "{ok}");
        }
        assert!(check_url("u", "http://hooks.example.com/x", true).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://x",
            "https://",
            "https://user:pw@example.com/",
            "https://127.0.0.1/x",
            "https://10.0.0.5/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://localhost:9093/x",
            "https://example.com:0/",
            "https://exa mple.com/",
        ] {
            assert!(check_url("u", bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn receivers_are_validated_by_type_naming_the_field() {
        let ok = json!({"name": "ignored", "slack_configs": [{"api_url": "https://hooks.slack.com/x",
            "channel": "#alerts", "send_resolved": true}],
            "email_configs": [{"to": "a@acme.com, b@acme.com", "smarthost": "smtp.acme.com:587"}],
            "pagerduty_configs": [{"routing_key": "abc"}],
            "msteams_configs": [{"webhook_url": "https://acme.webhook.office.com/x"}],
            "webhook_configs": [{"url": "http://hooks.acme.com/alerts", "max_alerts": 5}]});
        let spec = ReceiverSpec::parse(ok).unwrap();
        assert!(spec.0.get("name").is_none(), "the path names the receiver");
        assert!(spec.0["slack_configs"][0].get("username").is_none());
        assert_eq!(ReceiverSpec::parse(json!({})).unwrap().0, json!({}));
        let cases = [
            (json!({"slack_configs": [{}]}), "slack_configs[0].api_url"),
            (
                json!({"slack_configs": [{"api_url": "http://x.com"}]}),
                "slack_configs[0].api_url",
            ),
            (
                json!({"email_configs": [{"to": "nope"}]}),
                "email_configs[0].to",
            ),
            (
                json!({"pagerduty_configs": [{"routing_key": "a", "service_key": "b"}]}),
                "pagerduty_configs[0]",
            ),
            (
                json!({"webhook_configs": [{"url": "https://192.168.1.1/"}]}),
                "webhook_configs[0].url",
            ),
            (json!({"discord_configs": []}), "discord_configs"),
            (
                json!({"msteams_configs": [{"webhook_url": "https://x.com", "extra": 1}]}),
                "msteams_configs[0].extra",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(ReceiverSpec::parse(body.clone())), field, "{body}");
        }
        assert!(ReceiverName::parse_new("kupe-default").is_err());
        assert!(ReceiverName::parse("kupe-default").is_ok());
        assert!(ReceiverName::parse("team.a_b-1").is_ok());
        assert!(ReceiverName::parse("-x").is_err());
        assert!(ReceiverName::parse("a/b").is_err());
    }

    #[test]
    fn routes_are_validated_deeply_and_collect_their_receivers() {
        let body = json!({"items": [{"receiver": "slack", "group_by": ["alertname", "cluster"],
            "matchers": ["severity=\"critical\""], "continue": true,
            "routes": [{"receiver": "pager", "match_re": {"service": "api|web"},
                        "repeat_interval": "1h"}]}]});
        let spec = RoutesSpec::parse(body).unwrap();
        assert_eq!(
            spec.receivers,
            BTreeSet::from(["slack".to_string(), "pager".to_string()])
        );
        assert_eq!(RoutesSpec::receivers_of(&spec.items), spec.receivers);
        let cases = [
            (json!({}), "items"),
            (
                json!({"items": [{"routes": [{"group_wait": "soon"}]}]}),
                "items[0].routes[0].group_wait",
            ),
            (
                json!({"items": [{"repeat_interval": "0"}]}),
                "items[0].repeat_interval",
            ),
            (
                json!({"items": [{"matchers": ["a=~\"[\""]}]}),
                "items[0].matchers[0]",
            ),
            (
                json!({"items": [{"group_by": ["...", "a"]}]}),
                "items[0].group_by",
            ),
            (
                json!({"items": [{"mute_time_intervals": ["weekends"]}]}),
                "items[0].mute_time_intervals",
            ),
            (json!({"items": [{"receivr": "x"}]}), "items[0].receivr"),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(RoutesSpec::parse(body.clone())), field, "{body}");
        }
        let mut deep = json!({"receiver": "a"});
        for _ in 0..MAX_ROUTE_DEPTH {
            deep = json!({"routes": [deep]});
        }
        let refused = RoutesSpec::parse(json!({ "items": [deep] })).unwrap_err();
        assert!(refused.message.contains("nest"), "{refused:?}");
    }

    #[test]
    fn secrets_are_masked_and_a_sentinel_keeps_the_stored_value() {
        let stored = json!({"slack_configs": [{"api_url": "https://hooks.slack.com/real",
                                               "channel": "#a"}]});
        let masked = mask(&stored);
        assert_eq!(masked["slack_configs"][0]["api_url"], SECRET_SENTINEL);
        assert_eq!(masked["slack_configs"][0]["channel"], "#a");
        let mut next = ReceiverSpec::parse(masked.clone()).unwrap().0;
        unmask(&mut next, Some(&stored), "").unwrap();
        assert_eq!(next, stored);
        let mut orphan = masked;
        let refused = unmask(&mut orphan, None, "").unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("slack_configs[0].api_url"));
    }

    #[test]
    fn the_assembled_configuration_is_alertmanager_yaml() {
        let receivers = vec![(
            "slack".to_string(),
            json!({"slack_configs": [{"api_url": "https://hooks.slack.com/x"}]}),
        )];
        let routes = json!([{"receiver": "slack", "matchers": ["severity=\"critical\""]}]);
        let config = assemble(&json!({"resolve_timeout": "5m"}), &receivers, &routes);
        let yaml = to_yaml(&config);
        let back: Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, config);
        assert_eq!(back["route"]["receiver"], DEFAULT_RECEIVER);
        assert_eq!(back["receivers"][1]["name"], "slack");
        assert_eq!(back["route"]["routes"][0]["receiver"], "slack");
    }
}
