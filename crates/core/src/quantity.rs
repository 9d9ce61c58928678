//! Kubernetes resource quantities (`500m`, `1.5`, `4Gi`, `100Mi`, `1e3`, `128974848`) parsed
//! exactly into integers: CPU into millicores, everything else into whole units (bytes, pods,
//! devices), rounded up as the API server rounds requests.

use std::fmt;

/// A quantity held exactly as a count of thousandths of a unit ("milli-units").
///
/// `1` is `1000` milli-units, `500m` is `500`, `1Ki` is `1_024_000`. Every suffix Kubernetes
/// accepts is supported; fractions finer than a milli-unit round up, as the API server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    milli_units: i128,
}

/// Why a string is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is empty.
    #[error("failed to parse quantity: the value is empty")]
    Empty,
    /// The string does not follow the quantity grammar.
    #[error(
        "failed to parse quantity {input:?}: expected a number with an optional suffix (m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or exponent (1e3)"
    )]
    Syntax {
        /// The string that was given.
        input: String,
    },
    /// The value does not fit in Spotter's integer range.
    #[error("failed to parse quantity {input:?}: the value is too large")]
    TooLarge {
        /// The string that was given.
        input: String,
    },
}

impl Quantity {
    /// A quantity of whole units (`Quantity::from_units(2)` is `2`).
    pub const fn from_units(units: i64) -> Self {
        Self {
            milli_units: units as i128 * 1000,
        }
    }

    /// A quantity of milli-units (`Quantity::from_milli_units(500)` is `500m`).
    pub const fn from_milli_units(milli_units: i64) -> Self {
        Self {
            milli_units: milli_units as i128,
        }
    }

    /// Parses Kubernetes quantity syntax: a signed decimal number followed by either a binary
    /// suffix (`Ki` … `Ei`), a decimal suffix (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`) or a
    /// decimal exponent (`e3`, `E-2`).
    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let syntax = || QuantityError::Syntax {
            input: input.to_string(),
        };
        let too_large = || QuantityError::TooLarge {
            input: input.to_string(),
        };
        let (negative, unsigned) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = unsigned
            .find(|character: char| !(character.is_ascii_digit() || character == '.'))
            .unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(number_end);
        let (integer_digits, fraction_digits) = match number.split_once('.') {
            Some((integer, fraction)) => (integer, fraction),
            None => (number, ""),
        };
        if (integer_digits.is_empty() && fraction_digits.is_empty())
            || fraction_digits.contains('.')
        {
            return Err(syntax());
        }
        // mantissa = digits as an integer, scaled down by 10^fraction_len.
        let mut mantissa: i128 = 0;
        for digit in integer_digits.bytes().chain(fraction_digits.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|value| value.checked_add(i128::from(digit - b'0')))
                .ok_or_else(too_large)?;
        }
        let fraction_length = fraction_digits.len() as i32;
        // value = mantissa * 10^decimal_exponent * 2^binary_exponent, in units.
        let (decimal_exponent, binary_exponent): (i32, u32) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            exponent if exponent.starts_with(['e', 'E']) => {
                let value: i32 = exponent[1..].parse().map_err(|_| syntax())?;
                if !(-30..=30).contains(&value) {
                    return Err(too_large());
                }
                (value, 0)
            }
            _ => return Err(syntax()),
        };
        // milli-units = mantissa * 2^binary * 10^(decimal + 3 - fraction_length), rounded up.
        let scaled = mantissa
            .checked_mul(1i128 << binary_exponent)
            .ok_or_else(too_large)?;
        let power = decimal_exponent + 3 - fraction_length;
        let milli_units = if power >= 0 {
            10i128
                .checked_pow(power as u32)
                .and_then(|factor| scaled.checked_mul(factor))
                .ok_or_else(too_large)?
        } else {
            let divisor = 10i128.checked_pow((-power) as u32).ok_or_else(too_large)?;
            (scaled + divisor - 1) / divisor
        };
        if milli_units > i128::from(i64::MAX) {
            return Err(too_large());
        }
        Ok(Self {
            milli_units: if negative { -milli_units } else { milli_units },
        })
    }

    /// The value in milli-units (CPU in millicores).
    pub fn milli_units(self) -> i64 {
        self.milli_units as i64
    }

    /// The value in whole units, rounded up (memory in bytes, pods, devices).
    pub fn units_rounded_up(self) -> i64 {
        let units = self.milli_units.div_euclid(1000);
        let remainder = self.milli_units.rem_euclid(1000);
        (if remainder > 0 { units + 1 } else { units }) as i64
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.milli_units % 1000 == 0 {
            write!(formatter, "{}", self.milli_units / 1000)
        } else {
            write!(formatter, "{}m", self.milli_units)
        }
    }
}

/// Formats a byte count the way a person reads memory (`512Mi`, `4Gi`, `1536Mi`).
pub fn format_bytes(bytes: i64) -> String {
    const UNITS: [(&str, i64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (suffix, size) in UNITS {
        if bytes != 0 && bytes % size == 0 {
            return format!("{}{suffix}", bytes / size);
        }
    }
    if bytes >= 1 << 20 {
        return format!("{}Mi", (bytes + (1 << 20) - 1) >> 20);
    }
    bytes.to_string()
}

/// Formats millicores the way a person reads CPU (`500m`, `2`).
pub fn format_millicores(millicores: i64) -> String {
    Quantity::from_milli_units(millicores).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_suffix_exactly() {
        let cases: &[(&str, i64)] = &[
            ("500m", 500),
            ("1.5", 1_500),
            ("2", 2_000),
            ("0.1", 100),
            ("1e3", 1_000_000),
            ("1E-3", 1),
            ("128974848", 128_974_848_000),
            ("1k", 1_000_000),
            ("1Ki", 1_024_000),
            ("4Gi", 4 * (1 << 30) * 1000),
            ("100Mi", 100 * (1 << 20) * 1000),
            ("1.5Gi", 1_610_612_736_000),
            ("+3", 3_000),
            ("-2", -2_000),
            ("250000000n", 250),
            ("250000n", 1),
            ("1u", 1),
            (".5", 500),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Quantity::parse(input).map(Quantity::milli_units),
                Ok(*expected),
                "{input}"
            );
        }
    }

    #[test]
    fn rounds_sub_milli_fractions_up() {
        assert_eq!(Quantity::parse("1n").map(Quantity::milli_units), Ok(1));
        assert_eq!(Quantity::parse("0.0001").map(Quantity::milli_units), Ok(1));
        assert_eq!(
            Quantity::parse("100m").map(Quantity::units_rounded_up),
            Ok(1)
        );
        assert_eq!(
            Quantity::parse("4Gi").map(Quantity::units_rounded_up),
            Ok(1 << 32)
        );
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for input in [
            "",
            "abc",
            "1.2.3",
            "5 Gi",
            "1Gb",
            "e3",
            "1ee3",
            "--1",
            "1e99",
            "99999999999999999999999Ei",
        ] {
            assert!(
                Quantity::parse(input).is_err(),
                "{input:?} should not parse"
            );
        }
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_bytes(4 << 30), "4Gi");
        assert_eq!(format_bytes(1536 << 20), "1536Mi");
        assert_eq!(format_millicores(1500), "1500m");
        assert_eq!(format_millicores(2000), "2");
    }
}
