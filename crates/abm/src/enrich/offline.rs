//! The offline provider: IP ranges to ASN and organization name, and IP ranges to country,
//! from public data.
//!
//! [`OfflineEnricher::embedded`] uses the data compiled into the binary, derived from the npm
//! packages `@ip-location-db/asn` (RouteViews, the five RIRs and DB-IP; CC BY 4.0) and
//! `@ip-location-db/geo-whois-asn-country` (NRO data, CC BY 4.0) by `data/refresh.sh`
//! (licenses and attribution in `data/NOTICE`). [`OfflineEnricher::from_files`] reads the
//! same datasets, or any in their CSV layout, from disk, for operators who refresh more often.
//!
//! The lookup is a binary search over sorted ranges (microseconds); loading takes a few hundred
//! milliseconds, so load once at start-up (off the async runtime) and share the result.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::IpAddr;
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::ranges::{self, IpNum, RangeTable};
use super::{EnrichError, Enricher, Enrichment, classify, is_public};

const EMBEDDED_ASN_V4: &[u8] = include_bytes!("../../data/asn-ipv4.bin.gz");
const EMBEDDED_ASN_V6: &[u8] = include_bytes!("../../data/asn-ipv6.bin.gz");
const EMBEDDED_COUNTRY_V4: &[u8] = include_bytes!("../../data/country-ipv4.bin.gz");
const EMBEDDED_COUNTRY_V6: &[u8] = include_bytes!("../../data/country-ipv6.bin.gz");
const EMBEDDED_NAMES: &[u8] = include_bytes!("../../data/asn-names.tsv.gz");

/// File names of the compact data set, as [`OfflineEnricher::write_compact`] writes them.
const ASN_V4_FILE: &str = "asn-ipv4.bin.gz";
const ASN_V6_FILE: &str = "asn-ipv6.bin.gz";
const COUNTRY_V4_FILE: &str = "country-ipv4.bin.gz";
const COUNTRY_V6_FILE: &str = "country-ipv6.bin.gz";
const NAMES_FILE: &str = "asn-names.tsv.gz";

type Country = [u8; 2];

/// IP-to-ASN/organization/country tables in memory.
pub struct OfflineEnricher {
    asn_v4: RangeTable<u32, u32>,
    asn_v6: RangeTable<u128, u32>,
    country_v4: RangeTable<u32, Country>,
    country_v6: RangeTable<u128, Country>,
    /// Organization names by ASN, sorted by ASN.
    names: Vec<(u32, Box<str>)>,
}

/// Sizes of the loaded tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineStats {
    /// IPv4 ranges with an ASN (after merging).
    pub asn_ranges_v4: usize,
    /// IPv6 ranges with an ASN.
    pub asn_ranges_v6: usize,
    /// IPv4 ranges with a country.
    pub country_ranges_v4: usize,
    /// IPv6 ranges with a country.
    pub country_ranges_v6: usize,
    /// Distinct ASNs with a name.
    pub org_names: usize,
    /// Approximate heap memory held, in bytes.
    pub heap_bytes: usize,
}

impl fmt::Debug for OfflineEnricher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfflineEnricher")
            .field("stats", &self.stats())
            .finish()
    }
}

impl OfflineEnricher {
    /// The data shipped with the crate (`data/*.gz`, about 3 MB compressed).
    pub fn embedded() -> Result<Self, EnrichError> {
        Ok(Self {
            asn_v4: decode_asns("embedded asn-ipv4", EMBEDDED_ASN_V4, 4)?,
            asn_v6: decode_asns("embedded asn-ipv6", EMBEDDED_ASN_V6, 6)?,
            country_v4: decode_countries("embedded country-ipv4", EMBEDDED_COUNTRY_V4, 4)?,
            country_v6: decode_countries("embedded country-ipv6", EMBEDDED_COUNTRY_V6, 6)?,
            names: decode_names("embedded asn-names", EMBEDDED_NAMES)?,
        })
    }

    /// Loads CSV files in the `@ip-location-db` layout, gzip-compressed if the name ends in
    /// `.gz`, IPv4 and IPv6 rows alike (e.g. `asn-ipv4.csv` and `asn-ipv6.csv`):
    ///
    /// - ASN files: `ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization`
    ///   (the number may be written `AS123`; AS0, "not routed", rows are skipped);
    /// - country files: `ip_range_start,ip_range_end,country_code` (rows whose code is not
    ///   two letters are skipped).
    ///
    /// Addresses must be in text form (the `-num` variants are not supported). A header row is
    /// skipped; overlapping ranges are resolved in favour of the most specific one.
    pub fn from_files<A: AsRef<Path>, C: AsRef<Path>>(
        asn_files: &[A],
        country_files: &[C],
    ) -> Result<Self, EnrichError> {
        let mut asn = Ranges::default();
        let mut names = HashMap::new();
        for path in asn_files {
            read_csv(path.as_ref(), |start, end, record| {
                let number = record.get(2).ok_or("no autonomous_system_number column")?;
                let number = number
                    .trim()
                    .trim_start_matches("AS")
                    .trim_start_matches("as");
                let number: u32 = number
                    .parse()
                    .map_err(|_| "autonomous_system_number is not a number")?;
                if number == 0 {
                    return Ok(());
                }
                if let Some(name) = record.get(3).map(clean_name).filter(|n| !n.is_empty()) {
                    names.insert(number, name);
                }
                asn.push(start, end, number)
            })?;
        }
        let mut country = Ranges::default();
        for path in country_files {
            read_csv(path.as_ref(), |start, end, record| {
                let code = record.get(2).ok_or("no country_code column")?;
                match parse_country(code) {
                    Some(code) => country.push(start, end, code),
                    None => Ok(()),
                }
            })?;
        }
        let mut names: Vec<(u32, Box<str>)> = names
            .into_iter()
            .map(|(asn, name)| (asn, name.into_boxed_str()))
            .collect();
        names.sort_unstable_by_key(|(asn, _)| *asn);
        Ok(Self {
            asn_v4: RangeTable::build(asn.v4),
            asn_v6: RangeTable::build(asn.v6),
            country_v4: RangeTable::build(country.v4),
            country_v6: RangeTable::build(country.v6),
            names,
        })
    }

    /// Writes the tables in the compact form [`OfflineEnricher::embedded`] reads
    /// (`data/refresh.sh` uses this through `examples/build_ip_data.rs`).
    pub fn write_compact(&self, dir: &Path) -> Result<(), EnrichError> {
        let to_u32 = |code: Country| u32::from(u16::from_be_bytes(code));
        write_gz(
            &dir.join(ASN_V4_FILE),
            &ranges::encode(&self.asn_v4, 4, |v| v),
        )?;
        write_gz(
            &dir.join(ASN_V6_FILE),
            &ranges::encode(&self.asn_v6, 6, |v| v),
        )?;
        write_gz(
            &dir.join(COUNTRY_V4_FILE),
            &ranges::encode(&self.country_v4, 4, to_u32),
        )?;
        write_gz(
            &dir.join(COUNTRY_V6_FILE),
            &ranges::encode(&self.country_v6, 6, to_u32),
        )?;
        let mut names = String::new();
        for (asn, name) in &self.names {
            names.push_str(&format!("{asn}\t{name}\n"));
        }
        write_gz(&dir.join(NAMES_FILE), names.as_bytes())
    }

    /// What the tables say about `ip`, synchronously (a binary search per table); `None` when
    /// the address is not [public](super::is_public) or in no range.
    pub fn lookup_sync(&self, ip: IpAddr) -> Option<Enrichment> {
        if !is_public(ip) {
            return None;
        }
        let (asn, country) = match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let key = u32::from(v4);
                (self.asn_v4.get(key), self.country_v4.get(key))
            }
            IpAddr::V6(v6) => {
                let key = u128::from(v6);
                (self.asn_v6.get(key), self.country_v6.get(key))
            }
        };
        if asn.is_none() && country.is_none() {
            return None;
        }
        let org_name = asn.and_then(|asn| self.org_name(asn)).map(str::to_owned);
        Some(Enrichment {
            asn,
            network: classify(asn, org_name.as_deref()),
            org_name,
            country: country.map(|code| String::from_utf8_lossy(&code).into_owned()),
            domain: None,
        })
    }

    /// The organization name registered for `asn`.
    pub fn org_name(&self, asn: u32) -> Option<&str> {
        let index = self.names.binary_search_by_key(&asn, |(a, _)| *a).ok()?;
        self.names.get(index).map(|(_, name)| &**name)
    }

    /// Table sizes and memory.
    pub fn stats(&self) -> OfflineStats {
        let names_bytes = self.names.capacity() * size_of::<(u32, Box<str>)>()
            + self.names.iter().map(|(_, n)| n.len()).sum::<usize>();
        OfflineStats {
            asn_ranges_v4: self.asn_v4.len(),
            asn_ranges_v6: self.asn_v6.len(),
            country_ranges_v4: self.country_v4.len(),
            country_ranges_v6: self.country_v6.len(),
            org_names: self.names.len(),
            heap_bytes: self.asn_v4.heap_bytes()
                + self.asn_v6.heap_bytes()
                + self.country_v4.heap_bytes()
                + self.country_v6.heap_bytes()
                + names_bytes,
        }
    }
}

#[async_trait::async_trait]
impl Enricher for OfflineEnricher {
    async fn lookup(&self, ip: IpAddr) -> Result<Option<Enrichment>, EnrichError> {
        Ok(self.lookup_sync(ip))
    }
}

/// Ranges collected from CSV rows, per family.
struct Ranges<V> {
    v4: Vec<(u32, u32, V)>,
    v6: Vec<(u128, u128, V)>,
}

impl<V> Default for Ranges<V> {
    fn default() -> Self {
        Self {
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

impl<V> Ranges<V> {
    fn push(&mut self, start: IpAddr, end: IpAddr, value: V) -> Result<(), &'static str> {
        match (start, end) {
            (IpAddr::V4(start), IpAddr::V4(end)) => self.v4.push((start.into(), end.into(), value)),
            (IpAddr::V6(start), IpAddr::V6(end)) => self.v6.push((start.into(), end.into(), value)),
            _ => return Err("the range mixes IPv4 and IPv6"),
        }
        Ok(())
    }
}

/// Calls `row` for each record of a headerless CSV whose first two columns are IP addresses.
/// A first record that does not start with an address is taken for a header.
fn read_csv(
    path: &Path,
    mut row: impl FnMut(IpAddr, IpAddr, &csv::StringRecord) -> Result<(), &'static str>,
) -> Result<(), EnrichError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| EnrichError::Io {
        path: shown.clone(),
        source,
    })?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|ext| ext == "gz") {
        Box::new(GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = csv::StringRecord::new();
    let mut number: u64 = 0;
    loop {
        let more = csv
            .read_record(&mut record)
            .map_err(|err| EnrichError::Data {
                path: shown.clone(),
                record: number + 1,
                reason: err.to_string(),
            })?;
        if !more {
            return Ok(());
        }
        number += 1;
        let data_error = |reason: &str| EnrichError::Data {
            path: shown.clone(),
            record: number,
            reason: reason.to_owned(),
        };
        let parse = |index: usize| record.get(index)?.trim().parse::<IpAddr>().ok();
        let (Some(start), Some(end)) = (parse(0), parse(1)) else {
            if number == 1 {
                continue;
            }
            return Err(data_error("the first two columns must be IP addresses"));
        };
        row(start, end, &record).map_err(data_error)?;
    }
}

fn decode_asns<K: IpNum>(
    what: &str,
    gz: &[u8],
    family: u8,
) -> Result<RangeTable<K, u32>, EnrichError> {
    let ranges = ranges::decode::<K>(GzDecoder::new(gz), family).map_err(|err| data(what, err))?;
    Ok(RangeTable::build(ranges))
}

fn decode_countries<K: IpNum>(
    what: &str,
    gz: &[u8],
    family: u8,
) -> Result<RangeTable<K, Country>, EnrichError> {
    let ranges = ranges::decode::<K>(GzDecoder::new(gz), family)
        .map_err(|err| data(what, err))?
        .into_iter()
        .map(|(start, end, value)| {
            let code = u16::try_from(value).ok().map(u16::to_be_bytes);
            match code.filter(|code| code.iter().all(u8::is_ascii_uppercase)) {
                Some(code) => Ok((start, end, code)),
                None => Err(data(what, "a country value is not two letters")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RangeTable::build(ranges))
}

fn decode_names(what: &str, gz: &[u8]) -> Result<Vec<(u32, Box<str>)>, EnrichError> {
    let mut text = String::new();
    GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|err| data(what, err))?;
    let mut names = text
        .lines()
        .map(|line| {
            let (asn, name) = line
                .split_once('\t')
                .ok_or_else(|| data(what, "a line has no tab"))?;
            let asn = asn
                .parse::<u32>()
                .map_err(|_| data(what, "an ASN is not a number"))?;
            Ok((asn, Box::from(name)))
        })
        .collect::<Result<Vec<_>, EnrichError>>()?;
    names.sort_unstable_by_key(|(asn, _)| *asn);
    Ok(names)
}

fn data(what: &str, reason: impl fmt::Display) -> EnrichError {
    EnrichError::Data {
        path: what.to_owned(),
        record: 0,
        reason: reason.to_string(),
    }
}

/// Organization names go into a tab-separated file: no tabs, newlines or padding.
fn clean_name(name: &str) -> String {
    name.split(|c: char| c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

fn parse_country(code: &str) -> Option<Country> {
    let code = code.trim().to_ascii_uppercase();
    match code.as_bytes() {
        &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some([a, b]),
        _ => None,
    }
}

fn write_gz(path: &Path, bytes: &[u8]) -> Result<(), EnrichError> {
    let io_error = |source: io::Error| EnrichError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut encoder = GzEncoder::new(File::create(path).map_err(io_error)?, Compression::best());
    encoder.write_all(bytes).map_err(io_error)?;
    encoder.finish().map_err(io_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::NetworkKind;
    use std::time::Instant;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn lookup(
        enricher: &OfflineEnricher,
        ip: &str,
    ) -> Result<Enrichment, Box<dyn std::error::Error>> {
        Ok(enricher
            .lookup_sync(ip.parse()?)
            .ok_or_else(|| format!("{ip} is not in the data"))?)
    }

    #[test]
    fn embedded_data_classifies_well_known_ipv4_networks() -> TestResult {
        let started = Instant::now();
        let enricher = OfflineEnricher::embedded()?;
        println!("loaded in {:?}: {:?}", started.elapsed(), enricher.stats());

        // AWS (AS14618, us-east-1 S3).
        let aws = lookup(&enricher, "3.5.0.1")?;
        assert_eq!((aws.asn, aws.network), (Some(14618), NetworkKind::Cloud));
        assert_eq!(aws.country.as_deref(), Some("US"));
        // Google public DNS.
        let google = lookup(&enricher, "8.8.8.8")?;
        assert_eq!(google.asn, Some(15169));
        assert_eq!(google.org_name.as_deref(), Some("Google LLC"));
        assert_eq!(google.network, NetworkKind::Cloud);
        // Cloudflare, Hetzner.
        assert_eq!(lookup(&enricher, "1.1.1.1")?.network, NetworkKind::Cloud);
        let hetzner = lookup(&enricher, "88.198.1.1")?;
        assert_eq!(
            (hetzner.network, hetzner.country.as_deref()),
            (NetworkKind::Cloud, Some("DE"))
        );
        // Comcast residential.
        let comcast = lookup(&enricher, "73.1.2.3")?;
        assert_eq!(
            (comcast.asn, comcast.network),
            (Some(7922), NetworkKind::Isp)
        );
        // Organizations with their own address space.
        let stanford = lookup(&enricher, "171.64.1.1")?;
        assert_eq!(stanford.asn, Some(32));
        assert_eq!(stanford.org_name.as_deref(), Some("Stanford University"));
        assert_eq!(stanford.network, NetworkKind::Company);
        assert_eq!(stanford.domain, None);
        let apple = lookup(&enricher, "17.253.144.10")?;
        assert_eq!(
            (apple.org_name.as_deref(), apple.network),
            (Some("Apple Inc."), NetworkKind::Company)
        );
        let bbc = lookup(&enricher, "212.58.244.1")?;
        assert_eq!(bbc.org_name.as_deref(), Some("BBC"));
        assert_eq!(
            (bbc.network, bbc.country.as_deref()),
            (NetworkKind::Company, Some("GB"))
        );
        // Private and documentation space is in no table.
        // (The upstream country data claims 192.168.0.0/16 is in Australia.)
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.5.4",
            "127.0.0.1",
            "203.0.113.7",
        ] {
            assert_eq!(enricher.lookup_sync(ip.parse()?), None, "{ip}");
        }
        Ok(())
    }

    #[test]
    fn embedded_data_covers_ipv6() -> TestResult {
        let enricher = OfflineEnricher::embedded()?;
        let google = lookup(&enricher, "2001:4860:4860::8888")?;
        assert_eq!(
            (google.asn, google.network),
            (Some(15169), NetworkKind::Cloud)
        );
        let wikimedia = lookup(&enricher, "2620:0:860:ed1a::1")?;
        assert_eq!(
            wikimedia.org_name.as_deref(),
            Some("Wikimedia Foundation Inc.")
        );
        assert_eq!(wikimedia.network, NetworkKind::Company);
        assert_eq!(wikimedia.country.as_deref(), Some("US"));
        let hetzner = lookup(&enricher, "2a01:4f8::1")?;
        assert_eq!(
            (hetzner.network, hetzner.country.as_deref()),
            (NetworkKind::Cloud, Some("DE"))
        );
        // An IPv4-mapped address is looked up as IPv4.
        assert_eq!(
            lookup(&enricher, "::ffff:73.1.2.3")?.network,
            NetworkKind::Isp
        );
        assert_eq!(enricher.lookup_sync("fd00::1".parse()?), None);
        assert_eq!(enricher.lookup_sync("::1".parse()?), None);
        Ok(())
    }

    #[tokio::test]
    async fn the_trait_answers_like_the_tables() -> TestResult {
        let enricher: Box<dyn Enricher> = Box::new(OfflineEnricher::embedded()?);
        let found = enricher.lookup("8.8.8.8".parse()?).await?;
        assert_eq!(found.and_then(|e| e.asn), Some(15169));
        assert_eq!(enricher.lookup("10.1.2.3".parse()?).await?, None);
        Ok(())
    }

    const ASN_CSV: &str = "\
ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization
1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"
5.0.0.0,5.0.255.255,64500,Acme Corp
5.0.1.0,5.0.1.255,64501,\"Acme Labs\tEurope\"
6.0.0.0,6.0.0.255,0,Not routed
2a00:1000::,2a00:1000:ffff:ffff:ffff:ffff:ffff:ffff,AS64502,Example Telecom
";

    const COUNTRY_CSV: &str = "\
1.0.0.0,1.0.0.255,AU
5.0.0.0,5.0.255.255,de
5.0.1.8,5.0.1.15,FR
5.0.2.0,5.0.2.255,ZZZ
2a00:1000::,2a00:1000:ffff:ffff:ffff:ffff:ffff:ffff,NL
";

    fn write(
        dir: &Path,
        name: &str,
        text: &str,
    ) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
        let path = dir.join(name);
        if name.ends_with(".gz") {
            write_gz(&path, text.as_bytes())?;
        } else {
            std::fs::write(&path, text)?;
        }
        Ok(path)
    }

    fn sample(dir: &Path) -> Result<OfflineEnricher, Box<dyn std::error::Error>> {
        let asn = write(dir, "asn.csv", ASN_CSV)?;
        let country = write(dir, "country.csv.gz", COUNTRY_CSV)?;
        Ok(OfflineEnricher::from_files(&[asn], &[country])?)
    }

    #[test]
    fn csv_files_load_with_headers_quotes_gzip_and_overlaps() -> TestResult {
        let dir = tempfile::tempdir()?;
        let enricher = sample(dir.path())?;
        let acme = lookup(&enricher, "5.0.0.9")?;
        assert_eq!(acme.org_name.as_deref(), Some("Acme Corp"));
        assert_eq!(
            (acme.network, acme.country.as_deref()),
            (NetworkKind::Company, Some("DE"))
        );
        // The nested, more specific ranges win.
        let labs = lookup(&enricher, "5.0.1.9")?;
        assert_eq!(labs.org_name.as_deref(), Some("Acme Labs Europe"));
        assert_eq!(labs.country.as_deref(), Some("FR"));
        assert_eq!(
            lookup(&enricher, "5.0.1.16")?.country.as_deref(),
            Some("DE")
        );
        // Back to the enclosing range after the nested one.
        assert_eq!(
            lookup(&enricher, "5.0.2.0")?.org_name.as_deref(),
            Some("Acme Corp")
        );
        // AS0 is skipped, and so is a malformed country code (the enclosing one stays).
        assert_eq!(enricher.lookup_sync("6.0.0.1".parse()?), None);
        assert_eq!(lookup(&enricher, "5.0.2.1")?.country.as_deref(), Some("DE"));
        let v6 = lookup(&enricher, "2a00:1000::42")?;
        assert_eq!((v6.asn, v6.network), (Some(64502), NetworkKind::Isp));
        assert_eq!(v6.country.as_deref(), Some("NL"));
        assert_eq!(lookup(&enricher, "1.0.0.1")?.network, NetworkKind::Cloud);
        assert_eq!(enricher.stats().org_names, 4);
        Ok(())
    }

    #[test]
    fn compact_files_round_trip() -> TestResult {
        let dir = tempfile::tempdir()?;
        let original = sample(dir.path())?;
        let out = tempfile::tempdir()?;
        original.write_compact(out.path())?;
        let read = |name: &str| std::fs::read(out.path().join(name));
        let reloaded = OfflineEnricher {
            asn_v4: decode_asns("asn v4", &read(ASN_V4_FILE)?, 4)?,
            asn_v6: decode_asns("asn v6", &read(ASN_V6_FILE)?, 6)?,
            country_v4: decode_countries("country v4", &read(COUNTRY_V4_FILE)?, 4)?,
            country_v6: decode_countries("country v6", &read(COUNTRY_V6_FILE)?, 6)?,
            names: decode_names("names", &read(NAMES_FILE)?)?,
        };
        assert_eq!(reloaded.asn_v4, original.asn_v4);
        assert_eq!(reloaded.asn_v6, original.asn_v6);
        assert_eq!(reloaded.country_v4, original.country_v4);
        assert_eq!(reloaded.country_v6, original.country_v6);
        assert_eq!(reloaded.names, original.names);
        Ok(())
    }

    #[test]
    fn bad_files_are_reported_with_their_place() -> TestResult {
        let dir = tempfile::tempdir()?;
        let none: &[&Path] = &[];
        let missing = OfflineEnricher::from_files(&[dir.path().join("nope.csv")], none);
        assert!(
            matches!(missing, Err(EnrichError::Io { .. })),
            "{missing:?}"
        );

        let bad_ip = write(
            dir.path(),
            "a.csv",
            "1.0.0.0,1.0.0.255,1,A\n1.0.1.0,oops,2,B\n",
        )?;
        let err = OfflineEnricher::from_files(&[bad_ip], none)
            .err()
            .ok_or("should fail")?;
        assert!(matches!(err, EnrichError::Data { record: 2, .. }), "{err}");

        let bad_asn = write(dir.path(), "b.csv", "1.0.0.0,1.0.0.255,x,A\n")?;
        let err = OfflineEnricher::from_files(&[bad_asn], none)
            .err()
            .ok_or("should fail")?;
        assert_eq!(
            err.to_string(),
            format!(
                "invalid IP data in {}, record 1: autonomous_system_number is not a number",
                dir.path().join("b.csv").display()
            )
        );

        let mixed = write(dir.path(), "c.csv", "1.0.0.0,2a00:1000::,1,A\n")?;
        assert!(OfflineEnricher::from_files(&[mixed], none).is_err());
        Ok(())
    }
}
