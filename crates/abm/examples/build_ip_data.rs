//! Converts `@ip-location-db` CSV files into the compact files embedded by
//! `OfflineEnricher::embedded` (run by `data/refresh.sh`).
//!
//! ```text
//! cargo run -p abm --release --example build_ip_data -- <out-dir> \
//!     --asn asn-ipv4.csv asn-ipv6.csv --country country-ipv4.csv country-ipv6.csv
//! ```

use std::path::PathBuf;
use std::time::Instant;

use abm::enrich::OfflineEnricher;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: build_ip_data <out-dir> --asn FILE... --country FILE...")?,
    );
    let (mut asn, mut country) = (Vec::new(), Vec::new());
    let mut target = None;
    for arg in args {
        match arg.as_str() {
            "--asn" => target = Some(&mut asn),
            "--country" => target = Some(&mut country),
            file => target
                .as_mut()
                .ok_or("files must follow --asn or --country")?
                .push(PathBuf::from(file)),
        }
    }
    let started = Instant::now();
    let enricher = OfflineEnricher::from_files(&asn, &country)?;
    println!(
        "read the CSV files in {:?}: {:?}",
        started.elapsed(),
        enricher.stats()
    );
    enricher.write_compact(&out)?;
    let started = Instant::now();
    let embedded = OfflineEnricher::embedded()?;
    println!(
        "(the data compiled into this binary loads in {:?}: {:?})",
        started.elapsed(),
        embedded.stats()
    );
    println!("wrote {}", out.display());
    Ok(())
}
