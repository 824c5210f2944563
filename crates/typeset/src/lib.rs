//! PDFs typeset by typst (through typst-as-lib, with the fonts typst embeds: no system font, no
//! download). What a PDF shows is handed to its layout (`document.typ`, `statement.typ`) as JSON
//! data, never as markup, so nothing a user wrote is run as Typst code.

use std::sync::LazyLock;

use serde::Serialize;
use typst::foundations::{Dict, IntoValue};
use typst_as_lib::typst_kit_options::TypstKitFontOptions;
use typst_as_lib::{TypstEngine, TypstTemplateMainFile};
use typst_layout::PagedDocument;

/// A run of text in one style.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Run {
    pub text: String,
    pub b: bool,
    pub i: bool,
    pub u: bool,
    pub s: bool,
    /// Inserted by a tracked change (a redline).
    pub ins: bool,
    /// Deleted by a tracked change (a redline, with old values shown).
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

/// A business statement (an invoice, a bill, a quote): every value already formatted by the
/// caller (money with its currency's minor unit, dates as the reader expects them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Statement {
    /// `Invoice INV-2026-0001`.
    pub title: String,
    /// A word shown large beside the title (`PAID`, `VOID`, `DRAFT`).
    pub badge: Option<String>,
    /// Label and value pairs under the title (`Issued`, `Due`, `Bill to`).
    pub facts: Vec<(String, String)>,
    /// The table's header; the first column is left-aligned, the others right-aligned.
    pub columns: Vec<String>,
    /// One row per line, as many cells as `columns`.
    pub rows: Vec<Vec<String>>,
    /// Label and amount pairs under the table; the last is shown bold (the amount due).
    pub totals: Vec<(String, String)>,
    /// Heading and text pairs at the end (`Notes`, `Terms`).
    pub notes: Vec<(String, String)>,
}

/// A typeset PDF.
#[derive(Debug)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub pages: usize,
}

fn engine(layout: &'static str) -> TypstEngine<TypstTemplateMainFile> {
    TypstEngine::builder()
        .main_file(layout)
        .search_fonts_with(
            TypstKitFontOptions::default()
                .include_system_fonts(false)
                .include_embedded_fonts(true),
        )
        .build()
}

static DOCUMENT: LazyLock<TypstEngine<TypstTemplateMainFile>> =
    LazyLock::new(|| engine(include_str!("document.typ")));
static STATEMENT: LazyLock<TypstEngine<TypstTemplateMainFile>> =
    LazyLock::new(|| engine(include_str!("statement.typ")));

fn render(
    engine: &TypstEngine<TypstTemplateMainFile>,
    data: &impl Serialize,
) -> anyhow::Result<Rendered> {
    let data = serde_json::to_string(data)?;
    let mut inputs = Dict::new();
    inputs.insert("data".into(), data.as_str().into_value());
    let doc: PagedDocument = engine
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

/// Typesetting takes a core for a while: it runs on the runtime's blocking pool, never on the
/// thread that awaits it.
async fn off_thread(
    work: impl FnOnce() -> anyhow::Result<Rendered> + Send + 'static,
) -> anyhow::Result<Rendered> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| anyhow::anyhow!("the PDF renderer stopped: {e}"))?
}

/// A PDF of `blocks` under `title` (and a `subtitle` line).
pub async fn document(
    title: String,
    subtitle: Option<String>,
    blocks: Vec<Block>,
) -> anyhow::Result<Rendered> {
    #[derive(Serialize)]
    struct Data {
        title: String,
        subtitle: Option<String>,
        blocks: Vec<Block>,
    }
    let data = Data {
        title,
        subtitle,
        blocks,
    };
    off_thread(move || render(&DOCUMENT, &data)).await
}

/// A PDF of a statement. A row with more or fewer cells than `columns` is refused (typst would
/// shift every cell after it).
pub async fn statement(s: Statement) -> anyhow::Result<Rendered> {
    anyhow::ensure!(
        !s.columns.is_empty(),
        "a statement needs at least one column"
    );
    if let Some(i) = s.rows.iter().position(|r| r.len() != s.columns.len()) {
        anyhow::bail!(
            "row {i} has {} cells for {} columns",
            s.rows[i].len(),
            s.columns.len()
        );
    }
    off_thread(move || render(&STATEMENT, &s)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Run {
        Run {
            text: text.into(),
            ..Run::default()
        }
    }

    #[tokio::test]
    async fn a_document_renders_and_markup_in_it_is_text() -> anyhow::Result<()> {
        let blocks = vec![
            Block::heading(2, "Terms"),
            Block {
                kind: "p",
                level: 0,
                runs: vec![
                    run("#panic(\"no\") and $x$ and "),
                    Run {
                        b: true,
                        ..run("bold")
                    },
                ],
            },
            Block::page_break(),
            Block::paragraph("second page"),
        ];
        let out = document("Agreement #1 [draft]".into(), Some("rev 2".into()), blocks).await?;
        assert!(out.pdf.starts_with(b"%PDF-"), "a PDF");
        assert_eq!(out.pages, 2);
        Ok(())
    }

    fn invoice(lines: usize) -> Statement {
        let row = |i: usize| {
            vec![
                format!("Design sprint #{i} [phase *one*] $x$ #panic(\"no\")"),
                "1.5".into(),
                "1,200.00 EUR".into(),
                "1,800.00 EUR".into(),
            ]
        };
        Statement {
            title: "Invoice INV-2026-0001".into(),
            badge: Some("DRAFT".into()),
            facts: vec![
                ("Issued".into(), "2026-12-07".into()),
                ("Bill to".into(), "Ann <ann@acme.test> #let x = 1".into()),
            ],
            columns: ["Description", "Qty", "Unit price", "Amount"]
                .map(String::from)
                .into(),
            rows: (1..=lines).map(row).collect(),
            totals: vec![
                ("Subtotal".into(), "1,800.00 EUR".into()),
                ("Amount due".into(), "1,800.00 EUR".into()),
            ],
            notes: vec![("Terms".into(), "Net 30. _Thank you_ = #1".into())],
        }
    }

    #[tokio::test]
    async fn a_statement_renders_with_user_text_as_text() -> anyhow::Result<()> {
        let out = statement(invoice(3)).await?;
        assert!(out.pdf.starts_with(b"%PDF-"), "a PDF");
        assert_eq!(out.pages, 1);
        assert!(
            statement(invoice(120)).await?.pages > 1,
            "long tables break across pages"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_row_that_does_not_fit_the_columns_is_refused() {
        let mut s = invoice(2);
        s.rows[1].pop();
        let err = statement(s).await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("row 1 has 3 cells for 4 columns"));
    }
}
