//! The HTTP provider: a commercial reverse-IP API, configured by URL template, key and JSON
//! pointers into its answer.
//!
//! `GET {url_template with {ip} replaced}` with the key in a configurable header (addresses
//! that are not [public](super::is_public) are answered `None` without a request). A 404 means
//! "no record" (`Ok(None)`); other non-2xx answers, timeouts and bad JSON are errors. The
//! provider's network type is mapped to a [`NetworkKind`] (see [`NetworkKind::from_label`]),
//! but the curated ASN and name lists of [`classify`] still overrule a "company" answer:
//! a residential, mobile or cloud network is never attributed, whatever the provider says.
//!
//! The URL holds the IP, so it is never put into errors, and redirects are not followed (they
//! would carry the key and the IP to another host).

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{
    EnrichError, Enricher, Enrichment, NetworkKind, classify, is_public, normalize_domain,
};

/// Where the answer's fields are, as JSON pointers (RFC 6901, e.g. `/company/domain`). A field
/// without a pointer, or absent from an answer, is unknown.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsePointers {
    /// The company's domain.
    pub domain: Option<String>,
    /// The organization's name.
    pub org_name: Option<String>,
    /// ISO alpha-2 country code.
    pub country: Option<String>,
    /// The network type label (`"business"`, `"isp"`, `"hosting"`, ...).
    pub network_type: Option<String>,
    /// The AS number (`15169` or `"AS15169"`).
    pub asn: Option<String>,
}

/// How to reach the provider.
#[derive(Debug, Clone)]
pub struct HttpEnricherConfig {
    /// `http(s)` URL with `{ip}` where the address goes, e.g.
    /// `https://api.example.com/v1/lookup/{ip}`.
    pub url_template: String,
    /// The API key, if the provider wants one.
    pub api_key: Option<SecretString>,
    /// The header carrying the key verbatim: `x-api-key`, or `authorization` with a key of
    /// `Bearer ...`.
    pub api_key_header: String,
    /// Whole-request timeout; keep it short, enrichment is best effort.
    pub timeout: Duration,
    /// Where the fields are in the answer.
    pub pointers: ResponsePointers,
}

impl HttpEnricherConfig {
    /// A configuration with no key, the `authorization` header, a 3-second timeout and no
    /// pointers.
    pub fn new(url_template: impl Into<String>) -> Self {
        Self {
            url_template: url_template.into(),
            api_key: None,
            api_key_header: "authorization".into(),
            timeout: Duration::from_secs(3),
            pointers: ResponsePointers::default(),
        }
    }
}

/// A reverse-IP API client.
#[derive(Debug, Clone)]
pub struct HttpEnricher {
    client: reqwest::Client,
    url_template: String,
    key: Option<(HeaderName, HeaderValue)>,
    pointers: ResponsePointers,
}

const IP_PLACEHOLDER: &str = "{ip}";

impl HttpEnricher {
    /// Checks the configuration and builds the client.
    pub fn new(config: HttpEnricherConfig) -> Result<Self, EnrichError> {
        let invalid = |reason: &str| EnrichError::Config(reason.to_owned());
        if !config.url_template.contains(IP_PLACEHOLDER) {
            return Err(invalid("the URL template has no `{ip}` placeholder"));
        }
        let example = config.url_template.replace(IP_PLACEHOLDER, "192.0.2.1");
        let scheme_ok = url::Url::parse(&example)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
        if !scheme_ok {
            return Err(invalid("the URL template is not an http(s) URL"));
        }
        let pointers = &config.pointers;
        let all = [
            &pointers.domain,
            &pointers.org_name,
            &pointers.country,
            &pointers.network_type,
            &pointers.asn,
        ];
        if all.iter().any(|p| {
            p.as_deref()
                .is_some_and(|p| !p.is_empty() && !p.starts_with('/'))
        }) {
            return Err(invalid("a JSON pointer must be empty or start with `/`"));
        }
        let key = match &config.api_key {
            None => None,
            Some(key) => {
                let name = HeaderName::from_bytes(config.api_key_header.trim().as_bytes())
                    .map_err(|_| invalid("the API key header name is not a valid header name"))?;
                let mut value = HeaderValue::from_str(key.expose_secret())
                    .map_err(|_| invalid("the API key cannot be sent in a header"))?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| EnrichError::Config(err.without_url().to_string()))?;
        Ok(Self {
            client,
            url_template: config.url_template,
            key,
            pointers: config.pointers,
        })
    }

    fn interpret(&self, answer: &Value) -> Option<Enrichment> {
        let text = |pointer: &Option<String>| {
            answer
                .pointer(pointer.as_deref()?)?
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let asn = self
            .pointers
            .asn
            .as_deref()
            .and_then(|pointer| answer.pointer(pointer))
            .and_then(|value| match value {
                Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                Value::String(s) => {
                    let s = s.trim();
                    let digits = s.strip_prefix("AS").or_else(|| s.strip_prefix("as"));
                    digits.unwrap_or(s).parse().ok()
                }
                _ => None,
            });
        let org_name = text(&self.pointers.org_name);
        let country = text(&self.pointers.country)
            .map(|c| c.to_ascii_uppercase())
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
        let domain = text(&self.pointers.domain).and_then(|d| normalize_domain(&d));
        let label = text(&self.pointers.network_type);
        if asn.is_none()
            && org_name.is_none()
            && country.is_none()
            && domain.is_none()
            && label.is_none()
        {
            return None;
        }

        let heuristic = classify(asn, org_name.as_deref());
        let network = match label.as_deref().map(NetworkKind::from_label) {
            // The provider knows it is not a company.
            Some(kind @ (NetworkKind::Isp | NetworkKind::Mobile | NetworkKind::Cloud)) => kind,
            // The provider says company: unless our lists know better.
            Some(NetworkKind::Company) => match heuristic {
                NetworkKind::Isp | NetworkKind::Mobile | NetworkKind::Cloud => heuristic,
                NetworkKind::Company | NetworkKind::Unknown => NetworkKind::Company,
            },
            // No usable label: what the ASN and name say; a bare domain names a company.
            _ if heuristic == NetworkKind::Unknown && domain.is_some() => NetworkKind::Company,
            _ => heuristic,
        };
        Some(Enrichment {
            asn,
            org_name,
            country,
            domain: domain.filter(|_| network == NetworkKind::Company),
            network,
        })
    }
}

#[async_trait::async_trait]
impl Enricher for HttpEnricher {
    async fn lookup(&self, ip: IpAddr) -> Result<Option<Enrichment>, EnrichError> {
        if !is_public(ip) {
            return Ok(None);
        }
        let url = self
            .url_template
            .replace(IP_PLACEHOLDER, &ip.to_canonical().to_string());
        let mut request = self.client.get(url);
        if let Some((name, value)) = &self.key {
            request = request.header(name.clone(), value.clone());
        }
        let failed = |err: reqwest::Error| {
            if err.is_timeout() {
                EnrichError::Timeout
            } else {
                EnrichError::Request(err.without_url().to_string())
            }
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(EnrichError::Status(status.as_u16()));
        }
        let body = response.bytes().await.map_err(failed)?;
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|err| EnrichError::InvalidResponse(err.to_string()))?;
        Ok(self.interpret(&answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// Answers one request on 127.0.0.1 with `status` and `body` (or never, with `None`) and
    /// hands back the request's head.
    async fn one_shot_server(
        response: Option<(u16, &'static str)>,
    ) -> std::io::Result<(String, JoinHandle<std::io::Result<String>>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await?;
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            match response {
                Some((status, body)) => {
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    stream.write_all(reply.as_bytes()).await?;
                    stream.shutdown().await?;
                }
                None => tokio::time::sleep(Duration::from_secs(5)).await,
            }
            Ok(String::from_utf8_lossy(&head).into_owned())
        });
        Ok((base, task))
    }

    fn config(base: &str) -> HttpEnricherConfig {
        let mut config = HttpEnricherConfig::new(format!("{base}/v1/lookup/{{ip}}?fields=all"));
        config.api_key = Some(SecretString::from("k-123"));
        config.api_key_header = "X-Api-Key".into();
        config.pointers = ResponsePointers {
            domain: Some("/company/domain".into()),
            org_name: Some("/company/name".into()),
            country: Some("/location/country".into()),
            network_type: Some("/company/type".into()),
            asn: Some("/asn/asn".into()),
        };
        config
    }

    #[tokio::test]
    async fn maps_a_company_answer_and_sends_the_key() -> TestResult {
        let (base, server) = one_shot_server(Some((
            200,
            r#"{"asn": {"asn": "AS714"}, "location": {"country": "us"},
                "company": {"name": "Apple Inc.", "domain": "WWW.apple.com", "type": "business"}}"#,
        )))
        .await?;
        let enricher = HttpEnricher::new(config(&base))?;
        let found = enricher.lookup("::ffff:17.253.144.10".parse()?).await?;
        assert_eq!(
            found,
            Some(Enrichment {
                asn: Some(714),
                org_name: Some("Apple Inc.".into()),
                country: Some("US".into()),
                network: NetworkKind::Company,
                domain: Some("apple.com".into()),
            })
        );
        let head = server.await??.to_ascii_lowercase();
        assert!(
            head.starts_with("get /v1/lookup/17.253.144.10?fields=all http/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nx-api-key: k-123\r\n"), "{head}");
        Ok(())
    }

    #[tokio::test]
    async fn non_company_answers_never_carry_a_domain() -> TestResult {
        let (base, _server) = one_shot_server(Some((
            200,
            r#"{"asn": {"asn": 16509}, "company": {"name": "Amazon.com, Inc.", "domain": "amazon.com", "type": "hosting"}}"#,
        )))
        .await?;
        let found = HttpEnricher::new(config(&base))?
            .lookup("3.5.0.1".parse()?)
            .await?;
        let found = found.ok_or("expected an answer")?;
        assert_eq!((found.network, found.domain), (NetworkKind::Cloud, None));
        Ok(())
    }

    #[tokio::test]
    async fn our_lists_overrule_a_company_label() -> TestResult {
        let (base, _server) = one_shot_server(Some((
            200,
            r#"{"asn": {"asn": 7922}, "company": {"name": "Comcast", "domain": "comcast.com", "type": "business"}}"#,
        )))
        .await?;
        let found = HttpEnricher::new(config(&base))?
            .lookup("73.1.2.3".parse()?)
            .await?;
        let found = found.ok_or("expected an answer")?;
        assert_eq!((found.network, found.domain), (NetworkKind::Isp, None));
        Ok(())
    }

    #[tokio::test]
    async fn not_found_is_none_and_empty_answers_are_none() -> TestResult {
        let (base, _server) = one_shot_server(Some((404, r#"{"error": "not found"}"#))).await?;
        assert_eq!(
            HttpEnricher::new(config(&base))?
                .lookup("81.2.69.142".parse()?)
                .await?,
            None
        );
        let (base, _server) = one_shot_server(Some((200, r#"{"company": null}"#))).await?;
        assert_eq!(
            HttpEnricher::new(config(&base))?
                .lookup("81.2.69.142".parse()?)
                .await?,
            None
        );
        Ok(())
    }

    #[tokio::test]
    async fn failures_are_errors_without_the_ip() -> TestResult {
        let (base, _server) = one_shot_server(Some((500, "{}"))).await?;
        let err = HttpEnricher::new(config(&base))?
            .lookup("81.2.69.160".parse()?)
            .await;
        assert!(matches!(err, Err(EnrichError::Status(500))), "{err:?}");

        let (base, _server) = one_shot_server(Some((200, "<html>"))).await?;
        let err = HttpEnricher::new(config(&base))?
            .lookup("81.2.69.160".parse()?)
            .await;
        assert!(
            matches!(err, Err(EnrichError::InvalidResponse(_))),
            "{err:?}"
        );

        let (base, _server) = one_shot_server(None).await?;
        let mut slow = config(&base);
        slow.timeout = Duration::from_millis(200);
        let err = HttpEnricher::new(slow)?
            .lookup("81.2.69.160".parse()?)
            .await;
        assert!(matches!(err, Err(EnrichError::Timeout)), "{err:?}");

        // Nobody listening: a connection error, reported without the URL.
        let closed = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", closed.local_addr()?);
        drop(closed);
        let err = HttpEnricher::new(config(&base))?
            .lookup("81.2.69.160".parse()?)
            .await
            .err()
            .ok_or("expected an error")?;
        assert!(matches!(err, EnrichError::Request(_)), "{err:?}");
        assert!(!err.to_string().contains("81.2.69.160"), "{err}");
        Ok(())
    }

    #[test]
    fn bad_configurations_are_refused() {
        let refused = |config: HttpEnricherConfig| HttpEnricher::new(config).err();
        assert!(refused(HttpEnricherConfig::new("https://api.example.com/lookup")).is_some());
        assert!(refused(HttpEnricherConfig::new("ftp://api.example.com/{ip}")).is_some());
        assert!(refused(HttpEnricherConfig::new("{ip}")).is_some());
        let mut pointer = HttpEnricherConfig::new("https://api.example.com/{ip}");
        pointer.pointers.domain = Some("company.domain".into());
        assert!(refused(pointer).is_some());
        let mut header = HttpEnricherConfig::new("https://api.example.com/{ip}");
        header.api_key = Some(SecretString::from("k"));
        header.api_key_header = "bad header".into();
        assert!(refused(header).is_some());
        assert!(refused(HttpEnricherConfig::new("https://api.example.com/{ip}")).is_none());
    }

    #[test]
    fn labels_map_to_kinds() {
        assert_eq!(NetworkKind::from_label(" Business "), NetworkKind::Company);
        assert_eq!(NetworkKind::from_label("education"), NetworkKind::Company);
        assert_eq!(NetworkKind::from_label("ISP"), NetworkKind::Isp);
        assert_eq!(NetworkKind::from_label("hosting"), NetworkKind::Cloud);
        assert_eq!(NetworkKind::from_label("cellular"), NetworkKind::Mobile);
        assert_eq!(NetworkKind::from_label("satellite"), NetworkKind::Unknown);
    }
}
