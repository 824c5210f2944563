//! Money as every module keeps it (DESIGN): an integer amount in the currency's minor units and
//! an ISO 4217 code. The code list and each currency's minor unit come from `iso_currency`.

use crate::ApiError;

/// An ISO 4217 code as stored: trimmed, upper case (`usd` reads as `USD`), and one the standard
/// lists; 422 on `field` otherwise.
pub fn currency(field: &str, raw: &str) -> Result<String, ApiError> {
    let code = raw.trim().to_ascii_uppercase();
    match iso_currency::Currency::from_code(&code) {
        Some(_) => Ok(code),
        None => Err(ApiError::validation(
            field,
            "an ISO 4217 currency code, such as USD",
        )),
    }
}

/// How many decimals the currency's minor unit has: 2 for USD, 0 for JPY, 3 for BHD (2 for a
/// code without one, such as XAU).
pub fn minor_digits(code: &str) -> u32 {
    iso_currency::Currency::from_code(code)
        .and_then(|c| c.exponent())
        .map_or(2, u32::from)
}

/// An amount for people, in its currency's decimals: `1,234.50 USD`, `1,235 JPY`, `1.234 BHD`.
pub fn display(minor: i64, code: &str) -> String {
    let digits = minor_digits(code);
    let sign = if minor < 0 { "-" } else { "" };
    let v = minor.unsigned_abs();
    let unit = 10u64.pow(digits);
    let whole = (v / unit).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match digits {
        0 => format!("{sign}{grouped} {code}"),
        d => format!(
            "{sign}{grouped}.{:0width$} {code}",
            v % unit,
            width = d as usize
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_iso_4217() {
        assert_eq!(currency("c", " usd ").ok().as_deref(), Some("USD"));
        for bad in ["US", "U$D", "ABC", ""] {
            assert!(currency("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_show_their_currencys_decimals() {
        assert_eq!(display(123_456_789, "USD"), "1,234,567.89 USD");
        assert_eq!(display(5, "EUR"), "0.05 EUR");
        assert_eq!(display(-100_000, "USD"), "-1,000.00 USD");
        assert_eq!(display(1_234, "JPY"), "1,234 JPY");
        assert_eq!(display(1_234, "BHD"), "1.234 BHD");
        assert_eq!(display(i64::MIN, "USD"), "-92,233,720,368,547,758.08 USD");
        assert_eq!(
            (
                minor_digits("JPY"),
                minor_digits("KWD"),
                minor_digits("XAU")
            ),
            (0, 3, 2)
        );
    }
}
