//! Channel values as they are stored and compared: two spellings of one address are one
//! channel (a duplicate is refused), and a person's email domain finds their company.

use kernel::ApiError;

/// The kinds of channel a person may have.
pub(crate) const KINDS: [&str; 4] = ["email", "phone", "linkedin", "telegram"];

/// Domains of free email providers: an address there says nothing about an employer, so it never
/// matches a company.
const FREE_MAIL: &[&str] = &[
    "aol.com",
    "fastmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hey.com",
    "hotmail.com",
    "hotmail.co.uk",
    "icloud.com",
    "live.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "tutanota.com",
    "web.de",
    "yahoo.co.uk",
    "yahoo.com",
    "yandex.com",
    "yandex.ru",
    "ymail.com",
    "zoho.com",
];

pub(crate) fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL.contains(&domain)
}

fn invalid(field: &str, what: &str) -> ApiError {
    ApiError::validation(field, what.to_owned())
}

/// A domain name, lowercase, without a trailing dot: labels of letters, digits and `-`, at least
/// two of them.
pub(crate) fn domain(field: &str, raw: &str) -> Result<String, ApiError> {
    let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let d = d.strip_prefix("www.").unwrap_or(&d).to_owned();
    let labels: Vec<&str> = d.split('.').collect();
    let ok = d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    match ok {
        true => Ok(d),
        false => Err(invalid(field, "must be a domain name such as `acme.com`")),
    }
}

/// An email address: trimmed, lowercase, one `@`, a domain after it.
pub(crate) fn email(field: &str, raw: &str) -> Result<String, ApiError> {
    let e = raw.trim().to_lowercase();
    let Some((local, host)) = e.rsplit_once('@') else {
        return Err(invalid(field, "must be an email address"));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@');
    if !local_ok {
        return Err(invalid(field, "must be an email address"));
    }
    let host = domain(field, host).map_err(|_| invalid(field, "must be an email address"))?;
    Ok(format!("{local}@{host}"))
}

/// A phone number: digits with an optional leading `+` (spaces, dots, dashes and parentheses
/// dropped), 7 to 15 digits (E.164's most).
pub(crate) fn phone(field: &str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    let plus = t.starts_with('+') || t.starts_with("00");
    let body = t
        .strip_prefix('+')
        .or_else(|| t.strip_prefix("00"))
        .unwrap_or(t);
    let mut digits = String::new();
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => {
                return Err(invalid(
                    field,
                    "must be a phone number (digits, `+`, spaces, dashes)",
                ));
            }
        }
    }
    if !(7..=15).contains(&digits.len()) {
        return Err(invalid(field, "must have 7 to 15 digits"));
    }
    Ok(if plus { format!("+{digits}") } else { digits })
}

/// A LinkedIn profile URL, as `https://www.linkedin.com/in/<handle>` (lowercase handle).
pub(crate) fn linkedin(field: &str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim().trim_end_matches('/');
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .unwrap_or(t);
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let handle = rest
        .strip_prefix("linkedin.com/in/")
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 100
                && h.chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
        .ok_or_else(|| invalid(field, "must be a LinkedIn profile URL (linkedin.com/in/…)"))?;
    Ok(format!(
        "https://www.linkedin.com/in/{}",
        handle.to_lowercase()
    ))
}

/// A Telegram chat id (an integer, negative for groups) or `@username`.
pub(crate) fn telegram(field: &str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    if let Some(user) = t.strip_prefix('@') {
        let ok = (5..=32).contains(&user.len())
            && user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return match ok {
            true => Ok(format!("@{}", user.to_ascii_lowercase())),
            false => Err(invalid(
                field,
                "must be a chat id or an @username of 5 to 32 characters",
            )),
        };
    }
    match t.parse::<i64>() {
        Ok(id) => Ok(id.to_string()),
        Err(_) => Err(invalid(field, "must be a chat id or an @username")),
    }
}

/// `value` of `kind`, normalized; 422 for an unknown kind or a malformed value.
pub(crate) fn channel(kind: &str, value: &str) -> Result<String, ApiError> {
    match kind {
        "email" => email("value", value),
        "phone" => phone("value", value),
        "linkedin" => linkedin("value", value),
        "telegram" => telegram("value", value),
        _ => Err(ApiError::validation(
            "kind",
            format!("must be one of {}", KINDS.join(", ")),
        )),
    }
}

/// The domain of a normalized email, unless it is a free-mail one.
pub(crate) fn employer_domain(email: &str) -> Option<&str> {
    let (_, host) = email.rsplit_once('@')?;
    (!is_free_mail(host)).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_address_are_one_value() {
        assert_eq!(
            email("e", "  Ann.Lee@ACME.com ").unwrap(),
            "ann.lee@acme.com"
        );
        assert!(email("e", "no-at-sign").is_err());
        assert!(email("e", "a@b").is_err());
        assert!(email("e", "a b@acme.com").is_err());
        assert_eq!(phone("p", "+1 (415) 555-0100").unwrap(), "+14155550100");
        assert_eq!(phone("p", "0044 20 7946 0958").unwrap(), "+442079460958");
        assert_eq!(phone("p", "020 7946 0958").unwrap(), "02079460958");
        assert!(phone("p", "12345").is_err());
        assert!(phone("p", "call me").is_err());
        assert_eq!(
            linkedin("l", "linkedin.com/in/Ann-Lee/").unwrap(),
            "https://www.linkedin.com/in/ann-lee"
        );
        assert!(linkedin("l", "https://evil.test/in/ann").is_err());
        assert_eq!(telegram("t", "-100123").unwrap(), "-100123");
        assert_eq!(telegram("t", "@Ann_Lee").unwrap(), "@ann_lee");
        assert!(telegram("t", "@a").is_err());
        assert_eq!(domain("d", "WWW.Acme.com.").unwrap(), "acme.com");
        assert!(domain("d", "localhost").is_err());
        assert!(domain("d", "acme..com").is_err());
        assert_eq!(employer_domain("ann@acme.com"), Some("acme.com"));
        assert_eq!(employer_domain("ann@gmail.com"), None);
        assert!(channel("fax", "1").is_err());
    }
}
