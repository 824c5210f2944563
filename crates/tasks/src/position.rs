//! Fractional positions: order keys that sort as plain byte strings, with a key between any two
//! (David Greenspan's "Implementing Fractional Indexing", base 62).
//!
//! A key is an integer part, whose first character says how many characters it has (`a`–`z`:
//! 2 to 27, non-negative; `Z`–`A`: 2 to 27, negative), then an optional fraction of base-62
//! digits that never ends in `0`. Appending or prepending moves the integer by one (`a0`, `a1`,
//! …, `az`, `b00`: 10 000 appends stay at 4 characters); inserting between two keys takes the
//! midpoint of their fractions, which grows by about one character per six inserts at the
//! same spot. [`Spacing`] bounds that: when a key would pass [`MAX_LEN`], the caller re-spaces
//! a few neighbours (see `crate::service::tasks::place`).
//!
//! Keys compare as bytes: PostgreSQL stores them `COLLATE "C"`, SQLite compares bytes anyway.

/// The digits, in byte order.
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The smallest integer (`A` then 26 zeros): no key may be it, so there is always room before.
const SMALLEST: &str = "A00000000000000000000000000";
/// The key a first item gets.
pub const FIRST: &str = "a0";
/// The longest key a move writes without re-spacing its neighbours.
pub const MAX_LEN: usize = 24;

fn digit(c: u8) -> Option<usize> {
    DIGITS.iter().position(|d| *d == c)
}

fn int_len(head: u8) -> Option<usize> {
    match head {
        b'a'..=b'z' => Some(usize::from(head - b'a') + 2),
        b'A'..=b'Z' => Some(usize::from(b'Z' - head) + 2),
        _ => None,
    }
}

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKey(pub String);

impl std::fmt::Display for BadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not an order key: {}", self.0)
    }
}

impl std::error::Error for BadKey {}

fn bad(key: &str) -> BadKey {
    BadKey(key.chars().take(40).collect())
}

/// Splits a valid key into its integer part and fraction.
fn split(key: &str) -> Result<(&str, &str), BadKey> {
    let bytes = key.as_bytes();
    let n = bytes
        .first()
        .and_then(|h| int_len(*h))
        .ok_or_else(|| bad(key))?;
    if bytes.len() < n
        || key == SMALLEST
        || bytes[1..].iter().any(|b| digit(*b).is_none())
        || (bytes.len() > n && bytes.last() == Some(&b'0'))
    {
        return Err(bad(key));
    }
    Ok(key.split_at(n))
}

/// Whether `key` is a key this module could have made.
pub fn is_valid(key: &str) -> bool {
    split(key).is_ok()
}

/// A fraction strictly between `a` and `b` (`None`: 1), both without trailing zeros.
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    if let Some(b) = b {
        // The common prefix (a padded with zeros) is kept as is.
        let n = (0..b.len())
            .take_while(|&i| a.get(i).copied().unwrap_or(b'0') == b[i])
            .count();
        if n > 0 {
            let mut out = b[..n].to_vec();
            out.extend(midpoint(a.get(n..).unwrap_or_default(), Some(&b[n..])));
            return out;
        }
    }
    let da = a.first().and_then(|c| digit(*c)).unwrap_or(0);
    let db = b
        .and_then(|b| b.first())
        .and_then(|c| digit(*c))
        .unwrap_or(DIGITS.len());
    if db - da > 1 {
        return vec![DIGITS[(da + db).div_ceil(2)]];
    }
    match b {
        // b's first digit alone is above a and below b.
        Some(b) if b.len() > 1 => vec![b[0]],
        _ => {
            let mut out = vec![DIGITS[da]];
            out.extend(midpoint(a.get(1..).unwrap_or_default(), None));
            out
        }
    }
}

fn increment(int: &str) -> Option<String> {
    let (head, digits) = int.as_bytes().split_first()?;
    let mut digits = digits.to_vec();
    for d in digits.iter_mut().rev() {
        let next = digit(*d)? + 1;
        if next < DIGITS.len() {
            *d = DIGITS[next];
            return String::from_utf8(std::iter::once(*head).chain(digits).collect()).ok();
        }
        *d = DIGITS[0];
    }
    // Every digit carried: the integer needs another digit (or, from -1, becomes 0).
    match head {
        b'Z' => Some("a0".into()),
        b'z' => None,
        h => {
            let h = h + 1;
            if h > b'a' {
                digits.push(DIGITS[0]);
            } else {
                digits.pop();
            }
            String::from_utf8(std::iter::once(h).chain(digits).collect()).ok()
        }
    }
}

fn decrement(int: &str) -> Option<String> {
    let (head, digits) = int.as_bytes().split_first()?;
    let mut digits = digits.to_vec();
    let top = DIGITS[DIGITS.len() - 1];
    for d in digits.iter_mut().rev() {
        let v = digit(*d)?;
        if v > 0 {
            *d = DIGITS[v - 1];
            return String::from_utf8(std::iter::once(*head).chain(digits).collect()).ok();
        }
        *d = top;
    }
    match head {
        b'a' => Some(String::from_utf8(vec![b'Z', top]).ok()?),
        b'A' => None,
        h => {
            let h = h - 1;
            if h < b'Z' {
                digits.push(top);
            } else {
                digits.pop();
            }
            String::from_utf8(std::iter::once(h).chain(digits).collect()).ok()
        }
    }
}

/// A key strictly between `a` and `b` (`None`: the start, the end).
pub fn between(a: Option<&str>, b: Option<&str>) -> Result<String, BadKey> {
    let pa = a.map(split).transpose()?;
    let pb = b.map(split).transpose()?;
    if let (Some(a), Some(b)) = (a, b)
        && a >= b
    {
        return Err(BadKey(format!("{a} is not before {b}")));
    }
    let join = |int: &str, frac: Vec<u8>| {
        let mut s = int.to_owned();
        s.push_str(std::str::from_utf8(&frac).unwrap_or_default());
        s
    };
    match (pa, pb) {
        (None, None) => Ok(FIRST.into()),
        (None, Some((ib, fb))) => {
            if ib == SMALLEST {
                return Ok(join(ib, midpoint(b"", Some(fb.as_bytes()))));
            }
            if !fb.is_empty() {
                return Ok(ib.to_owned());
            }
            decrement(ib).ok_or_else(|| bad(ib))
        }
        (Some((ia, fa)), None) => Ok(match increment(ia) {
            Some(next) => next,
            None => join(ia, midpoint(fa.as_bytes(), None)),
        }),
        (Some((ia, fa)), Some((ib, fb))) => {
            if ia == ib {
                return Ok(join(ia, midpoint(fa.as_bytes(), Some(fb.as_bytes()))));
            }
            let next = increment(ia).ok_or_else(|| bad(ia))?;
            match Some(next.as_str()) < b {
                true => Ok(next),
                false => Ok(join(ia, midpoint(fa.as_bytes(), None))),
            }
        }
    }
}

/// `n` keys in order strictly between `a` and `b`, spread evenly (so they stay short).
pub fn n_between(a: Option<&str>, b: Option<&str>, n: usize) -> Result<Vec<String>, BadKey> {
    match n {
        0 => Ok(Vec::new()),
        1 => Ok(vec![between(a, b)?]),
        _ if b.is_none() => {
            // Appending: consecutive integers.
            let mut out = Vec::with_capacity(n);
            let mut last = a.map(str::to_owned);
            for _ in 0..n {
                let k = between(last.as_deref(), None)?;
                out.push(k.clone());
                last = Some(k);
            }
            Ok(out)
        }
        _ => {
            let mid = n / 2;
            let c = between(a, b)?;
            let mut out = n_between(a, Some(&c), mid)?;
            out.push(c.clone());
            out.extend(n_between(Some(&c), b, n - mid - 1)?);
            Ok(out)
        }
    }
}

/// The key for a spot between `a` and `b`, unless it would be longer than [`MAX_LEN`] (then
/// the neighbours need re-spacing: [`room`]).
pub fn place(a: Option<&str>, b: Option<&str>) -> Result<Option<String>, BadKey> {
    let k = between(a, b)?;
    Ok((k.len() <= MAX_LEN).then_some(k))
}

/// New keys for a stretch of a sequence: `keys[0]` goes to the item now at index `start`, and
/// so on; the moved item is the one at the spot it was moved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub start: usize,
    pub keys: Vec<String>,
}

/// Room for an item moved to index `at` of `keys` (the others, in order): the fewest
/// neighbours on each side (0, 4, 8, 16…) re-spaced so that no key is longer than
/// [`MAX_LEN`]. Usually that is the moved item alone; the whole sequence at worst, which
/// always fits (its keys are then `a0`, `a1`, …).
pub fn room(keys: &[&str], at: usize) -> Result<Room, BadKey> {
    let at = at.min(keys.len());
    let mut w = 0usize;
    loop {
        let start = at.saturating_sub(w);
        let end = (at + w).min(keys.len());
        let lower = start.checked_sub(1).map(|i| keys[i]);
        let upper = keys.get(end).copied();
        let new = n_between(lower, upper, end - start + 1)?;
        if new.iter().all(|k| k.len() <= MAX_LEN) || (lower.is_none() && upper.is_none()) {
            return Ok(Room { start, keys: new });
        }
        w = (w * 2).max(4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_published_examples() -> Result<(), BadKey> {
        let first = between(None, None)?;
        let second = between(Some(&first), None)?;
        let third = between(Some(&second), None)?;
        assert_eq!(
            (first.as_str(), second.as_str(), third.as_str()),
            ("a0", "a1", "a2")
        );
        assert_eq!(between(None, Some("a0"))?, "Zz");
        assert_eq!(between(Some("a1"), Some("a2"))?, "a1V");
        assert_eq!(between(Some("az"), None)?, "b00");
        assert_eq!(between(Some("Zz"), None)?, "a0");
        assert!(between(Some("a1"), Some("a1")).is_err());
        assert!(
            between(Some("a10"), None).is_err(),
            "a trailing zero is refused"
        );
        assert!(!is_valid("") && !is_valid("a") && !is_valid("a0 ") && is_valid("a0V"));
        Ok(())
    }

    #[test]
    fn ten_thousand_appends_stay_short() -> Result<(), BadKey> {
        let keys = n_between(None, None, 10_000)?;
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.len() <= 4), "{:?}", keys.last());
        Ok(())
    }

    /// Applies a move the way the service does: the cheap key, else re-spaced neighbours.
    fn apply(keys: &mut Vec<String>, from: usize, to: usize) -> Result<(), BadKey> {
        let moved = keys.remove(from);
        let to = to.min(keys.len());
        let lower = to.checked_sub(1).map(|i| keys[i].as_str());
        let upper = keys.get(to).map(String::as_str);
        match place(lower, upper)? {
            Some(k) => keys.insert(to, k),
            None => {
                let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                let r = room(&refs, to)?;
                keys.insert(to, moved);
                for (i, k) in r.keys.into_iter().enumerate() {
                    keys[r.start + i] = k;
                }
            }
        }
        Ok(())
    }

    #[test]
    fn ten_thousand_moves_to_the_same_spot_stay_short() -> Result<(), BadKey> {
        let mut keys = n_between(None, None, 50)?;
        for _ in 0..10_000 {
            let last = keys.len() - 1;
            apply(&mut keys, last, 1)?;
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.len() <= MAX_LEN), "{keys:?}");
        let mut keys = n_between(None, None, 50)?;
        for _ in 0..10_000 {
            apply(&mut keys, 0, 25)?;
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.len() <= MAX_LEN));
        Ok(())
    }

    proptest::proptest! {
        /// Any sequence of moves keeps the keys in strict order and no longer than MAX_LEN.
        #[test]
        fn any_moves_keep_a_strict_order_and_short_keys(
            len in 1usize..60,
            moves in proptest::collection::vec((0usize..1000, 0usize..1000), 1..400),
        ) {
            let mut keys = n_between(None, None, len).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            for (from, to) in moves {
                let from = from % keys.len();
                apply(&mut keys, from, to).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                proptest::prop_assert!(keys.windows(2).all(|w| w[0] < w[1]), "{:?}", keys);
                proptest::prop_assert!(keys.iter().all(|k| k.len() <= MAX_LEN && is_valid(k)));
            }
        }
    }

    #[test]
    fn keys_between_are_evenly_short() -> Result<(), BadKey> {
        let keys = n_between(Some("a0"), Some("a1"), 1000)?;
        assert_eq!(keys.len(), 1000);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.first().is_some_and(|k| k.as_str() > "a0"));
        assert!(keys.last().is_some_and(|k| k.as_str() < "a1"));
        assert!(keys.iter().all(|k| k.len() <= 5));
        Ok(())
    }
}
