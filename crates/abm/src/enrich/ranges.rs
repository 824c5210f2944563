//! Sorted IP ranges with a value each, looked up by binary search, and the compact file format
//! the embedded data ships in.
//!
//! Public datasets overlap in places (a country feed that carves a /29 out of a /22, two ASN
//! sources that disagree). [`RangeTable::build`] flattens them: at every address the range that
//! starts last wins, which for nested ranges means the most specific one, like routing's
//! longest-prefix match. Adjacent ranges with the same value are merged.
//!
//! Compact format (one file per table, gzip-compressed): the 8 bytes `ABMIPR1\n`, one byte for
//! the family (4 or 6), then until the end one record per range, three unsigned LEB128
//! varints: the gap since the previous range (`start - (previous end + 1)`, from address 0 for
//! the first), the range length minus one (`end - start`), and the value (an ASN, or a country
//! code's two ASCII letters as `first << 8 | second`).

use std::io::{self, Read};

/// An IPv4 (`u32`) or IPv6 (`u128`) address as a number.
pub(crate) trait IpNum: Copy + Ord {
    fn succ(self) -> Option<Self>;
    fn pred(self) -> Option<Self>;
    fn to_u128(self) -> u128;
    fn from_u128(value: u128) -> Option<Self>;
}

impl IpNum for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    fn from_u128(value: u128) -> Option<Self> {
        u32::try_from(value).ok()
    }
}

impl IpNum for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
    fn to_u128(self) -> u128 {
        self
    }
    fn from_u128(value: u128) -> Option<Self> {
        Some(value)
    }
}

/// Non-overlapping inclusive ranges, sorted, each with a value (struct of arrays: 4+4+4 bytes a
/// range for IPv4 ASNs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeTable<K, V> {
    starts: Vec<K>,
    ends: Vec<K>,
    values: Vec<V>,
}

impl<K, V> Default for RangeTable<K, V> {
    fn default() -> Self {
        Self {
            starts: Vec::new(),
            ends: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<K: IpNum, V: Copy + Eq> RangeTable<K, V> {
    /// Sorts, flattens overlaps (the later start wins) and merges adjacent equal ranges.
    /// Ranges with `start > end` are dropped.
    pub(crate) fn build(mut ranges: Vec<(K, K, V)>) -> Self {
        ranges.retain(|(start, end, _)| start <= end);
        // At the same start the wider range comes first, so the narrower one is on top.
        ranges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut flat = Flattener {
            out: Self::default(),
            open: Vec::new(),
            next: None,
        };
        for range in ranges {
            flat.emit_before(Some(range.0));
            flat.next = Some(range.0);
            flat.open.push(range);
        }
        flat.emit_before(None);
        let mut table = flat.out;
        table.starts.shrink_to_fit();
        table.ends.shrink_to_fit();
        table.values.shrink_to_fit();
        table
    }

    /// The value of the range holding `key`.
    pub(crate) fn get(&self, key: K) -> Option<V> {
        let index = self
            .starts
            .partition_point(|start| *start <= key)
            .checked_sub(1)?;
        if *self.ends.get(index)? >= key {
            self.values.get(index).copied()
        } else {
            None
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Heap bytes held (for the load report).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.starts.capacity() * size_of::<K>() * 2 + self.values.capacity() * size_of::<V>()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, K, V)> + '_ {
        self.starts
            .iter()
            .zip(&self.ends)
            .zip(&self.values)
            .map(|((start, end), value)| (*start, *end, *value))
    }

    fn push_merged(&mut self, start: K, end: K, value: V) {
        if let (Some(last_end), Some(last_value)) = (self.ends.last_mut(), self.values.last())
            && *last_value == value
            && last_end.succ() == Some(start)
        {
            *last_end = end;
            return;
        }
        self.starts.push(start);
        self.ends.push(end);
        self.values.push(value);
    }
}

/// The sweep behind [`RangeTable::build`]: `open` holds the ranges that may still cover
/// addresses from `next` on, in start order, so the top live one is the winner.
struct Flattener<K, V> {
    out: RangeTable<K, V>,
    open: Vec<(K, K, V)>,
    /// First address not yet emitted (`None` past the end of the address space).
    next: Option<K>,
}

impl<K: IpNum, V: Copy + Eq> Flattener<K, V> {
    /// Emits the winners for every address before `limit` (`None`: to the end).
    fn emit_before(&mut self, limit: Option<K>) {
        loop {
            let Some(next) = self.next else {
                self.open.clear();
                return;
            };
            while self.open.last().is_some_and(|top| top.1 < next) {
                self.open.pop();
            }
            let Some(&(_, top_end, value)) = self.open.last() else {
                return;
            };
            let end = match limit {
                Some(limit) if limit <= next => return,
                Some(limit) if limit <= top_end => match limit.pred() {
                    Some(end) => end,
                    None => return,
                },
                _ => top_end,
            };
            self.out.push_merged(next, end, value);
            self.next = end.succ();
        }
    }
}

const MAGIC: &[u8; 8] = b"ABMIPR1\n";

/// Serializes a table in the compact format (uncompressed; the caller gzips).
pub(crate) fn encode<K: IpNum, V: Copy + Eq>(
    table: &RangeTable<K, V>,
    family: u8,
    value: impl Fn(V) -> u32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 1 + table.len() * 8);
    out.extend_from_slice(MAGIC);
    out.push(family);
    let mut expected: u128 = 0;
    for (start, end, v) in table.iter() {
        let (start, end) = (start.to_u128(), end.to_u128());
        write_varint(&mut out, start - expected);
        write_varint(&mut out, end - start);
        write_varint(&mut out, u128::from(value(v)));
        expected = end.saturating_add(1);
    }
    out
}

/// Reads the compact format back into `(start, end, value)` triples.
pub(crate) fn decode<K: IpNum>(mut input: impl Read, family: u8) -> io::Result<Vec<(K, K, u32)>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut header = [0u8; 9];
    input.read_exact(&mut header)?;
    if &header[..8] != MAGIC || header[8] != family {
        return Err(invalid("not an abm IP range file for this address family"));
    }
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let mut reader = bytes.as_slice();
    let mut ranges = Vec::new();
    let mut expected: u128 = 0;
    while !reader.is_empty() {
        let gap = read_varint(&mut reader).ok_or_else(|| invalid("truncated range record"))?;
        let len = read_varint(&mut reader).ok_or_else(|| invalid("truncated range record"))?;
        let value = read_varint(&mut reader).ok_or_else(|| invalid("truncated range record"))?;
        let start = expected
            .checked_add(gap)
            .ok_or_else(|| invalid("range beyond the address space"))?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| invalid("range beyond the address space"))?;
        let (Some(start_key), Some(end_key), Ok(value)) =
            (K::from_u128(start), K::from_u128(end), u32::try_from(value))
        else {
            return Err(invalid("range or value out of bounds"));
        };
        ranges.push((start_key, end_key, value));
        expected = end.saturating_add(1);
    }
    Ok(ranges)
}

fn write_varint(out: &mut Vec<u8>, mut value: u128) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(input: &mut &[u8]) -> Option<u128> {
    let mut value: u128 = 0;
    for shift in (0..128).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u128::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(table: &RangeTable<u32, char>) -> Vec<(u32, u32, char)> {
        table.iter().collect()
    }

    #[test]
    fn lookup_is_inclusive_and_gaps_are_empty() {
        let table = RangeTable::build(vec![(10u32, 19, 'a'), (30, 39, 'b')]);
        assert_eq!(table.get(9), None);
        assert_eq!(table.get(10), Some('a'));
        assert_eq!(table.get(19), Some('a'));
        assert_eq!(table.get(20), None);
        assert_eq!(table.get(39), Some('b'));
        assert_eq!(table.get(40), None);
        assert_eq!(RangeTable::<u32, char>::build(vec![]).get(0), None);
    }

    #[test]
    fn nested_ranges_let_the_most_specific_win() {
        // A /22 with a /29 carved out, and the same start with two widths.
        let table = RangeTable::build(vec![
            (0u32, 99, 'a'),
            (40, 49, 'b'),
            (0, 9, 'c'),
            (45, 45, 'd'),
        ]);
        assert_eq!(
            ranges(&table),
            vec![
                (0, 9, 'c'),
                (10, 39, 'a'),
                (40, 44, 'b'),
                (45, 45, 'd'),
                (46, 49, 'b'),
                (50, 99, 'a')
            ]
        );
    }

    #[test]
    fn partial_overlaps_give_the_overlap_to_the_later_start() {
        let table = RangeTable::build(vec![(0u32, 50, 'a'), (40, 90, 'b')]);
        assert_eq!(ranges(&table), vec![(0, 39, 'a'), (40, 90, 'b')]);
    }

    #[test]
    fn adjacent_equal_ranges_merge_and_bad_ranges_drop() {
        let table = RangeTable::build(vec![
            (20u32, 29, 'a'),
            (10, 19, 'a'),
            (30, 30, 'b'),
            (31, 40, 'a'),
            (50, 40, 'z'),
        ]);
        assert_eq!(
            ranges(&table),
            vec![(10, 29, 'a'), (30, 30, 'b'), (31, 40, 'a')]
        );
    }

    #[test]
    fn the_edges_of_the_address_space_work() {
        let table = RangeTable::build(vec![(0u32, u32::MAX, 'a'), (u32::MAX, u32::MAX, 'b')]);
        assert_eq!(
            ranges(&table),
            vec![(0, u32::MAX - 1, 'a'), (u32::MAX, u32::MAX, 'b')]
        );
        let table = RangeTable::build(vec![(0u128, u128::MAX, 'a'), (0, 0, 'b')]);
        assert_eq!(table.get(0), Some('b'));
        assert_eq!(table.get(u128::MAX), Some('a'));
    }

    #[test]
    fn compact_format_round_trips() -> io::Result<()> {
        let table = RangeTable::build(vec![
            (0u128, 0, 7u32),
            (1 << 100, (1 << 101) - 1, 15_169),
            (u128::MAX - 5, u128::MAX, 4_200_000_000),
        ]);
        let bytes = encode(&table, 6, |v| v);
        let decoded = decode::<u128>(bytes.as_slice(), 6)?;
        assert_eq!(RangeTable::build(decoded), table);
        // The wrong family or a truncated file is refused.
        assert!(decode::<u128>(bytes.as_slice(), 4).is_err());
        assert!(decode::<u128>(&bytes[..bytes.len() - 1], 6).is_err());
        Ok(())
    }
}
