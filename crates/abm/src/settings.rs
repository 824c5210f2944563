//! `[modules.abm]`: the operator org, how the PostHog hook authenticates, enrichment, and the
//! rules that turn events into intent signals.

use serde::Deserialize;

/// `hook_auth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookAuth {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks).
    #[default]
    StandardWebhooks,
    /// A header carrying one of the secrets as is (`hook_header`).
    SharedSecret,
}

/// `enrichment`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrichmentKind {
    /// The IP-range data shipped in the binary.
    #[default]
    Offline,
    /// A commercial reverse-IP API (`enrichment_url`, key from the environment).
    Http,
    /// No reverse-IP lookups: identities only.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Slug of the operator organization (internal users are its members); created at first
    /// start when missing.
    #[serde(default = "default_operator")]
    pub operator_org: String,
    #[serde(default)]
    pub hook_auth: HookAuth,
    /// The header of `shared_secret` authentication.
    #[serde(default = "default_header")]
    pub hook_header: String,
    /// Comma-separated secrets (environment only: `CELL__MODULES__ABM__HOOK_SECRETS`); several
    /// during a rotation. Without one, the hook refuses everything.
    #[serde(default)]
    pub hook_secrets: Option<String>,
    /// Salt of the IP hash (environment only); derived from `cell.secret_key` when unset.
    #[serde(default)]
    pub ip_salt: Option<String>,
    #[serde(default)]
    pub enrichment: EnrichmentKind,
    /// `https://api.example.com/v1/{ip}` for `enrichment = "http"`.
    #[serde(default)]
    pub enrichment_url: Option<String>,
    /// The API key of the HTTP provider (environment only).
    #[serde(default)]
    pub enrichment_key: Option<String>,
    /// The header carrying the key (`authorization` by default; `x-api-key`, …).
    #[serde(default)]
    pub enrichment_key_header: Option<String>,
    /// Where the provider's answer holds each field, as JSON pointers:
    /// `{ domain = "/company/domain", org_name = "/company/name", country = "/country",
    /// network_type = "/type", asn = "/asn" }`.
    #[serde(default)]
    pub enrichment_fields: crate::enrich::ResponsePointers,
    /// Most events one delivery may hold.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Score at which a `new` prospect becomes `engaged`.
    #[serde(default = "default_threshold")]
    pub engaged_threshold: i64,
    /// First match wins; events no rule matches are counted, never stored.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn default_operator() -> String {
    "operator".into()
}
fn default_header() -> String {
    "x-posthog-secret".into()
}
fn default_max_batch() -> usize {
    1000
}
fn default_threshold() -> i64 {
    100
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            operator_org: default_operator(),
            hook_auth: HookAuth::default(),
            hook_header: default_header(),
            hook_secrets: None,
            ip_salt: None,
            enrichment: EnrichmentKind::default(),
            enrichment_url: None,
            enrichment_key: None,
            enrichment_key_header: None,
            enrichment_fields: crate::enrich::ResponsePointers::default(),
            max_batch: default_max_batch(),
            engaged_threshold: default_threshold(),
            rules: Vec::new(),
        }
    }
}

pub const SIGNAL_TYPES: [&str; 4] = ["page_view", "content_download", "g2_review", "pricing_view"];
pub const SERVICE_LANES: [&str; 5] = ["Launch", "Mobility", "Fuel", "ISAM", "Return"];

/// Maps an event (and optionally its path) to a signal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The PostHog event name (`$pageview`, `content_download`), or `*`.
    pub event: String,
    /// A path pattern where `*` matches any characters (`/pricing*`); the event's `$pathname`.
    #[serde(default)]
    pub path: Option<String>,
    pub signal_type: String,
    #[serde(default)]
    pub service_lane: Option<String>,
    /// A fixed topic, or…
    #[serde(default)]
    pub topic: Option<String>,
    /// …the event property holding it (`asset_name`); the path otherwise.
    #[serde(default)]
    pub topic_property: Option<String>,
    pub weight: i32,
}

impl Settings {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !tenancy::valid_slug(&self.operator_org) {
            return Err(format!(
                "operator_org `{}` is not a valid slug",
                self.operator_org
            ));
        }
        if !(1..=10_000).contains(&self.max_batch) {
            return Err("max_batch must be from 1 to 10000".into());
        }
        if self.enrichment == EnrichmentKind::Http {
            if self.enrichment_url.is_none() {
                return Err("enrichment = \"http\" needs enrichment_url".into());
            }
            let f = &self.enrichment_fields;
            if f.domain.is_none() && f.org_name.is_none() {
                return Err("enrichment = \"http\" needs enrichment_fields.domain or enrichment_fields.org_name (JSON pointers into the provider's answer)".into());
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            if !SIGNAL_TYPES.contains(&r.signal_type.as_str()) {
                return Err(format!("{at}: signal_type must be one of {SIGNAL_TYPES:?}"));
            }
            if let Some(l) = &r.service_lane
                && !SERVICE_LANES.contains(&l.as_str())
            {
                return Err(format!(
                    "{at}: service_lane must be one of {SERVICE_LANES:?}"
                ));
            }
            if r.event.is_empty() {
                return Err(format!("{at}: event is empty"));
            }
        }
        Ok(())
    }
}

/// What a matched event becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalSpec {
    pub signal_type: String,
    pub service_lane: Option<String>,
    pub topic: Option<String>,
    pub weight: i32,
}

/// The first rule matching `event`, as a signal; `None` for a low-value event.
pub fn classify(rules: &[Rule], event: &crate::posthog::Event) -> Option<SignalSpec> {
    let path = event.pathname.as_deref().unwrap_or("");
    let rule = rules.iter().find(|r| {
        (r.event == "*" || r.event == event.name) && r.path.as_deref().is_none_or(|p| glob(p, path))
    })?;
    let topic = rule
        .topic
        .clone()
        .or_else(|| {
            rule.topic_property
                .as_ref()
                .and_then(|p| event.properties.get(p))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .or_else(|| event.pathname.clone())
        .map(|t| t.chars().take(500).collect());
    Some(SignalSpec {
        signal_type: rule.signal_type.clone(),
        service_lane: rule.service_lane.clone(),
        topic,
        weight: rule.weight,
    })
}

/// `*` matches any run of characters; everything else literally (case-insensitive).
fn glob(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    // Without a `*` there is one part and the pattern must equal the text.
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::{Settings, glob};

    fn settings(v: serde_json::Value) -> Result<Settings, String> {
        let s: Settings = serde_json::from_value(v).map_err(|e| e.to_string())?;
        s.validate().map(|()| s)
    }

    #[test]
    fn the_http_provider_needs_a_url_and_where_its_answer_names_the_company() {
        let url = "https://ip.example.com/v1/{ip}";
        let no_fields = settings(serde_json::json!({"enrichment": "http", "enrichment_url": url}));
        assert!(no_fields.is_err_and(|e| e.contains("enrichment_fields.domain")));
        let no_url = settings(
            serde_json::json!({"enrichment": "http", "enrichment_fields": {"domain": "/domain"}}),
        );
        assert!(no_url.is_err_and(|e| e.contains("enrichment_url")));
        let typo = settings(
            serde_json::json!({"enrichment": "http", "enrichment_url": url, "enrichment_fields": {"domian": "/d"}}),
        );
        assert!(typo.is_err_and(|e| e.contains("unknown field `domian`")));
        let ok = settings(
            serde_json::json!({"enrichment": "http", "enrichment_url": url,
            "enrichment_fields": {"domain": "/company/domain", "network_type": "/type"}}),
        );
        assert!(ok.is_ok_and(|s| s.enrichment_fields.domain.as_deref() == Some("/company/domain")));
    }

    #[test]
    fn globs() {
        assert!(glob("/pricing*", "/pricing"));
        assert!(glob("/pricing*", "/Pricing/enterprise"));
        assert!(!glob("/pricing*", "/blog/pricing"));
        assert!(glob("*/launch/*", "/services/launch/x"));
        assert!(glob("/docs/*.pdf", "/docs/specs.pdf"));
        assert!(!glob("/docs/*.pdf", "/docs/specs.pdfx"));
        assert!(glob("/about", "/about"));
        assert!(!glob("/about", "/about/us"));
        assert!(glob("*", ""));
    }
}
