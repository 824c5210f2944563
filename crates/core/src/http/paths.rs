//! A cell's own words for its modules' routes (`[http.paths]`): the outreach cell serves crm's
//! persons at `/customers` and their channels at `/customers/{id}/contacts`, where the suite
//! serves `/contacts` and `/contacts/{id}/channels`.
//!
//! Each rule maps a path prefix the cell serves (the alias) onto the prefix the module's handlers
//! are written for, segment by segment, `{name}` standing for any one segment:
//!
//! ```toml
//! [http.paths]
//! "/api/v1/customers/{id}/contacts" = "/api/v1/contacts/{id}/channels"
//! "/api/v1/customers" = "/api/v1/contacts"
//! ```
//!
//! A request under an alias is routed as the module's path (the longest matching alias wins);
//! a request for a renamed path under its module's name answers 404, so each operation has one
//! address; the OpenAPI document names the aliases. Paths the rules do not name (another
//! module's `/{collection}/{id}/notes`) pass unchanged, so `/customers/{id}/notes` reaches
//! collab as `/contacts/{id}/notes`. Logs, metrics, rate-limit groups and the audit log see the
//! path the client sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Var(String),
}

#[derive(Debug)]
struct Rule {
    alias: Vec<Seg>,
    canonical: Vec<Seg>,
}

/// The cell's rules, checked when the configuration is read.
#[derive(Debug, Clone, Default)]
pub struct PathMap(Arc<Vec<Rule>>);

/// What a request's path becomes.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// No rule names it.
    Unchanged,
    /// Served under an alias: the module's path.
    Rewritten(String),
    /// A module's path the cell serves under another name only.
    Hidden,
}

fn parse(path: &str) -> Result<Vec<Seg>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("`{path}` must start with `/`"));
    };
    rest.split('/')
        .map(|s| {
            let var = s.strip_prefix('{').and_then(|v| v.strip_suffix('}'));
            match var {
                Some(v) if !v.is_empty() && !v.contains(['{', '}']) => Ok(Seg::Var(v.to_owned())),
                None if !s.is_empty() && !s.contains(['{', '}']) => Ok(Seg::Lit(s.to_owned())),
                _ => Err(format!(
                    "`{path}`: each segment is a name or `{{name}}`, none empty"
                )),
            }
        })
        .collect()
}

fn vars(segs: &[Seg]) -> Vec<&str> {
    let mut out: Vec<&str> = segs
        .iter()
        .filter_map(|s| match s {
            Seg::Var(v) => Some(v.as_str()),
            Seg::Lit(_) => None,
        })
        .collect();
    out.sort_unstable();
    out
}

/// Binds `pattern` to the start of `segs`: the variables' values, if every literal matches.
fn bind<'a>(pattern: &[Seg], segs: &[&'a str]) -> Option<BTreeMap<String, &'a str>> {
    if pattern.len() > segs.len() {
        return None;
    }
    let mut bound = BTreeMap::new();
    for (p, s) in pattern.iter().zip(segs) {
        match p {
            Seg::Lit(l) if l == s => {}
            Seg::Lit(_) => return None,
            Seg::Var(v) => {
                bound.insert(v.clone(), *s);
            }
        }
    }
    Some(bound)
}

fn fill(pattern: &[Seg], bound: &BTreeMap<String, &str>, rest: &[&str]) -> String {
    let mut out = String::new();
    for p in pattern {
        out.push('/');
        match p {
            Seg::Lit(l) => out.push_str(l),
            Seg::Var(v) => out.push_str(bound.get(v).copied().unwrap_or_default()),
        }
    }
    for s in rest {
        out.push('/');
        out.push_str(s);
    }
    out
}

fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

impl PathMap {
    /// The rules of `[http.paths]` (alias → the module's path), or what is wrong with one.
    pub fn new(rules: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut out = Vec::new();
        for (alias, canonical) in rules {
            let (a, c) = (parse(alias)?, parse(canonical)?);
            if a == c {
                return Err(format!("`{alias}` is mapped onto itself"));
            }
            if matches!(a.first(), Some(Seg::Var(_))) || matches!(c.first(), Some(Seg::Var(_))) {
                return Err(format!(
                    "`{alias}` = `{canonical}`: the first segment must be a name"
                ));
            }
            let (va, vc) = (vars(&a), vars(&c));
            if va != vc || va.windows(2).any(|w| w[0] == w[1]) {
                return Err(format!(
                    "`{alias}` = `{canonical}`: both sides name the same variables, once each"
                ));
            }
            out.push(Rule {
                alias: a,
                canonical: c,
            });
        }
        Ok(Self(Arc::new(out)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rule whose `side` matches the longest start of `segs`.
    fn longest<'r, 's>(
        &'r self,
        segs: &[&'s str],
        side: fn(&Rule) -> &[Seg],
    ) -> Option<(&'r Rule, BTreeMap<String, &'s str>)> {
        self.0
            .iter()
            .filter_map(|r| bind(side(r), segs).map(|b| (r, b)))
            .max_by_key(|(r, _)| side(r).len())
    }

    /// What a request for `path` is routed as.
    pub fn route(&self, path: &str) -> Routed {
        if self.0.is_empty() {
            return Routed::Unchanged;
        }
        let segs = segments(path);
        if let Some((rule, bound)) = self.longest(&segs, |r| &r.alias) {
            let out = fill(&rule.canonical, &bound, &segs[rule.alias.len()..]);
            // `/customers/{id}/channels` would reach channels under a second name through the
            // shorter `/customers` rule; the longer rule owns that module path.
            let owner = self.longest(&segments(&out), |r| &r.canonical);
            return match owner {
                Some((o, _)) if !std::ptr::eq(o, rule) => Routed::Hidden,
                _ => Routed::Rewritten(out),
            };
        }
        match self.longest(&segs, |r| &r.canonical) {
            Some(_) => Routed::Hidden,
            None => Routed::Unchanged,
        }
    }

    /// A path template of the document (`/api/v1/contacts/{id}/channels`) in the cell's words.
    pub fn template(&self, template: &str) -> Option<String> {
        let segs = segments(template);
        let (rule, bound) = self.longest(&segs, |r| &r.canonical)?;
        Some(fill(&rule.alias, &bound, &segs[rule.canonical.len()..]))
    }

    /// Renames the document's paths.
    pub(crate) fn document(&self, doc: &mut serde_json::Value) {
        let Some(paths) = doc
            .get_mut("paths")
            .and_then(serde_json::Value::as_object_mut)
        else {
            return;
        };
        let renamed: Vec<(String, String)> = paths
            .keys()
            .filter_map(|k| self.template(k).map(|t| (k.clone(), t)))
            .collect();
        for (from, to) in renamed {
            if let Some(item) = paths.remove(&from) {
                paths.insert(to, item);
            }
        }
    }
}

/// The path a rewritten request was sent to.
#[derive(Clone)]
struct Sent(String);

/// The path as the client sent it (before a rewrite), for messages that name it.
pub(crate) fn sent_path(req: &actix_web::HttpRequest) -> String {
    req.extensions()
        .get::<Sent>()
        .map_or_else(|| req.path().to_owned(), |s| s.0.clone())
}

/// The middleware: routes a request under an alias as its module's path; 404 for a renamed one.
pub(crate) async fn rewrite(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let routed = match req.app_data::<PathMap>() {
        Some(map) => map.route(req.path()),
        None => Routed::Unchanged,
    };
    match routed {
        Routed::Unchanged => {}
        Routed::Hidden => {
            return Err(ApiError::not_found(format!(
                "no route for {} {}",
                req.method(),
                req.path()
            ))
            .into());
        }
        Routed::Rewritten(path) => {
            req.extensions_mut().insert(Sent(req.path().to_owned()));
            let uri = match req.uri().query() {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            let uri: actix_web::http::Uri = uri.parse().map_err(|_| {
                actix_web::Error::from(ApiError::not_found("no route for this path"))
            })?;
            req.match_info_mut().get_mut().update(&uri);
            req.head_mut().uri = uri;
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outreach() -> PathMap {
        PathMap::new(&BTreeMap::from([
            (
                "/api/v1/customers/{id}/contacts".to_owned(),
                "/api/v1/contacts/{id}/channels".to_owned(),
            ),
            (
                "/api/v1/customers".to_owned(),
                "/api/v1/contacts".to_owned(),
            ),
        ]))
        .unwrap()
    }

    #[test]
    fn aliases_route_to_the_modules_paths_and_the_modules_paths_hide() {
        let m = outreach();
        let r = |p: &str| m.route(p);
        assert_eq!(
            r("/api/v1/customers"),
            Routed::Rewritten("/api/v1/contacts".into())
        );
        assert_eq!(
            r("/api/v1/customers/7/notes"),
            Routed::Rewritten("/api/v1/contacts/7/notes".into())
        );
        assert_eq!(
            r("/api/v1/customers/7/contacts/9"),
            Routed::Rewritten("/api/v1/contacts/7/channels/9".into())
        );
        assert_eq!(r("/api/v1/customers/7/channels"), Routed::Hidden);
        assert_eq!(r("/api/v1/contacts"), Routed::Hidden);
        assert_eq!(r("/api/v1/contacts/7/channels"), Routed::Hidden);
        assert_eq!(r("/api/v1/companies"), Routed::Unchanged);
        assert_eq!(r("/api/v1/customerservice"), Routed::Unchanged);
        assert_eq!(r("/"), Routed::Unchanged);
    }

    #[test]
    fn the_document_names_the_aliases() {
        let m = outreach();
        assert_eq!(
            m.template("/api/v1/contacts/{id}/channels/{channel_id}")
                .as_deref(),
            Some("/api/v1/customers/{id}/contacts/{channel_id}")
        );
        assert_eq!(
            m.template("/api/v1/contacts/{id}/claim").as_deref(),
            Some("/api/v1/customers/{id}/claim")
        );
        assert_eq!(m.template("/api/v1/{collection}/{id}/notes"), None);
    }

    #[test]
    fn bad_rules_are_refused() {
        let bad = |a: &str, c: &str| {
            PathMap::new(&BTreeMap::from([(a.to_owned(), c.to_owned())])).unwrap_err()
        };
        assert!(bad("customers", "/contacts").contains("start with"));
        assert!(bad("/a//b", "/c").contains("none empty"));
        assert!(bad("/a/{id}", "/b").contains("same variables"));
        assert!(bad("/{x}", "/{x}/a").contains("first segment"));
        assert!(bad("/a", "/a").contains("onto itself"));
    }
}
