//! What an upload really is, from its first bytes (`infer`'s magic numbers): a file declared a
//! PDF that is an executable, or a PNG that is not a picture, is refused on confirm.

/// How many leading bytes are read to decide.
pub(crate) const PREFIX: usize = 8192;

/// Types that share one container, so either may be declared for the other.
const FAMILIES: [&[&str]; 2] = [
    &[
        "application/zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/epub+zip",
    ],
    &[
        "application/x-ole-storage",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
    ],
];

/// The type without parameters, lowercase (`text/csv; charset=utf-8` → `text/csv`).
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn same_kind(declared: &str, found: &str) -> bool {
    declared == found
        || FAMILIES
            .iter()
            .any(|f| f.contains(&declared) && f.contains(&found))
}

fn is_text(declared: &str) -> bool {
    declared.starts_with("text/") || declared == "application/json" || declared.ends_with("+json")
}

/// `Ok` when `head` (the first bytes of the stored file, empty for an empty file) can be what
/// `declared` says; otherwise why not, for the client.
pub(crate) fn check(declared: &str, head: &[u8]) -> Result<(), String> {
    let declared = essence(declared);
    if let Some(found) = infer::get(head) {
        if found.matcher_type() == infer::MatcherType::App {
            return Err(format!(
                "the content is a program ({}), which is never accepted",
                found.mime_type()
            ));
        }
        if same_kind(&declared, found.mime_type()) {
            return Ok(());
        }
        return Err(format!(
            "the content is `{}`, not the declared `{declared}`",
            found.mime_type()
        ));
    }
    if is_text(&declared) {
        // Text is valid UTF-8 without NUL bytes (a character cut at the end of the prefix is
        // fine).
        let text = match std::str::from_utf8(head) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        };
        if !text || head.contains(&0) {
            return Err(format!("the content is not `{declared}` text"));
        }
        return Ok(());
    }
    if infer::is_mime_supported(&declared) {
        return Err(format!("the content does not look like `{declared}`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    /// The start of an x86-64 ELF header, padded to the 64 bytes of a whole one.
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0\
        \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    const EXE: &[u8] = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";

    #[test]
    fn a_file_is_what_its_first_bytes_say() {
        assert_eq!(check("application/pdf", PDF), Ok(()));
        assert_eq!(check("image/png", PNG), Ok(()));
        assert_eq!(
            check("text/csv; charset=utf-8", b"name,email\nAda,ada@x.test\n"),
            Ok(())
        );
        assert_eq!(check("text/plain", b""), Ok(()), "an empty text file");
        assert_eq!(
            check("application/json", "{\"k\":\"caf\u{e9}\"}".as_bytes()),
            Ok(())
        );
        // A multi-byte character cut by the prefix is still text.
        assert_eq!(check("text/plain", &"caf\u{e9}".as_bytes()[..4]), Ok(()));
    }

    #[test]
    fn programs_and_impostors_are_refused() {
        for (declared, head) in [
            ("application/pdf", ELF),
            ("application/pdf", EXE),
            ("text/plain", EXE),
            ("image/png", PDF),
            ("application/pdf", PNG),
            ("application/pdf", b"just some text".as_slice()),
            ("image/png", b"".as_slice()),
            ("text/csv", b"a,b\0c".as_slice()),
            ("text/plain", b"\xff\xfe\xfa not utf-8".as_slice()),
        ] {
            assert!(check(declared, head).is_err(), "{declared} {head:?}");
        }
        let why = check("application/pdf", ELF).err().unwrap_or_default();
        assert!(why.contains("program"), "{why}");
    }
}
