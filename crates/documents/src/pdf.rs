//! Documents' HTML content read into the blocks `typeset` lays out (paragraphs, headings, list
//! items, quotes; bold, italic, underline, strike and the redline's inserted and deleted runs).
//! The PDF itself is `typeset::document`.

use std::cell::RefCell;
use std::rc::Rc;

use lol_html::html_content::Element;
use lol_html::{
    HandlerResult, LocalHandlerTypes, RewriteStrSettings, doc_text, element, rewrite_str,
};
pub use typeset::{Block, Run};

use crate::content::unescape;

#[derive(Default)]
struct Reader {
    blocks: Vec<Block>,
    current: Option<Block>,
    style: [u32; 6],
}

const BOLD: usize = 0;
const ITALIC: usize = 1;
const UNDERLINE: usize = 2;
const STRIKE: usize = 3;
const INSERTED: usize = 4;
const DELETED: usize = 5;

impl Reader {
    fn flush(&mut self) {
        if let Some(b) = self.current.take()
            && b.runs.iter().any(|r| !r.text.trim().is_empty())
        {
            self.blocks.push(b);
        }
    }

    fn start_block(&mut self, kind: &'static str, level: u8) {
        // A paragraph inside a list item keeps the item's bullet.
        if kind == "p"
            && let Some(b) = &self.current
            && b.runs.is_empty()
        {
            return;
        }
        self.flush();
        self.current = Some(Block {
            kind,
            level,
            runs: Vec::new(),
        });
    }

    fn text(&mut self, raw: &str) {
        let text = unescape(raw).replace(['\n', '\r', '\t'], " ");
        if text.is_empty() {
            return;
        }
        let on = |i: usize| self.style[i] > 0;
        let run = Run {
            text,
            b: on(BOLD),
            i: on(ITALIC),
            u: on(UNDERLINE),
            s: on(STRIKE),
            ins: on(INSERTED),
            del: on(DELETED),
        };
        let block = self.current.get_or_insert_with(|| Block {
            kind: "p",
            level: 0,
            runs: Vec::new(),
        });
        match block.runs.last_mut() {
            Some(last)
                if (last.b, last.i, last.u, last.s, last.ins, last.del)
                    == (run.b, run.i, run.u, run.s, run.ins, run.del) =>
            {
                last.text.push_str(&run.text);
            }
            _ => block.runs.push(run),
        }
    }
}

fn style_of(el: &Element<'_, '_, LocalHandlerTypes>) -> Option<usize> {
    if el.get_attribute("data-inserted").is_some() {
        return Some(INSERTED);
    }
    if el.get_attribute("data-deleted").is_some() {
        return Some(DELETED);
    }
    match el.tag_name().as_str() {
        "strong" | "b" | "th" => Some(BOLD),
        "em" | "i" => Some(ITALIC),
        "u" => Some(UNDERLINE),
        "s" => Some(STRIKE),
        _ => None,
    }
}

fn block_of(tag: &str) -> Option<(&'static str, u8)> {
    Some(match tag {
        "p" | "div" | "section" | "tr" => ("p", 0),
        "h1" => ("h", 1),
        "h2" => ("h", 2),
        "h3" => ("h", 3),
        "h4" => ("h", 4),
        "li" => ("li", 0),
        "blockquote" => ("quote", 0),
        _ => return None,
    })
}

fn open(
    reader: &Rc<RefCell<Reader>>,
    el: &mut Element<'_, '_, LocalHandlerTypes>,
) -> HandlerResult {
    let tag = el.tag_name();
    if tag == "br" {
        reader.borrow_mut().text(" ");
        return Ok(());
    }
    if matches!(tag.as_str(), "td" | "th") {
        let mut r = reader.borrow_mut();
        if r.current.as_ref().is_some_and(|b| !b.runs.is_empty()) {
            r.text(" | ");
        }
    }
    let block = block_of(&tag);
    let style = style_of(el);
    if let Some((kind, level)) = block {
        reader.borrow_mut().start_block(kind, level);
    }
    if let Some(s) = style {
        reader.borrow_mut().style[s] += 1;
    }
    if (block.is_some() || style.is_some())
        && let Some(handlers) = el.end_tag_handlers()
    {
        let reader = reader.clone();
        handlers.push(Box::new(move |_end| {
            let mut r = reader.borrow_mut();
            if let Some(s) = style {
                r.style[s] = r.style[s].saturating_sub(1);
            }
            if block.is_some() {
                r.flush();
            }
            Ok(())
        }));
    }
    Ok(())
}

/// The blocks of sanitized HTML content.
pub fn blocks(html: &str) -> Vec<Block> {
    let reader = Rc::new(RefCell::new(Reader::default()));
    let (on_el, on_text) = (reader.clone(), reader.clone());
    let read = rewrite_str(
        html,
        RewriteStrSettings::new()
            .append_element_content_handler(element!("*", move |el| open(&on_el, el)))
            .append_document_content_handler(doc_text!(move |t| {
                on_text.borrow_mut().text(t.as_str());
                Ok(())
            })),
    );
    let mut r = reader.borrow_mut();
    if read.is_err() {
        // Unparseable markup (sanitized content never is): the text as one paragraph.
        r.blocks.clear();
        r.current = Some(Block::paragraph(html));
    }
    r.flush();
    std::mem::take(&mut r.blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(b: &Block) -> Vec<&str> {
        b.runs.iter().map(|r| r.text.as_str()).collect()
    }

    #[test]
    fn html_reads_into_styled_blocks() {
        let html = "<h2>Terms &amp; conditions</h2><p>Pay <strong>net <em>30</em></strong> now.</p>\
                    <ul><li><p>first</p></li><li>second</li></ul>\
                    <p><span data-deleted=\"true\">$1</span><span data-inserted=\"true\">$2</span></p>\
                    <table><tr><td>a</td><td>b</td></tr></table>";
        let b = blocks(html);
        assert_eq!(b.len(), 6, "{b:?}");
        assert_eq!((b[0].kind, b[0].level), ("h", 2));
        assert_eq!(texts(&b[0]), ["Terms & conditions"]);
        assert_eq!(texts(&b[1]), ["Pay ", "net ", "30", " now."]);
        assert!(b[1].runs[1].b && !b[1].runs[1].i);
        assert!(b[1].runs[2].b && b[1].runs[2].i);
        assert!(!b[1].runs[3].b, "the style ends with its element");
        assert_eq!((b[2].kind, texts(&b[2])), ("li", vec!["first"]));
        assert_eq!((b[3].kind, texts(&b[3])), ("li", vec!["second"]));
        assert!(b[4].runs[0].del && b[4].runs[1].ins);
        assert_eq!(texts(&b[5]), ["a | b"]);
    }
}
