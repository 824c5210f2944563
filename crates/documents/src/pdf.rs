//! Documents as PDFs, typeset by typst (through typst-as-lib, with the fonts typst embeds: no
//! system font, no download). The content's HTML is read into blocks of styled text runs
//! (`blocks`), handed to `document.typ` as JSON data, never as markup, so nothing a document
//! says is run as Typst code.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::LazyLock;

use lol_html::html_content::Element;
use lol_html::{
    HandlerResult, LocalHandlerTypes, RewriteStrSettings, doc_text, element, rewrite_str,
};
use serde::Serialize;
use typst::foundations::{Dict, IntoValue};
use typst_as_lib::typst_kit_options::TypstKitFontOptions;
use typst_as_lib::{TypstEngine, TypstTemplateMainFile};
use typst_layout::PagedDocument;

use crate::content::unescape;

/// A run of text in one style.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Run {
    pub text: String,
    pub b: bool,
    pub i: bool,
    pub u: bool,
    pub s: bool,
    /// Inserted by a tracked change (the redline).
    pub ins: bool,
    /// Deleted by a tracked change (the redline, with old values shown).
    pub del: bool,
}

/// A paragraph, heading (`level` 1–4), list item, quote, or a page break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    /// `p`, `h`, `li`, `quote` or `break`.
    pub kind: &'static str,
    pub level: u8,
    pub runs: Vec<Run>,
}

impl Block {
    pub fn paragraph(text: impl Into<String>) -> Self {
        Self {
            kind: "p",
            level: 0,
            runs: vec![Run {
                text: text.into(),
                ..Run::default()
            }],
        }
    }

    pub fn heading(level: u8, text: impl Into<String>) -> Self {
        Self {
            kind: "h",
            level,
            ..Self::paragraph(text)
        }
    }

    pub fn page_break() -> Self {
        Self {
            kind: "break",
            level: 0,
            runs: Vec::new(),
        }
    }
}

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

static ENGINE: LazyLock<TypstEngine<TypstTemplateMainFile>> = LazyLock::new(|| {
    TypstEngine::builder()
        .main_file(include_str!("document.typ"))
        .search_fonts_with(
            TypstKitFontOptions::default()
                .include_system_fonts(false)
                .include_embedded_fonts(true),
        )
        .build()
});

#[derive(Serialize)]
struct Data<'a> {
    title: &'a str,
    subtitle: Option<&'a str>,
    blocks: &'a [Block],
}

/// A typeset document.
#[derive(Debug)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub pages: usize,
}

/// A PDF of `blocks` under `title` (and a `subtitle` line). CPU-bound: call it off the request
/// thread (`tokio::task::spawn_blocking`).
pub fn render(title: &str, subtitle: Option<&str>, blocks: &[Block]) -> anyhow::Result<Rendered> {
    let data = serde_json::to_string(&Data {
        title,
        subtitle,
        blocks,
    })?;
    let mut inputs = Dict::new();
    inputs.insert("data".into(), data.as_str().into_value());
    let doc: PagedDocument = ENGINE
        .compile_with_input(inputs)
        .output
        .map_err(|e| anyhow::anyhow!("typesetting failed: {e}"))?;
    let pdf = typst_pdf::pdf(&doc, &typst_pdf::PdfOptions::default())
        .map_err(|e| anyhow::anyhow!("PDF export failed: {e:?}"))?;
    Ok(Rendered {
        pages: doc.pages().len(),
        pdf,
    })
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

    #[test]
    fn a_document_renders_to_a_pdf_and_markup_in_it_is_text() -> anyhow::Result<()> {
        let b = blocks("<p>#panic(\"no\") and $x$ and <b>bold</b></p>");
        let out = render("Agreement #1 [draft]", Some("rev 2"), &b)?;
        assert!(out.pdf.starts_with(b"%PDF-"), "a PDF");
        assert_eq!(out.pages, 1);
        Ok(())
    }
}
