#!/usr/bin/env bash
# Regenerates the embedded IP data (see NOTICE) from the @ip-location-db npm packages.
#
#   crates/abm/data/refresh.sh              # fetch the latest packages with npm
#   crates/abm/data/refresh.sh DIR          # use CSV files already in DIR (asn-ipv4.csv,
#                                           # asn-ipv6.csv, geo-whois-asn-country-ipv4.csv,
#                                           # geo-whois-asn-country-ipv6.csv), e.g. from the
#                                           # project's GitHub releases
#
# Needs npm (first form), cargo. Overwrites the *.gz files and SOURCE next to this script;
# review the size and the tests (`cargo nextest run -p abm`) before committing.
set -euo pipefail

data_dir="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ $# -ge 1 ]]; then
    src="$(cd "$1" && pwd)"
    source_note="CSV files from $src"
else
    (cd "$work" && npm pack --silent @ip-location-db/asn @ip-location-db/geo-whois-asn-country >packed.txt)
    for tarball in "$work"/*.tgz; do
        tar -xzf "$tarball" -C "$work" --strip-components=1 --wildcards 'package/*.csv'
    done
    src="$work"
    source_note="npm: $(tr '\n' ' ' <"$work/packed.txt")"
fi

for f in asn-ipv4.csv asn-ipv6.csv geo-whois-asn-country-ipv4.csv geo-whois-asn-country-ipv6.csv; do
    [[ -f "$src/$f" ]] || { echo "missing $src/$f" >&2; exit 1; }
done

cd "$data_dir"
cargo run --quiet --release -p abm --example build_ip_data -- "$data_dir" \
    --asn "$src/asn-ipv4.csv" "$src/asn-ipv6.csv" \
    --country "$src/geo-whois-asn-country-ipv4.csv" "$src/geo-whois-asn-country-ipv6.csv"

printf 'Source: %s\nGenerated: %s\n' "$source_note" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$data_dir/SOURCE"
ls -l "$data_dir"/*.gz
