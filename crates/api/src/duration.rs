//! Durations as Karpenter writes them (`30s`, `5m`, `720h`, `1h30m`, `Never`).

use std::time::Duration;

/// Parses a Go-style duration made of integer `h`, `m` and `s` parts (`1h30m`, `90s`, `0s`).
/// Returns `Ok(None)` for `Never` when `allow_never`.
pub fn parse(text: &str, allow_never: bool) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text == "Never" {
        return if allow_never {
            Ok(None)
        } else {
            Err("\"Never\" is not allowed here".to_string())
        };
    }
    let expected = || {
        format!(
            "{text:?} is not a duration: expected whole hours, minutes and seconds such as 30s, 5m, 1h30m or 720h{}",
            if allow_never { ", or Never" } else { "" }
        )
    };
    seconds(text, false)
        .map(|total| Some(Duration::from_secs(total)))
        .ok_or_else(expected)
}

/// The seconds in a duration made of whole numbers each followed by a unit, `h`, `m` or `s`
/// (and `d` for 24 hours when `allow_days`); `None` when the text is not such a duration or
/// overflows.
pub fn seconds(text: &str, allow_days: bool) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for character in text.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        let unit = match character {
            'd' if allow_days => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let value: u64 = digits.parse().ok()?;
        total = value
            .checked_mul(unit)
            .and_then(|seconds| total.checked_add(seconds))?;
        digits.clear();
    }
    digits.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_karpenter_durations() {
        // `None`: an error; `Some(None)`: Never; `Some(Some(seconds))`.
        let cases: &[(&str, bool, Option<Option<u64>>)] = &[
            ("30s", false, Some(Some(30))),
            ("5m", false, Some(Some(300))),
            ("720h", false, Some(Some(2_592_000))),
            ("1h30m", false, Some(Some(5_400))),
            ("0s", false, Some(Some(0))),
            ("Never", true, Some(None)),
            ("Never", false, None),
            ("", false, None),
            ("10", false, None),
            ("1d", false, None),
            ("1.5h", false, None),
            ("h", false, None),
        ];
        for (text, allow_never, expected) in cases {
            let parsed = parse(text, *allow_never)
                .ok()
                .map(|duration| duration.map(|value| value.as_secs()));
            assert_eq!(&parsed, expected, "{text}");
        }
    }
}
