//! Caveats (SpiceDB) and conditions (OpenFGA): a named CEL expression over typed parameters,
//! attached to a relationship when it is written (`user:tom[is_valid_ip:{"cidr":"10.0.0.0/8"}]`)
//! and evaluated when a check reaches it, with the relationship's own context first and the
//! request's context for what it leaves out (SpiceDB: "context written overrides specified at
//! check time").
//!
//! An evaluation has three results: true, false, or *missing* — the expression needs parameters
//! neither context gives, and the check answers "conditional" naming them. CEL is evaluated by
//! the `cel` crate; parameter types map onto its values (`timestamp` → a timestamp, `duration` →
//! a duration from Go's `1h30m` form, `ipaddress` → a string checked to be an address, with
//! `in_cidr` as the one extension function the suites use).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use cel::extractors::This;
use serde_json::Value as Json;

/// A request's or a relationship's caveat context: parameter name → JSON value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Context(Arc<serde_json::Map<String, Json>>);

impl Context {
    pub fn new(map: serde_json::Map<String, Json>) -> Self {
        Self(Arc::new(map))
    }

    /// Parses a JSON object (`{"x": 1}`); anything else is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(map)) => Ok(Self::new(map)),
            Ok(_) => Err("a caveat context must be a JSON object".into()),
            Err(e) => Err(format!("a caveat context must be a JSON object: {e}")),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Json> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn map(&self) -> &serde_json::Map<String, Json> {
        &self.0
    }

    /// A stable fingerprint of the context (1 when empty, never 0: the cache keeps answers that
    /// hold for every context under 0).
    pub fn fingerprint(&self) -> u64 {
        if self.is_empty() {
            return 1;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish().max(2)
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // serde_json's map is ordered by key, so the text is canonical.
        f.write_str(&serde_json::to_string(&*self.0).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Hash for Context {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.to_string().hash(state);
    }
}

impl PartialOrd for Context {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Context {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

/// The caveat a relationship was written with: its name and the context it carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaveatRef {
    pub name: String,
    pub context: Context,
}

impl fmt::Display for CaveatRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.context.is_empty() {
            write!(f, "[{}]", self.name)
        } else {
            write!(f, "[{}:{}]", self.name, self.context)
        }
    }
}

/// A parameter's declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    Any,
    Int,
    Uint,
    Double,
    Bool,
    String,
    Bytes,
    Duration,
    Timestamp,
    IpAddress,
    List(Box<ParamType>),
    Map(Box<ParamType>),
}

impl ParamType {
    /// `int`, `list<string>`, `map<any>`, `ipaddress`…
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
            return Some(Self::List(Box::new(Self::parse(inner)?)));
        }
        if let Some(inner) = s.strip_prefix("map<").and_then(|r| r.strip_suffix('>')) {
            return Some(Self::Map(Box::new(Self::parse(inner)?)));
        }
        Some(match s {
            "any" => Self::Any,
            "int" => Self::Int,
            "uint" => Self::Uint,
            "double" => Self::Double,
            "bool" => Self::Bool,
            "string" => Self::String,
            "bytes" => Self::Bytes,
            "duration" => Self::Duration,
            "timestamp" => Self::Timestamp,
            "ipaddress" => Self::IpAddress,
            _ => return None,
        })
    }

    /// The CEL value of a JSON value of this type, or why it is not one.
    fn to_cel(&self, v: &Json) -> Result<cel::Value, String> {
        let wrong = || format!("expected {self}, got {v}");
        Ok(match self {
            Self::Any => any_to_cel(v),
            Self::Int => cel::Value::Int(
                v.as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                    .ok_or_else(wrong)?,
            ),
            Self::Uint => cel::Value::UInt(v.as_u64().ok_or_else(wrong)?),
            Self::Double => cel::Value::Float(v.as_f64().ok_or_else(wrong)?),
            Self::Bool => cel::Value::Bool(v.as_bool().ok_or_else(wrong)?),
            Self::String => cel::Value::String(Arc::new(v.as_str().ok_or_else(wrong)?.to_owned())),
            Self::Bytes => cel::Value::Bytes(Arc::new(v.as_str().ok_or_else(wrong)?.into())),
            Self::Duration => {
                cel::Value::Duration(v.as_str().and_then(parse_go_duration).ok_or_else(wrong)?)
            }
            Self::Timestamp => cel::Value::Timestamp(
                v.as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .ok_or_else(wrong)?,
            ),
            Self::IpAddress => {
                let s = v.as_str().ok_or_else(wrong)?;
                s.parse::<IpAddr>().map_err(|_| wrong())?;
                cel::Value::String(Arc::new(s.to_owned()))
            }
            Self::List(inner) => cel::Value::List(Arc::new(
                v.as_array()
                    .ok_or_else(wrong)?
                    .iter()
                    .map(|x| inner.to_cel(x))
                    .collect::<Result<_, _>>()?,
            )),
            Self::Map(inner) => {
                let mut out = HashMap::new();
                for (k, x) in v.as_object().ok_or_else(wrong)? {
                    out.insert(
                        cel::objects::Key::String(Arc::new(k.clone())),
                        inner.to_cel(x)?,
                    );
                }
                cel::Value::Map(cel::objects::Map { map: Arc::new(out) })
            }
        })
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::List(t) => write!(f, "list<{t}>"),
            Self::Map(t) => write!(f, "map<{t}>"),
            other => f.write_str(match other {
                Self::Any => "any",
                Self::Int => "int",
                Self::Uint => "uint",
                Self::Double => "double",
                Self::Bool => "bool",
                Self::String => "string",
                Self::Bytes => "bytes",
                Self::Duration => "duration",
                Self::Timestamp => "timestamp",
                _ => "ipaddress",
            }),
        }
    }
}

fn any_to_cel(v: &Json) -> cel::Value {
    match v {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => cel::Value::String(Arc::new(s.clone())),
        Json::Array(a) => cel::Value::List(Arc::new(a.iter().map(any_to_cel).collect())),
        Json::Object(o) => cel::Value::Map(cel::objects::Map {
            map: Arc::new(
                o.iter()
                    .map(|(k, x)| {
                        (
                            cel::objects::Key::String(Arc::new(k.clone())),
                            any_to_cel(x),
                        )
                    })
                    .collect(),
            ),
        }),
    }
}

/// Go's duration syntax (`300ms`, `-1.5h`, `2h45m`), as SpiceDB reads durations.
fn parse_go_duration(s: &str) -> Option<chrono::Duration> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += value * scale;
        rest = &rest[unit_len..];
    }
    let d = chrono::Duration::nanoseconds(nanos as i64);
    Some(if negative { -d } else { d })
}

/// `ip.in_cidr("10.0.0.0/8")`: whether the address is in the network.
fn in_cidr(This(ip): This<Arc<String>>, cidr: Arc<String>) -> Result<bool, cel::ExecutionError> {
    let bad = |what: &str| cel::ExecutionError::function_error("in_cidr", what);
    let ip: IpAddr = ip.parse().map_err(|_| bad("not an IP address"))?;
    let net: ipnet::IpNet = cidr
        .parse()
        .or_else(|_| cidr.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| bad("not a CIDR network"))?;
    Ok(net.contains(&ip))
}

/// A caveat (condition): its parameters and compiled expression.
#[derive(Clone)]
pub struct Caveat {
    pub name: String,
    pub params: Vec<(String, ParamType)>,
    /// The CEL source, as written.
    pub source: String,
    program: Arc<cel::Program>,
    /// Parameters the expression refers to (the ones whose absence makes it conditional).
    referenced: BTreeSet<String>,
    /// OpenFGA's rule: a missing parameter the expression refers to makes it conditional even
    /// where the others decide it (SpiceDB evaluates what it can: `true || missing` is true).
    every_parameter: bool,
}

/// What a caveat evaluated to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eval {
    True,
    False,
    /// Not decidable without these parameters.
    Missing(BTreeSet<String>),
}

impl Caveat {
    /// Compiles the expression. A name it uses that is no parameter fails when it is evaluated
    /// (macro variables such as `i` in `xs.all(i, …)` are names too).
    pub fn new(
        name: impl Into<String>,
        params: Vec<(String, ParamType)>,
        source: impl Into<String>,
    ) -> Result<Self, String> {
        let name = name.into();
        let source = source.into();
        let program = cel::Program::compile(source.trim())
            .map_err(|e| format!("caveat `{name}`: invalid expression: {e}"))?;
        // Variables bound by macros (`xs.all(i, …)`) are references too: keep the parameters.
        let refs = program.references();
        let referenced: BTreeSet<String> = refs
            .variables()
            .into_iter()
            .filter(|v| params.iter().any(|(p, _)| p == v))
            .map(str::to_owned)
            .collect();
        let mut seen = BTreeSet::new();
        for (p, _) in &params {
            if !seen.insert(p) {
                return Err(format!(
                    "caveat `{name}`: parameter `{p}` is declared twice"
                ));
            }
        }
        Ok(Self {
            name,
            params,
            source,
            program: Arc::new(program),
            referenced,
            every_parameter: false,
        })
    }

    /// The same caveat under OpenFGA's rule: conditional whenever a parameter it refers to is
    /// missing.
    pub fn needing_every_parameter(mut self) -> Self {
        self.every_parameter = true;
        self
    }

    /// Checks a context written with a relationship: known parameters of the right types.
    pub fn check_context(&self, ctx: &Context) -> Result<(), String> {
        for (k, v) in ctx.map() {
            let Some((_, ty)) = self.params.iter().find(|(p, _)| p == k) else {
                return Err(format!("caveat `{}` has no parameter `{k}`", self.name));
            };
            if !v.is_null() {
                ty.to_cel(v)
                    .map_err(|e| format!("caveat `{}` parameter `{k}`: {e}", self.name))?;
            }
        }
        Ok(())
    }

    /// Evaluates with the relationship's context over the request's.
    pub fn evaluate(&self, written: &Context, request: &Context) -> Result<Eval, String> {
        // The standard environment is built once; a context per evaluation is cheap.
        static STDLIB: std::sync::OnceLock<Arc<cel::Env>> = std::sync::OnceLock::new();
        let env = STDLIB.get_or_init(|| Arc::new(cel::Env::stdlib()));
        let mut ctx = cel::Context::with_env(env.clone());
        ctx.add_function("in_cidr", in_cidr)
            .map_err(|e| format!("caveat `{}`: {e:?}", self.name))?;
        let mut missing = BTreeSet::new();
        for (name, ty) in &self.params {
            match written.get(name).or_else(|| request.get(name)) {
                Some(v) => ctx.add_variable_from_value(
                    name.clone(),
                    ty.to_cel(v)
                        .map_err(|e| format!("caveat `{}` parameter `{name}`: {e}", self.name))?,
                ),
                None if self.referenced.contains(name) => {
                    missing.insert(name.clone());
                }
                None => {}
            }
        }
        if self.every_parameter && !missing.is_empty() {
            return Ok(Eval::Missing(missing));
        }
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(if b { Eval::True } else { Eval::False }),
            _ if !missing.is_empty() => Ok(Eval::Missing(missing)),
            Ok(other) => Err(format!(
                "caveat `{}` evaluated to {other:?}, not a boolean",
                self.name
            )),
            Err(e) => Err(format!("caveat `{}` failed: {e}", self.name)),
        }
    }
}

impl PartialEq for Caveat {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.params == other.params && self.source == other.source
    }
}

impl Eq for Caveat {}

impl fmt::Debug for Caveat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caveat")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("source", &self.source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(j: &str) -> Context {
        Context::parse(j).expect("context")
    }

    #[test]
    fn evaluates_with_written_context_over_the_request() -> Result<(), String> {
        let c = Caveat::new("c", vec![("x".into(), ParamType::Int)], "x == 42")?;
        assert_eq!(
            c.evaluate(&ctx(r#"{"x":42}"#), &ctx(r#"{"x":41}"#))?,
            Eval::True
        );
        assert_eq!(
            c.evaluate(&Context::default(), &ctx(r#"{"x":41}"#))?,
            Eval::False
        );
        assert_eq!(
            c.evaluate(&Context::default(), &Context::default())?,
            Eval::Missing(["x".to_owned()].into())
        );
        assert!(
            c.evaluate(&ctx(r#"{"x":"a"}"#), &Context::default())
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn types_the_suites_use() -> Result<(), String> {
        let ip = Caveat::new(
            "ip",
            vec![
                ("user_ip".into(), ParamType::IpAddress),
                ("cidr".into(), ParamType::String),
            ],
            "user_ip.in_cidr(cidr)",
        )?;
        let cidr = ctx(r#"{"cidr":"10.0.0.0/8"}"#);
        assert_eq!(
            ip.evaluate(&cidr, &ctx(r#"{"user_ip":"10.2.3.4"}"#))?,
            Eval::True
        );
        assert_eq!(
            ip.evaluate(&cidr, &ctx(r#"{"user_ip":"1.2.3.4"}"#))?,
            Eval::False
        );
        let ts = Caveat::new(
            "t",
            vec![
                ("now".into(), ParamType::Timestamp),
                ("ttl".into(), ParamType::Duration),
            ],
            r#"now < timestamp("2024-01-01T00:00:00Z") + ttl"#,
        )?;
        let early = ctx(r#"{"now":"2024-01-01T01:00:00Z","ttl":"1h30m"}"#);
        assert_eq!(ts.evaluate(&early, &Context::default())?, Eval::True);
        let late = ctx(r#"{"now":"2024-01-01T02:00:00Z","ttl":"1h30m"}"#);
        assert_eq!(ts.evaluate(&late, &Context::default())?, Eval::False);
        let list = Caveat::new(
            "l",
            vec![("xs".into(), ParamType::parse("list<int>").ok_or("type")?)],
            "xs.all(i, i >= 42)",
        )?;
        assert_eq!(
            list.evaluate(&ctx(r#"{"xs":[42,43]}"#), &Context::default())?,
            Eval::True
        );
        assert_eq!(
            list.evaluate(&ctx(r#"{"xs":[1]}"#), &Context::default())?,
            Eval::False
        );
        assert!(Caveat::new("bad", vec![], "y ==").is_err());
        assert_eq!(
            parse_go_duration("2h45m"),
            Some(chrono::Duration::minutes(165))
        );
        assert_eq!(
            parse_go_duration("-1.5s"),
            Some(chrono::Duration::milliseconds(-1500))
        );
        assert_eq!(parse_go_duration("5x"), None);
        Ok(())
    }
}
