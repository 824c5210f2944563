//! Money as integers: amounts in minor units with an ISO 4217 currency (`kernel::money`
//! checks the code and shows amounts), quantities in hundredths, tax rates in hundredths of a
//! percent. Every sum and rounding is integer
//! arithmetic, so both backends and every instance get the same totals.

use kernel::ApiError;

/// The largest amount (minor units) one line, invoice or payment may carry: 10^13, a hundred
/// billion in a two-decimal currency, far inside `i64` when summed.
pub(crate) const MAX_AMOUNT: i64 = 10_000_000_000_000;
/// The largest quantity, in hundredths (one million).
pub(crate) const MAX_QUANTITY: i64 = 100_000_000;

/// A decimal number with at most two decimals as hundredths (`1.5` → 150), within `0..=max`
/// hundredths; `positive` refuses zero.
pub(crate) fn hundredths(
    field: &str,
    value: f64,
    max: i64,
    positive: bool,
) -> Result<i64, ApiError> {
    let scaled = value * 100.0;
    let whole = scaled.round();
    if !value.is_finite() || (scaled - whole).abs() > 1e-6 {
        return Err(ApiError::validation(
            field,
            "a number with at most two decimals",
        ));
    }
    if whole < 0.0 || whole > max as f64 || (positive && whole == 0.0) {
        let top = max as f64 / 100.0;
        return Err(ApiError::validation(
            field,
            match positive {
                true => format!("above 0 and at most {top}"),
                false => format!("from 0 to {top}"),
            },
        ));
    }
    Ok(whole as i64)
}

/// An amount in minor units within `min..=MAX_AMOUNT`.
pub(crate) fn amount(field: &str, value: i64, min: i64) -> Result<i64, ApiError> {
    match (min..=MAX_AMOUNT).contains(&value) {
        true => Ok(value),
        false => Err(ApiError::validation(
            field,
            format!("an amount in minor units from {min} to {MAX_AMOUNT}"),
        )),
    }
}

/// `a / b` rounded half away from zero, for `a >= 0`, `b > 0`.
fn div_round(a: i128, b: i128) -> i128 {
    (2 * a + b) / (2 * b)
}

/// What a line comes to: gross (quantity × unit price), the discount, the tax on what is left,
/// and the line's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LineAmounts {
    pub gross: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
}

/// A line's amounts; 422 (the field named after `at`, such as `line_items[2].`) when the
/// discount is more than the gross or the total leaves the bounds of an amount.
pub(crate) fn line(
    at: &str,
    quantity_hundredths: i64,
    unit_price: i64,
    discount: i64,
    tax_rate_bp: i64,
) -> Result<LineAmounts, ApiError> {
    let gross = div_round(
        i128::from(quantity_hundredths) * i128::from(unit_price),
        100,
    );
    if gross > i128::from(MAX_AMOUNT) {
        return Err(ApiError::validation(
            &format!("{at}unit_price"),
            format!("quantity × unit price is above {MAX_AMOUNT}"),
        ));
    }
    let gross = gross as i64;
    if discount > gross {
        return Err(ApiError::validation(
            &format!("{at}discount"),
            "at most the line's quantity × unit price",
        ));
    }
    let net = gross - discount;
    let tax = div_round(i128::from(net) * i128::from(tax_rate_bp), 10_000) as i64;
    Ok(LineAmounts {
        gross,
        discount,
        tax,
        total: net + tax,
    })
}

/// An invoice's totals: the sums of its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Totals {
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
}

impl Totals {
    pub(crate) fn of(lines: impl IntoIterator<Item = LineAmounts>) -> Result<Self, ApiError> {
        let mut t = Totals::default();
        for l in lines {
            t.subtotal += l.gross;
            t.discount += l.discount;
            t.tax += l.tax;
            t.total += l.total;
        }
        match t.total <= MAX_AMOUNT {
            true => Ok(t),
            false => Err(ApiError::conflict(format!(
                "an invoice's total may be at most {MAX_AMOUNT}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_half_away_from_zero() {
        // 1.5 × 3.33 = 4.995 → 5.00; 10% of it → 0.50.
        let l = line("", 150, 333, 0, 1000).unwrap_or_default();
        assert_eq!((l.gross, l.tax, l.total), (500, 50, 550));
        // 8.25% of 12.34 = 1.01805 → 1.02.
        let l = line("", 100, 1234, 0, 825).unwrap_or_default();
        assert_eq!((l.tax, l.total), (102, 1336));
        // A discount comes off before tax.
        let l = line("", 200, 1000, 500, 2000).unwrap_or_default();
        assert_eq!(
            (l.gross, l.discount, l.tax, l.total),
            (2000, 500, 300, 1800)
        );
        assert!(
            line("", 100, 100, 101, 0).is_err(),
            "a discount above the gross"
        );
        assert!(
            line("", MAX_QUANTITY, MAX_AMOUNT, 0, 0).is_err(),
            "out of bounds"
        );
    }

    #[test]
    fn quantities_have_two_decimals_at_most() {
        assert_eq!(hundredths("q", 1.5, MAX_QUANTITY, true).ok(), Some(150));
        assert_eq!(hundredths("q", 0.29, MAX_QUANTITY, true).ok(), Some(29));
        assert!(hundredths("q", 1.234, MAX_QUANTITY, true).is_err());
        assert!(hundredths("q", 0.0, MAX_QUANTITY, true).is_err());
        assert!(hundredths("q", -1.0, MAX_QUANTITY, false).is_err());
        assert!(hundredths("q", f64::NAN, MAX_QUANTITY, false).is_err());
        assert_eq!(hundredths("t", 0.0, 10_000, false).ok(), Some(0));
    }
}
