//! Which column of a file goes to which field: suggested from the headers (exact, then fuzzy),
//! then checked as the client sends it.

use std::collections::{BTreeMap, BTreeSet};

use kernel::ApiError;
use kernel::records::FieldSpec;

/// How alike a header and a field name must be (Jaro-Winkler) to be suggested.
const FUZZY: f64 = 0.88;

fn norm(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Header → field for every header (`None`: no field looks like it); each field at most once.
pub(crate) fn suggest(
    headers: &[String],
    fields: &[FieldSpec],
) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    // Exact matches first, so a fuzzy guess never takes a field another header names exactly.
    for h in headers {
        let n = norm(h);
        let exact = fields
            .iter()
            .find(|f| !used.contains(f.name) && (norm(f.name) == n || norm(f.label) == n));
        if let Some(f) = exact {
            used.insert(f.name);
        }
        out.insert(h.clone(), exact.map(|f| f.name.to_owned()));
    }
    for h in headers {
        if out.get(h).is_some_and(Option::is_some) {
            continue;
        }
        let n = norm(h);
        let best = fields
            .iter()
            .filter(|f| !used.contains(f.name))
            .map(|f| {
                let score = strsim::jaro_winkler(&n, &norm(f.name))
                    .max(strsim::jaro_winkler(&n, &norm(f.label)));
                (score, f)
            })
            .filter(|(score, _)| *score >= FUZZY)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, f)) = best {
            used.insert(f.name);
            out.insert(h.clone(), Some(f.name.to_owned()));
        }
    }
    out
}

/// Checks a mapping the client sent (header → field; a header left out or mapped to nothing is
/// not imported): every header exists, every field exists and is named once, every required
/// field is mapped. Answers column index → field.
pub(crate) fn check(
    headers: &[String],
    fields: &[FieldSpec],
    mapping: &BTreeMap<String, Option<String>>,
) -> Result<Vec<(usize, &'static str)>, ApiError> {
    let mut columns = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (header, field) in mapping {
        let Some(field) = field else { continue };
        let Some(index) = headers.iter().position(|h| h == header) else {
            return Err(ApiError::validation(
                "mapping",
                format!("the file has no column `{header}`"),
            ));
        };
        let Some(spec) = fields.iter().find(|f| f.name == field) else {
            return Err(ApiError::validation(
                "mapping",
                format!("`{field}` is not a field of this entity type"),
            ));
        };
        if !seen.insert(spec.name) {
            return Err(ApiError::validation(
                "mapping",
                format!("`{field}` is mapped from more than one column"),
            ));
        }
        columns.push((index, spec.name));
    }
    if let Some(missing) = fields.iter().find(|f| f.required && !seen.contains(f.name)) {
        return Err(ApiError::validation(
            "mapping",
            format!(
                "the required field `{}` is mapped from no column",
                missing.name
            ),
        ));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::records::FieldKind;

    #[test]
    fn headers_find_their_fields() {
        let fields = [
            FieldSpec::text("name", "Name", 200).required(),
            FieldSpec::of("email", "Email address", FieldKind::Email),
            FieldSpec::choice("status", "Status", &["open", "done"]),
        ];
        let headers: Vec<String> = ["Full Name", "E-mail Address", "STATUS", "Notes"]
            .map(String::from)
            .into();
        let m = suggest(&headers, &fields);
        assert_eq!(m["STATUS"].as_deref(), Some("status"));
        assert_eq!(
            m["E-mail Address"].as_deref(),
            Some("email"),
            "the label matches"
        );
        assert_eq!(m["Notes"], None);
        let m2 = suggest(&["Nmae".to_owned()], &fields);
        assert_eq!(
            m2["Nmae"].as_deref(),
            Some("name"),
            "a typo is close enough"
        );

        let mut sent = BTreeMap::new();
        sent.insert("STATUS".to_owned(), Some("status".to_owned()));
        assert!(check(&headers, &fields, &sent).is_err(), "name is required");
        sent.insert("Full Name".to_owned(), Some("name".to_owned()));
        assert_eq!(
            check(&headers, &fields, &sent).ok(),
            Some(vec![(0, "name"), (2, "status")])
        );
        sent.insert("Notes".to_owned(), Some("name".to_owned()));
        assert!(
            check(&headers, &fields, &sent).is_err(),
            "a field from two columns"
        );
    }
}
