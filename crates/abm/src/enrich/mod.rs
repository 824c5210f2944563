//! Reverse-IP enrichment: which organization, country and kind of network an address belongs
//! to, and so, maybe, which company a visitor works for.
//!
//! Providers implement [`Enricher`]: [`OfflineEnricher`] (public IP-to-ASN and IP-to-country
//! data, embedded or loaded from files) and [`HttpEnricher`] (a commercial lookup API). A
//! provider says what the network is; [`attribute`] decides whether that names a company. Only
//! [`NetworkKind::Company`] networks are ever attributed: residential ISPs, mobile carriers
//! and cloud/hosting ranges never are (see [`classify`]).
//!
//! The raw IP is never stored or logged: keep [`ip_hash`] instead, and note that error
//! messages from this module never contain the address.

mod classify;
mod http;
mod offline;
mod ranges;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use classify::classify;
pub use http::{HttpEnricher, HttpEnricherConfig, ResponsePointers};
pub use offline::{OfflineEnricher, OfflineStats};

/// What kind of network an address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// An organization's own network: the only kind that may be attributed.
    Company,
    /// A (mostly residential) internet service provider.
    Isp,
    /// A mobile carrier.
    Mobile,
    /// Cloud, hosting, CDN, VPN or proxy egress.
    Cloud,
    /// Not enough information.
    Unknown,
}

impl NetworkKind {
    /// The snake_case name, as serialized (`"company"`, `"isp"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Isp => "isp",
            Self::Mobile => "mobile",
            Self::Cloud => "cloud",
            Self::Unknown => "unknown",
        }
    }

    /// Maps a provider's network type label (case-insensitive): `business`, `company`,
    /// `corporate`, `enterprise`, `education`, `government` are [`NetworkKind::Company`];
    /// `isp`, `residential`, `broadband` are [`NetworkKind::Isp`]; `mobile`, `cellular`,
    /// `wireless` are [`NetworkKind::Mobile`]; `hosting`, `cloud`, `datacenter`, `cdn`, `vpn`,
    /// `proxy`, `tor`, `relay` are [`NetworkKind::Cloud`]; anything else is unknown.
    pub fn from_label(label: &str) -> Self {
        match label.trim().to_ascii_lowercase().as_str() {
            "business" | "company" | "corporate" | "enterprise" | "education" | "edu"
            | "government" | "gov" => Self::Company,
            "isp" | "residential" | "broadband" => Self::Isp,
            "mobile" | "cellular" | "wireless" => Self::Mobile,
            "hosting" | "cloud" | "datacenter" | "data center" | "data_center" | "cdn" | "vpn"
            | "proxy" | "tor" | "relay" => Self::Cloud,
            _ => Self::Unknown,
        }
    }
}

/// What a provider knows about an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrichment {
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// The organization holding the range (the AS name for the offline data).
    pub org_name: Option<String>,
    /// ISO 3166-1 alpha-2 country code, uppercase.
    pub country: Option<String>,
    /// What kind of network it is.
    pub network: NetworkKind,
    /// The company's domain when the provider knows it; only ever set for
    /// [`NetworkKind::Company`]. The offline provider never sets it (see [`attribute`]).
    pub domain: Option<String>,
}

/// A reverse-IP provider.
#[async_trait::async_trait]
pub trait Enricher: Send + Sync {
    /// What is known about `ip`; `Ok(None)` when nothing is (private ranges, unrouted space,
    /// a provider that has no record).
    async fn lookup(&self, ip: IpAddr) -> Result<Option<Enrichment>, EnrichError>;
}

/// Why a provider could not answer (or could not be set up). Never contains the IP.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// An IP data file could not be read.
    #[error("cannot read IP data {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An IP data file is malformed.
    #[error("invalid IP data in {path}, record {record}: {reason}")]
    Data {
        /// The file.
        path: String,
        /// 1-based record (line) number.
        record: u64,
        /// What is wrong.
        reason: String,
    },
    /// The provider configuration cannot work.
    #[error("invalid enrichment provider configuration: {0}")]
    Config(String),
    /// The provider did not answer in time.
    #[error("the enrichment provider did not answer in time")]
    Timeout,
    /// The request failed (connection, TLS, ...). The URL, which holds the IP, is left out.
    #[error("the enrichment provider request failed: {0}")]
    Request(String),
    /// The provider answered with an error status.
    #[error("the enrichment provider answered HTTP {0}")]
    Status(u16),
    /// The provider's answer is not the expected JSON.
    #[error("the enrichment provider's answer is not JSON: {0}")]
    InvalidResponse(String),
}

/// The company domain a visit from this network may be attributed to, if any.
///
/// Only [`NetworkKind::Company`] networks are attributed. The provider's own `domain` wins;
/// otherwise `domain_for_org` maps the organization name to a domain. That mapping is the
/// operator's (kept in the database and managed through the API); pass a closure over it, e.g.
/// `|org| map.get(&org.to_lowercase()).cloned()`. The result is trimmed and lowercased, without
/// a trailing dot or a leading `www.`; blank results count as none. Finding the prospect company
/// for the domain (`CompanyDomain`) is the caller's next step.
pub fn attribute(
    enrichment: &Enrichment,
    domain_for_org: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if enrichment.network != NetworkKind::Company {
        return None;
    }
    enrichment
        .domain
        .as_deref()
        .and_then(normalize_domain)
        .or_else(|| {
            let org = enrichment.org_name.as_deref()?;
            normalize_domain(&domain_for_org(org)?)
        })
}

/// Lowercase host name out of `example.com`, `WWW.Example.com.` or `https://example.com/x`.
pub(crate) fn normalize_domain(text: &str) -> Option<String> {
    let text = text.trim();
    let host = match url::Url::parse(text) {
        Ok(url) if url.has_host() => url.host_str()?.to_owned(),
        _ => text.to_owned(),
    };
    let host = host.trim_end_matches('.').to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let plausible = host.contains('.')
        && !host.starts_with('.')
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-'));
    plausible.then(|| host.to_owned())
}

/// Addresses are looked up only when public (`kernel::net::is_public`): providers answer
/// `None` for anything else without looking, as the public datasets even carry bogus records
/// for some private ranges.
pub use kernel::net::is_public;

/// The stored stand-in for an IP: lowercase hex SHA-256 of the address's canonical text
/// followed by the salt bytes.
///
/// Canonical text: an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) becomes its IPv4 address,
/// IPv4 is dotted decimal (`1.2.3.4`), IPv6 is RFC 5952 form (lowercase, zeros compressed:
/// `2001:db8::1`), so one address always hashes the same however it was written. Example:
/// `ip_hash(1.2.3.4, b"pepper") = hex(sha256(b"1.2.3.4pepper"))`. Keep the salt secret and
/// per cell: without it the 2³² IPv4 addresses are trivially enumerable.
pub fn ip_hash(ip: IpAddr, salt: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(ip.to_canonical().to_string().as_bytes());
    hasher.update(salt);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn enrichment(network: NetworkKind, org: Option<&str>, domain: Option<&str>) -> Enrichment {
        Enrichment {
            asn: Some(64_500),
            org_name: org.map(str::to_owned),
            country: Some("US".into()),
            network,
            domain: domain.map(str::to_owned),
        }
    }

    #[test]
    fn ip_hash_is_sha256_of_canonical_text_then_salt() -> TestResult {
        // sha256("1.2.3.4pepper"), computed independently (Python hashlib).
        assert_eq!(
            ip_hash("1.2.3.4".parse()?, b"pepper"),
            "712ac23c0601eaca14fcbc55d4b56f2139ec9be0bca908c0176693deb8fb58c3"
        );
        let hash = ip_hash("1.2.3.4".parse()?, b"pepper");
        assert_eq!(hash.len(), 64);
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // One address, several spellings.
        assert_eq!(ip_hash("::ffff:1.2.3.4".parse()?, b"pepper"), hash);
        assert_eq!(
            ip_hash("2001:DB8:0:0::1".parse()?, b"s"),
            ip_hash("2001:db8::1".parse()?, b"s")
        );
        // The salt matters.
        assert_ne!(ip_hash("1.2.3.4".parse()?, b"other"), hash);
        Ok(())
    }

    #[test]
    fn only_globally_routable_addresses_are_public() -> TestResult {
        for ip in [
            "8.8.8.8",
            "73.1.2.3",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "2a01:4f8::1",
        ] {
            assert!(is_public(ip.parse()?), "{ip}");
        }
        let private = [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ];
        for ip in private {
            assert!(!is_public(ip.parse()?), "{ip}");
        }
        Ok(())
    }

    #[test]
    fn only_companies_are_attributed() {
        let map = |org: &str| (org == "Acme Corp").then(|| "Acme.example".to_owned());
        let company = enrichment(NetworkKind::Company, Some("Acme Corp"), None);
        assert_eq!(attribute(&company, map).as_deref(), Some("acme.example"));
        for kind in [
            NetworkKind::Isp,
            NetworkKind::Mobile,
            NetworkKind::Cloud,
            NetworkKind::Unknown,
        ] {
            // Not even when the provider volunteers a domain.
            let other = enrichment(kind, Some("Acme Corp"), Some("acme.example"));
            assert_eq!(attribute(&other, map), None, "{kind:?}");
        }
        // Unmapped organization.
        let unmapped = enrichment(NetworkKind::Company, Some("Globex"), None);
        assert_eq!(attribute(&unmapped, map), None);
    }

    #[test]
    fn the_providers_domain_wins_and_is_normalized() {
        let never = |_: &str| -> Option<String> { None };
        let with = |domain: &str| enrichment(NetworkKind::Company, Some("X"), Some(domain));
        assert_eq!(
            attribute(&with("WWW.Example.COM."), never).as_deref(),
            Some("example.com")
        );
        assert_eq!(
            attribute(&with("https://jpl.nasa.gov/about"), never).as_deref(),
            Some("jpl.nasa.gov")
        );
        assert_eq!(attribute(&with("  "), never), None);
        assert_eq!(attribute(&with("not a domain"), never), None);
        // A blank provider domain falls back to the operator's mapping.
        let mapped = |_: &str| Some("fallback.example".to_owned());
        assert_eq!(
            attribute(&with(""), mapped).as_deref(),
            Some("fallback.example")
        );
    }

    #[test]
    fn network_kinds_serialize_in_snake_case() -> TestResult {
        assert_eq!(serde_json::to_string(&NetworkKind::Isp)?, "\"isp\"");
        assert_eq!(NetworkKind::Company.as_str(), "company");
        Ok(())
    }
}
