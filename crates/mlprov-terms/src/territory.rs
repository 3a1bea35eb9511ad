//! Territories: ISO 3166-1 alpha-2 country codes and the groups `EU` and `EEA`.

/// Every officially assigned ISO 3166-1 alpha-2 code.
const ISO_3166_1: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL \
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO \
DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM \
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR \
LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL \
NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ \
SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA \
VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// The 27 member states of the European Union.
pub const EU: [&str; 27] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// The EEA members outside the EU.
const EEA_EXTRA: [&str; 3] = ["IS", "LI", "NO"];

/// True for an ISO 3166-1 alpha-2 code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && ISO_3166_1.split(' ').any(|c| c == code)
}

/// True for a country code or a group name this crate knows.
pub fn is_territory(code: &str) -> bool {
    code == "EU" || code == "EEA" || is_country(code)
}

/// The countries a territory stands for: a group expands to its members.
pub fn expand(code: &str) -> Vec<&str> {
    match code {
        "EU" => EU.to_vec(),
        "EEA" => EU.iter().chain(EEA_EXTRA.iter()).copied().collect(),
        other => vec![other],
    }
}

/// The entry of `list` that covers `country` (itself, or a group holding it).
pub fn covered_by<'a>(list: &'a [String], country: &str) -> Option<&'a str> {
    list.iter()
        .find(|t| expand(t).contains(&country))
        .map(String::as_str)
}

/// True when `country` lies in the EU or the EEA (where the GDPR applies).
pub fn in_eea(country: &str) -> bool {
    expand("EEA").contains(&country)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_groups() {
        assert_eq!(ISO_3166_1.split(' ').count(), 249);
        assert!(is_country("FR") && is_country("US") && !is_country("XX") && !is_country("EU"));
        assert!(is_territory("EEA"));
        let list = vec!["US".to_string(), "EU".to_string()];
        assert_eq!(covered_by(&list, "DE"), Some("EU"));
        assert_eq!(covered_by(&list, "NO"), None);
        assert!(in_eea("NO") && !in_eea("CH"));
    }
}
