//! Spreadsheets in and out: a CSV or XLSX file read row by row as text, and the writers of an
//! export (CSV, XLSX in constant memory, JSON), each to a local file that is stored after.

use std::io::Write;
use std::path::Path;

use kernel::records::{Record, cell_text};
use serde_json::Value;

/// The most columns a file may have.
pub(crate) const MAX_COLUMNS: usize = 200;

/// A file format the module reads (`csv`, `xlsx`) or writes (and `json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Xlsx,
    Json,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Json => "json",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "csv" => Some(Self::Csv),
            "xlsx" => Some(Self::Xlsx),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Json => "application/json",
        }
    }

    /// What an uploaded file is, by its name (and the first bytes of an XLSX, a zip).
    pub(crate) fn of_upload(filename: &str, head: &[u8]) -> Option<Self> {
        let lower = filename.to_ascii_lowercase();
        if lower.ends_with(".xlsx") && head.starts_with(b"PK\x03\x04") {
            Some(Self::Xlsx)
        } else if lower.ends_with(".csv") || lower.ends_with(".txt") {
            Some(Self::Csv)
        } else {
            None
        }
    }
}

/// The data rows of a file, as text, with the line each starts on (the header is line 1);
/// rows with no text at all are left out.
pub(crate) type Rows = Box<dyn Iterator<Item = (u64, Result<Vec<String>, String>)> + Send>;

fn blank(row: &Result<Vec<String>, String>) -> bool {
    matches!(row, Ok(cells) if cells.iter().all(|c| c.trim().is_empty()))
}

/// The header row and the data rows of a CSV or XLSX file (its first sheet).
pub(crate) fn open(path: &Path, format: Format) -> Result<(Vec<String>, Rows), String> {
    let (headers, rows): (Vec<String>, Rows) = match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(path)
                .map_err(|e| format!("the file cannot be read: {e}"))?;
            let headers = reader
                .headers()
                .map_err(|e| format!("the header row cannot be read: {e}"))?
                .iter()
                .map(|h| h.trim().to_owned())
                .collect();
            let mut last_line = 1;
            let rows = reader
                .into_records()
                .map(move |r| {
                    let line = match &r {
                        Ok(rec) => rec.position().map_or(last_line + 1, |p| p.line()),
                        Err(e) => e.position().map_or(last_line + 1, |p| p.line()),
                    };
                    last_line = line;
                    let cells = r
                        .map(|rec| rec.iter().map(str::to_owned).collect())
                        .map_err(|e| format!("the row cannot be read: {e}"));
                    (line, cells)
                })
                .filter(|(_, row)| !blank(row));
            (headers, Box::new(rows))
        }
        Format::Xlsx => {
            use calamine::Reader;
            let mut book: calamine::Xlsx<_> = calamine::open_workbook(path)
                .map_err(|e| format!("the workbook cannot be read: {e}"))?;
            let range = book
                .worksheet_range_at(0)
                .ok_or("the workbook has no sheet")?
                .map_err(|e| format!("the first sheet cannot be read: {e}"))?;
            let mut all = range
                .rows()
                .map(|r| r.iter().map(xlsx_text).collect::<Vec<_>>());
            let headers = all
                .next()
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.trim().to_owned())
                .collect();
            let first = u64::from(range.start().map_or(0, |(row, _)| row)) + 2;
            let rows: Vec<(u64, Result<Vec<String>, String>)> = all
                .enumerate()
                .map(|(i, cells)| (first + i as u64, Ok(cells)))
                .filter(|(_, row)| !blank(row))
                .collect();
            (headers, Box::new(rows.into_iter()))
        }
        Format::Json => return Err("JSON files are written, not read".into()),
    };
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err("the file has no header row".into());
    }
    if headers.len() > MAX_COLUMNS {
        return Err(format!("the file has more than {MAX_COLUMNS} columns"));
    }
    Ok((headers, rows))
}

/// A cell of a sheet as text: whole numbers without `.0`, dates as ISO 8601.
fn xlsx_text(cell: &calamine::Data) -> String {
    use calamine::{Data, DataType};
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(_) | Data::DateTimeIso(_) => match cell.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) => t.and_utc().to_rfc3339(),
            None => cell.to_string(),
        },
        other => other.to_string(),
    }
}

/// Writes an export's records to a local file, one at a time.
pub(crate) enum Writer {
    Csv(Box<csv::Writer<std::fs::File>>),
    Json(std::io::BufWriter<std::fs::File>, bool),
    Xlsx(Box<rust_xlsxwriter::Workbook>, u32),
}

impl Writer {
    /// A writer of `columns` (the header) to `path`.
    pub(crate) fn create(path: &Path, format: Format, columns: &[String]) -> anyhow::Result<Self> {
        Ok(match format {
            Format::Csv => {
                let mut w = csv::Writer::from_path(path)?;
                w.write_record(columns)?;
                Self::Csv(Box::new(w))
            }
            Format::Json => {
                let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
                w.write_all(b"[")?;
                Self::Json(w, true)
            }
            Format::Xlsx => {
                let mut book = rust_xlsxwriter::Workbook::new();
                let sheet = book.add_worksheet_with_constant_memory()?;
                for (c, name) in columns.iter().enumerate() {
                    sheet.write_string(0, c as u16, name)?;
                }
                Self::Xlsx(Box::new(book), 1)
            }
        })
    }

    /// One record, its values in `columns` order.
    pub(crate) fn write(&mut self, columns: &[String], record: &Record) -> anyhow::Result<()> {
        match self {
            Self::Csv(w) => {
                w.write_record(
                    columns
                        .iter()
                        .map(|c| record.get(c).map(cell_text).unwrap_or_default()),
                )?;
            }
            Self::Json(w, first) => {
                if !*first {
                    w.write_all(b",")?;
                }
                *first = false;
                serde_json::to_writer(&mut *w, record)?;
            }
            Self::Xlsx(book, row) => {
                let sheet = book
                    .worksheet_from_index(0)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                for (c, name) in columns.iter().enumerate() {
                    let col = c as u16;
                    match record.get(name) {
                        Some(Value::Number(n)) => match n.as_f64() {
                            Some(f) => sheet.write_number(*row, col, f)?,
                            None => sheet.write_string(*row, col, n.to_string())?,
                        },
                        Some(Value::Bool(b)) => sheet.write_boolean(*row, col, *b)?,
                        Some(Value::Null) | None => sheet,
                        Some(v) => sheet.write_string(*row, col, cell_text(v))?,
                    };
                }
                *row += 1;
            }
        }
        Ok(())
    }

    /// Ends the file.
    pub(crate) fn finish(self, path: &Path) -> anyhow::Result<()> {
        match self {
            Self::Csv(mut w) => w.flush()?,
            Self::Json(mut w, _) => {
                w.write_all(b"]")?;
                w.flush()?;
            }
            Self::Xlsx(mut book, _) => book.save(path)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_name_and_bytes() {
        assert_eq!(Format::of_upload("People.CSV", b"a,b"), Some(Format::Csv));
        assert_eq!(
            Format::of_upload("p.xlsx", b"PK\x03\x04rest"),
            Some(Format::Xlsx)
        );
        assert_eq!(
            Format::of_upload("p.xlsx", b"a,b"),
            None,
            "an xlsx that is not a zip"
        );
        assert_eq!(Format::of_upload("p.exe", b"MZ"), None);
    }
}
