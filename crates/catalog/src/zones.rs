//! Availability Zone naming: the fixed rule that turns a zone ID
//! (`use1-az1`) into the zone name the catalog uses (`us-east-1a`).
//!
//! AWS maps zone names to zone IDs differently in every account, so no rule is
//! right for all accounts. This one is deterministic: zone `azN` of a region
//! gets the N-th letter.

/// The short region code that prefixes zone IDs: `us-east-1` → `use1`,
/// `ap-northeast-2` → `apne2`. `None` when the name does not look like
/// `<area>-<direction>-<number>` with a known direction.
pub fn region_zone_id_prefix(region: &str) -> Option<String> {
    let mut parts = region.split('-');
    let (area, direction, number) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let direction_code = match direction {
        "north" => "n",
        "south" => "s",
        "east" => "e",
        "west" => "w",
        "central" => "c",
        "northeast" => "ne",
        "northwest" => "nw",
        "southeast" => "se",
        "southwest" => "sw",
        _ => return None,
    };
    Some(format!("{area}{direction_code}{number}"))
}

/// The zone name for `zone_id` in `region`: `use1-az3` → `us-east-1c`.
/// `None` when the ID does not belong to the region or its number is not
/// 1..=26.
pub fn zone_name_for_id(region: &str, zone_id: &str) -> Option<String> {
    let prefix = region_zone_id_prefix(region)?;
    let number: u8 = zone_id
        .strip_prefix(prefix.as_str())?
        .strip_prefix("-az")?
        .parse()
        .ok()?;
    if !(1..=26).contains(&number) {
        return None;
    }
    let letter = char::from(b'a' + number - 1);
    Some(format!("{region}{letter}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_zone_ids_to_letters() {
        let cases = [
            ("us-east-1", "use1-az1", Some("us-east-1a")),
            ("us-east-1", "use1-az6", Some("us-east-1f")),
            ("ap-northeast-2", "apne2-az1", Some("ap-northeast-2a")),
            ("ap-northeast-2", "apne2-az4", Some("ap-northeast-2d")),
            ("ap-northeast-2", "use1-az1", None),
            ("us-east-1", "use1-az0", None),
            ("us-east-1", "use1-azx", None),
            ("moon-base-1", "mb1-az1", None),
        ];
        for (region, id, expected) in cases {
            assert_eq!(
                zone_name_for_id(region, id).as_deref(),
                expected,
                "{region} {id}"
            );
        }
    }
}
