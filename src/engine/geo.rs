//! Countries (ISO 3166-1 alpha-2) and the regions the heat map reports.

use std::collections::HashMap;
use std::sync::OnceLock;

pub const REGIONS: [&str; 6] = [
    "North America",
    "South America",
    "Europe",
    "Asia",
    "Africa",
    "Oceania",
];

// Central America and the Caribbean count as North America, the usual continental split;
// Russia and Turkey as Europe, the Caucasus and Cyprus as Asia, as the UN geoscheme does.
const NORTH_AMERICA: &str = "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI PA PM PR SV SX TC TT US VC VG VI UM";
const SOUTH_AMERICA: &str = "AR BO BR CL CO EC FK GF GY PE PY SR UY VE GS";
const EUROPE: &str = "AD AL AT AX BA BE BG BY CH CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM TR UA VA XK";
const ASIA: &str = "AE AF AM AZ BD BH BN BT CC CN CX CY GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TW UZ VN YE";
const AFRICA: &str = "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW";
const OCEANIA: &str =
    "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV VU WF WS HM AQ BV TF";

/// The region of a country code (case-insensitive), or `None` for an unknown code.
pub fn region_of(country: &str) -> Option<&'static str> {
    static BY_CODE: OnceLock<HashMap<[u8; 2], &'static str>> = OnceLock::new();
    let table = BY_CODE.get_or_init(|| {
        [NORTH_AMERICA, SOUTH_AMERICA, EUROPE, ASIA, AFRICA, OCEANIA]
            .into_iter()
            .zip(REGIONS)
            .flat_map(|(codes, region)| {
                codes.split(' ').map(move |c| {
                    let b = c.as_bytes();
                    ([b[0], b[1]], region)
                })
            })
            .collect()
    });
    match country.as_bytes() {
        [a, b] => table
            .get(&[a.to_ascii_uppercase(), b.to_ascii_uppercase()])
            .copied(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_countries_map_to_their_continent() {
        assert_eq!(region_of("US"), Some("North America"));
        assert_eq!(region_of("br"), Some("South America"));
        assert_eq!(region_of("DE"), Some("Europe"));
        assert_eq!(region_of("JP"), Some("Asia"));
        assert_eq!(region_of("NG"), Some("Africa"));
        assert_eq!(region_of("AU"), Some("Oceania"));
        assert_eq!(region_of("ZZ"), None);
        assert_eq!(region_of("USA"), None);
    }

    #[test]
    fn every_listed_code_belongs_to_exactly_one_region() {
        let all = [NORTH_AMERICA, SOUTH_AMERICA, EUROPE, ASIA, AFRICA, OCEANIA].join(" ");
        let mut codes: Vec<&str> = all.split(' ').collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "a code is listed twice");
        assert!(n >= 245, "only {n} codes");
    }
}
