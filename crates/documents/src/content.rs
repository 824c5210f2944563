//! A document's content: HTML, sanitized when it arrives (ammonia: structure and emphasis only,
//! no scripts, styles or links that run), whose elements marked `data-field="<name>"` show the
//! field of that name. Fields are written into those elements, and the redline drawn over them,
//! by a streaming rewriter (lol_html) selecting `[data-field]`: nothing here compares texts
//! (DESIGN and the spec: changes are tracked per field, never by a diff).

use std::collections::{BTreeMap, HashMap, HashSet};

use lol_html::html_content::ContentType;
use lol_html::{RewriteStrSettings, element, rewrite_str};
use sha2::Digest;

/// The most content a document holds (bytes of HTML).
pub const MAX_CONTENT: usize = 2 * 1024 * 1024;

/// What survives sanitizing: the structure of a contract, emphasis, tables, and the marks of
/// fields and tracked edits.
pub fn sanitize(raw: &str) -> String {
    let tags: HashSet<&str> = [
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "ul",
        "ol",
        "li",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "s",
        "br",
        "span",
        "div",
        "section",
        "blockquote",
        "table",
        "thead",
        "tbody",
        "tr",
        "td",
        "th",
    ]
    .into_iter()
    .collect();
    let generic: HashSet<&str> = ["data-field", "data-inserted", "data-deleted"]
        .into_iter()
        .collect();
    ammonia::Builder::default()
        .tags(tags)
        .generic_attributes(generic)
        .link_rel(None)
        .clean(raw)
        .to_string()
}

/// The HTML text of a plain value (`&`, `<`, `>`, quotes escaped).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The text of HTML text: the entities sanitized content carries (`&amp;`, `&lt;`, `&gt;`,
/// `&quot;`, `&#39;`, `&nbsp;` and numeric ones) decoded.
pub fn unescape(html: &str) -> String {
    if !html.contains('&') {
        return html.to_owned();
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                .ok()
                .and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// SHA-256 of the content, hex: what a signature covers.
pub fn hash(content: &str) -> String {
    sha2::Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rewrite(html: &str, mut each: impl FnMut(&str) -> Option<String>) -> String {
    let out = rewrite_str(
        html,
        RewriteStrSettings::new().append_element_content_handler(element!("[data-field]", |el| {
            if let Some(name) = el.get_attribute("data-field")
                && let Some(inner) = each(&name)
            {
                el.set_inner_content(&inner, ContentType::Html);
            }
            Ok(())
        })),
    );
    // The rewriter fails only on a memory limit we do not set, or on markup it cannot parse:
    // content is sanitized HTML, so keep it as it is then.
    out.unwrap_or_else(|_| html.to_owned())
}

/// The content with each field's element showing its value.
pub fn with_fields(html: &str, fields: &BTreeMap<String, String>) -> String {
    if fields.is_empty() || !html.contains("data-field") {
        return html.to_owned();
    }
    rewrite(html, |name| fields.get(name).map(|v| escape(v)))
}

/// The names of the fields the content shows.
pub fn field_names(html: &str) -> Vec<String> {
    let mut names = Vec::new();
    if html.contains("data-field") {
        rewrite(html, |name| {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
            None
        });
    }
    names
}

/// A field as the redline shows it: what it was, what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    pub old: String,
    pub new: String,
}

/// Deleted text: grey, struck through (the spec's `HL_DEL_STYLE`).
pub const DELETED_STYLE: &str =
    "background-color: rgba(107, 114, 128, 0.2); color: #6b7280; text-decoration: line-through;";
/// Inserted text: red, bold (the spec's `HL_ADD_STYLE`).
pub const INSERTED_STYLE: &str =
    "background-color: rgba(239, 68, 68, 0.25); color: #dc2626; font-weight: 600;";

/// The redline: each marked field's element shows its old value struck through (when
/// `show_old`) and its new value highlighted; the other elements are left as they are.
pub fn redline(html: &str, marked: &HashMap<String, Marked>, show_old: bool) -> String {
    if marked.is_empty() {
        return html.to_owned();
    }
    rewrite(html, |name| {
        let m = marked.get(name)?;
        let mut out = String::new();
        if show_old && !m.old.is_empty() && m.old != m.new {
            out.push_str(&format!(
                r#"<span data-deleted="true" style="{DELETED_STYLE}">{}</span>"#,
                escape(&m.old)
            ));
        }
        if !m.new.trim().is_empty() {
            out.push_str(&format!(
                r#"<span data-inserted="true" style="{INSERTED_STYLE}">{}</span>"#,
                escape(&m.new)
            ));
        }
        Some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_keeps_structure_and_field_marks_and_drops_what_runs() {
        let raw = r#"<h1 onclick="x()">Terms</h1><p>Pay <span data-field="amount" style="color:red">100</span></p><script>alert(1)</script><a href="javascript:x">l</a><img src=x onerror=y>"#;
        let clean = sanitize(raw);
        assert_eq!(
            clean,
            r#"<h1>Terms</h1><p>Pay <span data-field="amount">100</span></p>l"#
        );
    }

    #[test]
    fn fields_are_written_into_their_elements_escaped() {
        let html = r#"<p>Pay <span data-field="amount">0</span> within <b data-field="days">?</b> days; <i data-field="other">x</i></p>"#;
        let mut fields = BTreeMap::new();
        fields.insert("amount".to_owned(), "$5,000 <net>".to_owned());
        fields.insert("days".to_owned(), "30".to_owned());
        assert_eq!(
            with_fields(html, &fields),
            r#"<p>Pay <span data-field="amount">$5,000 &lt;net&gt;</span> within <b data-field="days">30</b> days; <i data-field="other">x</i></p>"#
        );
        assert_eq!(field_names(html), ["amount", "days", "other"]);
    }

    #[test]
    fn the_redline_marks_changed_fields_only() {
        let html = r#"<p><span data-field="a">new a</span> <span data-field="b">b</span></p>"#;
        let mut marked = HashMap::new();
        marked.insert(
            "a".to_owned(),
            Marked {
                old: "old & a".into(),
                new: "new a".into(),
            },
        );
        let with_old = redline(html, &marked, true);
        assert!(
            with_old.contains(r#"<span data-deleted="true""#),
            "{with_old}"
        );
        assert!(with_old.contains(">old &amp; a</span>"), "{with_old}");
        assert!(with_old.contains(">new a</span></span>"), "{with_old}");
        assert!(with_old.ends_with(r#" <span data-field="b">b</span></p>"#));
        let clean = redline(html, &marked, false);
        assert!(!clean.contains("data-deleted"), "{clean}");
        assert!(clean.contains("data-inserted"));
    }

    #[test]
    fn entities_decode() {
        assert_eq!(
            unescape("a &amp; b &lt;c&gt; &#39;d&#x27; &nbsp;&bogus; &"),
            "a & b <c> 'd' \u{a0}&bogus; &"
        );
        assert_eq!(unescape(&escape("<\"x\" & 'y'>")), "<\"x\" & 'y'>");
    }
}
