//! Markdown as readers get it: rendered by pulldown-cmark, then sanitized by ammonia (no
//! scripts, event handlers or `javascript:` links survive, whatever the author wrote), and the
//! mentions written in it.

use uuid::Uuid;

/// Safe HTML of a markdown text. Mentions (`@[Ann](user:<id>)`) render as their name.
pub(crate) fn html(markdown: &str) -> String {
    let text = mentions_as_names(markdown);
    let parser =
        pulldown_cmark::Parser::new_ext(&text, pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let mut raw = String::with_capacity(text.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut raw, parser);
    ammonia::clean(&raw)
}

/// The users a text mentions (`@[Name](user:<uuid>)`), each once, in order.
pub(crate) fn mentioned(text: &str) -> Vec<Uuid> {
    let mut out = Vec::new();
    for (_, id, _) in mentions(text) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// Each mention as (start, user, end) byte offsets of `@[…](user:…)`.
fn mentions(text: &str) -> Vec<(usize, Uuid, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("@[").map(|i| from + i) {
        from = at + 2;
        let Some(close) = text[from..].find("](user:").map(|i| from + i) else {
            break;
        };
        let name = &text[at + 2..close];
        if name.is_empty() || name.contains(['[', ']', '\n']) {
            continue;
        }
        let id_start = close + "](user:".len();
        let Some(end) = text[id_start..].find(')').map(|i| id_start + i) else {
            break;
        };
        if let Ok(id) = Uuid::parse_str(&text[id_start..end]) {
            out.push((at, id, end + 1));
            from = end + 1;
        }
    }
    out
}

/// `@[Ann](user:…)` → `@Ann`, so a mention reads as a name and never as a link.
fn mentions_as_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, _, end) in mentions(text) {
        out.push_str(&text[last..start]);
        let name_end = text[start..end].find("](user:").map_or(end, |i| start + i);
        out.push('@');
        out.push_str(&text[start + 2..name_end]);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_drops_what_is_unsafe() {
        let html = html(
            "**hi** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<strong>hi</strong>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }

    #[test]
    fn mentions_are_found_once_and_read_as_names() {
        let ann = Uuid::now_v7();
        let bob = Uuid::now_v7();
        let text = format!(
            "@[Ann](user:{ann}) and @[Bob](user:{bob}), again @[Ann](user:{ann}); @[x](user:nope) @["
        );
        assert_eq!(mentioned(&text), vec![ann, bob]);
        let html = html(&text);
        assert!(html.contains("@Ann and @Bob"), "{html}");
        assert!(!html.contains("user:"), "{html}");
    }
}
