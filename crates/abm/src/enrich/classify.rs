//! Which kind of network an address belongs to, from its ASN and organization name.
//!
//! Only a [`NetworkKind::Company`] network may be attributed to a company: a visit from a
//! residential ISP, a mobile carrier or a cloud/hosting/CDN/VPN range says nothing about the
//! visitor's employer. So the classifier leans towards "not a company":
//!
//! 1. curated lists of well-known ASNs (cloud and hosting, mobile carriers, ISPs) decide first;
//! 2. then keywords in the organization name ("hosting", "cloud", "mobile", "telecom",
//!    "broadband", "communications", ...). **This is a heuristic**: it misses small ISPs with
//!    plain names and misfiles the odd company whose name contains a keyword (a company named
//!    "... Communications" is never attributed). The safe direction is deliberate;
//! 3. anything else with a name is a company; with neither ASN nor name it is unknown.

use super::NetworkKind;

/// Cloud, hosting, CDN and secure-proxy networks: their addresses front somebody else's
/// traffic. Grouped by operator; the names are only for the reader.
const CLOUD_ASNS: &[(&str, &[u32])] = &[
    ("Amazon / AWS", &[16509, 14618, 8987, 7224, 38895]),
    (
        "Google / Google Cloud",
        &[
            15169, 396982, 19527, 36040, 36384, 36492, 43515, 139070, 139190,
        ],
    ),
    (
        "Microsoft / Azure",
        &[8075, 8068, 8069, 8070, 8071, 12076, 3598],
    ),
    ("Cloudflare", &[13335, 209242, 132892]),
    ("DigitalOcean", &[14061, 62567, 200130, 202018]),
    ("OVH", &[16276, 35540]),
    ("Hetzner", &[24940, 213230, 212317]),
    (
        "Akamai / Linode",
        &[
            63949, 20940, 16625, 12222, 21342, 32787, 33905, 35994, 18680,
        ],
    ),
    ("Oracle Cloud", &[31898]),
    ("Alibaba Cloud", &[45102, 37963, 24429, 134963]),
    ("Tencent Cloud", &[132203, 45090]),
    ("Huawei Cloud", &[136907, 55990]),
    ("IBM Cloud", &[36351]),
    ("Vultr", &[20473]),
    ("Fastly", &[54113]),
    ("Scaleway", &[12876]),
    ("Contabo", &[51167, 40021]),
    ("Leaseweb", &[60781, 16265, 28753, 59253, 7203, 30633]),
    ("Rackspace", &[27357, 19994, 33070]),
    ("Hostinger", &[47583, 204915]),
    ("GoDaddy", &[26496, 398101]),
    ("IONOS, Strato", &[8560, 6724]),
    ("Equinix Metal, Kamatera, UpCloud", &[54825, 36007, 202053]),
    ("VPN and hosting egress (M247, Datacamp)", &[9009, 60068]),
    (
        "QuadraNet, ColoCrossing, Psychz, Servers.com",
        &[8100, 36352, 40676, 7979],
    ),
    ("G-Core, Selectel", &[199524, 49505]),
    ("Zscaler (corporate proxy egress)", &[53813, 62044, 22616]),
];

/// Mobile carriers.
const MOBILE_ASNS: &[(&str, &[u32])] = &[
    ("T-Mobile USA", &[21928]),
    ("Verizon Wireless", &[6167, 22394]),
    ("AT&T Mobility", &[20057]),
    ("Sprint", &[10507]),
    ("EE, O2 UK, Three UK", &[12576, 35228, 206067]),
    ("Reliance Jio, Bharti Airtel mobile", &[55836, 45609]),
    ("China Mobile", &[9808]),
    ("Telkomsel", &[23693]),
    ("Safaricom", &[33771]),
];

/// Internet service providers (mostly residential; some transit).
const ISP_ASNS: &[(&str, &[u32])] = &[
    (
        "Comcast",
        &[
            7922, 7015, 7725, 33491, 33650, 33651, 33657, 33659, 33660, 33662, 33667, 33668,
        ],
    ),
    (
        "Charter / Spectrum",
        &[
            20115, 11427, 10796, 11351, 12271, 20001, 33363, 7843, 11426, 10838,
        ],
    ),
    ("Cox", &[22773]),
    ("AT&T", &[7018, 6389]),
    ("Verizon", &[701, 702]),
    ("Lumen / CenturyLink / Level 3", &[209, 3356, 22561]),
    ("Frontier, Windstream, Mediacom", &[5650, 7029, 30036]),
    ("Optimum, Suddenlink, WOW, RCN", &[6128, 19108, 12083, 6079]),
    ("Sonic, Google Fiber, Cable One", &[46375, 16591, 11492]),
    (
        "Rogers, Bell, Telus, Shaw, Videotron",
        &[812, 577, 852, 6327, 5769],
    ),
    (
        "BT, Sky, Virgin Media, TalkTalk, Vodafone UK",
        &[2856, 6871, 5607, 5089, 13285, 5378],
    ),
    (
        "Deutsche Telekom, Vodafone DE, Telefonica DE",
        &[3320, 3209, 6805],
    ),
    ("1&1 Versatel, NetCologne, M-net", &[8881, 8422, 8767]),
    ("Orange, Free, SFR, Bouygues", &[3215, 12322, 15557, 5410]),
    (
        "Telefonica ES, Orange ES, Vodafone ES",
        &[3352, 12479, 12430],
    ),
    (
        "TIM, Fastweb, Wind Tre, Vodafone IT",
        &[3269, 12874, 1267, 30722],
    ),
    (
        "KPN, VodafoneZiggo, Proximus, Telenet",
        &[1136, 33915, 5432, 6848],
    ),
    ("Swisscom, Sunrise", &[3303, 6730]),
    ("Telia, Arelion, Telenor", &[3301, 1299, 2119]),
    ("NTT, KDDI, SoftBank", &[4713, 2516, 17676]),
    ("KT, SK Broadband, LG U+", &[4766, 9318, 3786]),
    ("Chinanet, China Unicom", &[4134, 4837]),
    ("BSNL, Bharti Airtel", &[9829, 24560, 9498]),
    ("Telstra, Optus, TPG", &[1221, 4804, 7545]),
    ("Claro, Vivo, Telmex", &[28573, 18881, 26599, 8151]),
];

fn listed(groups: &[(&str, &[u32])], asn: u32) -> bool {
    groups.iter().any(|(_, asns)| asns.contains(&asn))
}

/// Keywords matched against whole words of the lowercased name, in this order of precedence.
/// `PREFIX` entries match the start of a word (`telecom` matches `telecommunications`).
struct Keywords {
    words: &'static [&'static str],
    prefixes: &'static [&'static str],
    phrases: &'static [&'static str],
}

const CLOUD_KEYWORDS: Keywords = Keywords {
    words: &[
        "vps",
        "colo",
        "colocation",
        "cdn",
        "server",
        "servers",
        "dedicated",
        "datacenter",
        "datacentre",
        "datacenters",
        "vpn",
        "proxy",
        "amazon",
        "aws",
        "google",
        "azure",
        "alibaba",
        "aliyun",
        "tencent",
        "digitalocean",
        "linode",
        "hetzner",
        "ovh",
        "ovhcloud",
        "vultr",
        "choopa",
        "leaseweb",
        "contabo",
        "scaleway",
        "fastly",
        "akamai",
        "zscaler",
        "rackspace",
        "softlayer",
        "ionos",
        "godaddy",
    ],
    prefixes: &["hosting", "host", "cloud"],
    phrases: &[
        "data center",
        "data centre",
        "web services",
        "virtual private",
    ],
};

const MOBILE_KEYWORDS: Keywords = Keywords {
    words: &[
        "mobile",
        "mobility",
        "mobilfunk",
        "movil",
        "móvil",
        "cellular",
        "wireless",
        "lte",
        "gsm",
        "3g",
        "4g",
        "5g",
    ],
    prefixes: &[],
    phrases: &[],
};

const ISP_KEYWORDS: Keywords = Keywords {
    words: &[
        "isp",
        "dsl",
        "adsl",
        "ftth",
        "fiber",
        "fibre",
        "cable",
        "cablevision",
        "broadband",
        "residential",
        "telephone",
        "telephony",
        "comcast",
        "verizon",
        "vodafone",
        "telefonica",
        "movistar",
        "swisscom",
        "telstra",
        "centurylink",
        "airtel",
    ],
    prefixes: &[
        "telecom",
        "telekom",
        "telco",
        "telefon",
        "communication",
        "telecable",
    ],
    phrases: &[
        "internet service",
        "internet provider",
        "internet access",
        "at&t",
        "level 3",
    ],
};

/// The kind of network behind `asn` / `org_name` (see the module docs).
pub fn classify(asn: Option<u32>, org_name: Option<&str>) -> NetworkKind {
    if let Some(asn) = asn {
        if listed(CLOUD_ASNS, asn) {
            return NetworkKind::Cloud;
        }
        if listed(MOBILE_ASNS, asn) {
            return NetworkKind::Mobile;
        }
        if listed(ISP_ASNS, asn) {
            return NetworkKind::Isp;
        }
    }
    let Some(name) = org_name.map(str::trim).filter(|name| !name.is_empty()) else {
        return NetworkKind::Unknown;
    };
    let normalized = normalize(name);
    let words: Vec<&str> = normalized.split(' ').filter(|w| !w.is_empty()).collect();
    let padded = format!(" {} ", words.join(" "));
    for (keywords, kind) in [
        (&CLOUD_KEYWORDS, NetworkKind::Cloud),
        (&MOBILE_KEYWORDS, NetworkKind::Mobile),
        (&ISP_KEYWORDS, NetworkKind::Isp),
    ] {
        let hit = words.iter().any(|word| {
            keywords.words.contains(word) || keywords.prefixes.iter().any(|p| word.starts_with(p))
        }) || keywords
            .phrases
            .iter()
            .any(|phrase| padded.contains(&format!(" {phrase} ")));
        if hit {
            return kind;
        }
    }
    NetworkKind::Company
}

/// Lowercase, with everything but letters, digits and `&` turned into spaces
/// (`"T-Mobile USA, Inc."` becomes `"t mobile usa  inc "`).
fn normalize(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_alphanumeric() || c == '&' {
                c
            } else {
                ' '
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curated_asns_decide_first() {
        // Even with a neutral or missing name.
        assert_eq!(
            classify(Some(16509), Some("Amazon.com, Inc.")),
            NetworkKind::Cloud
        );
        assert_eq!(classify(Some(15169), None), NetworkKind::Cloud);
        assert_eq!(
            classify(Some(7922), Some("Comcast Cable Communications, LLC")),
            NetworkKind::Isp
        );
        assert_eq!(classify(Some(3215), Some("Orange S.A.")), NetworkKind::Isp);
        assert_eq!(
            classify(Some(21928), Some("T-Mobile USA, Inc.")),
            NetworkKind::Mobile
        );
        assert_eq!(
            classify(Some(2856), Some("British Telecommunications PLC")),
            NetworkKind::Isp
        );
    }

    #[test]
    fn names_are_a_heuristic_fallback() {
        let by_name = |name: &str| classify(Some(4_200_000_001), Some(name));
        assert_eq!(by_name("Example Hosting Ltd"), NetworkKind::Cloud);
        assert_eq!(by_name("HostPapa"), NetworkKind::Cloud);
        assert_eq!(by_name("SuperCloud GmbH"), NetworkKind::Company); // a word must start with it
        assert_eq!(by_name("Cloud Innovation Ltd"), NetworkKind::Cloud);
        assert_eq!(by_name("Acme Data Center LLC"), NetworkKind::Cloud);
        assert_eq!(by_name("Metro Mobile Networks"), NetworkKind::Mobile);
        assert_eq!(by_name("Rural Wireless Co-op"), NetworkKind::Mobile);
        assert_eq!(by_name("Deutsche Telekom AG"), NetworkKind::Isp);
        assert_eq!(by_name("Telecomunicacoes do Brasil"), NetworkKind::Isp);
        assert_eq!(by_name("Sample Broadband Inc"), NetworkKind::Isp);
        assert_eq!(by_name("Cox Communications Inc."), NetworkKind::Isp);
        assert_eq!(by_name("AT&T Enterprises, LLC"), NetworkKind::Isp);
        assert_eq!(by_name("Acme Internet Service Provider"), NetworkKind::Isp);
        // Plain company names.
        assert_eq!(by_name("Stanford University"), NetworkKind::Company);
        assert_eq!(by_name("Apple Inc."), NetworkKind::Company);
        assert_eq!(by_name("Exxon Mobil Corporation"), NetworkKind::Company);
        assert_eq!(by_name("Crisp Foods"), NetworkKind::Company); // "isp" is a whole word only
    }

    #[test]
    fn no_asn_is_in_two_lists() {
        let all: Vec<u32> = [CLOUD_ASNS, MOBILE_ASNS, ISP_ASNS]
            .iter()
            .flat_map(|groups| groups.iter().flat_map(|(_, asns)| asns.iter().copied()))
            .collect();
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
    }

    #[test]
    fn nothing_known_is_unknown() {
        assert_eq!(classify(None, None), NetworkKind::Unknown);
        assert_eq!(classify(Some(64_512), Some("  ")), NetworkKind::Unknown);
        assert_eq!(classify(None, Some("NASA")), NetworkKind::Company);
    }
}
