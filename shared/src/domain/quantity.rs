//! Kubernetes resource quantities (`500m`, `4`, `16Gi`, `1.5e3`), parsed with the full grammar of
//! `k8s.io/apimachinery/pkg/api/resource`. The caller's spelling is kept for display; the value
//! is kept in nano-units (rounded up, saturating) for comparisons.
//!
//! ```text
//! quantity ::= signedNumber suffix
//! number   ::= digits | digits "." digits | digits "." | "." digits
//! suffix   ::= binarySI (Ki Mi Gi Ti Pi Ei) | decimalSI (n u m "" k M G T P E)
//!            | ("e" | "E") signedInteger
//! ```

use std::{cmp::Ordering, fmt, str::FromStr};

/// Largest magnitude, in nano-units: k8s caps quantities at 2^63-1.
const MAX_NANOS: i128 = (i64::MAX as i128) * 1_000_000_000;

/// A parsed Kubernetes quantity.
#[derive(Debug, Clone)]
pub struct Quantity {
    raw: String,
    nanos: i128,
}

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The empty string.
    #[error("quantity must not be empty")]
    Empty,
    /// Anything else that does not follow the grammar.
    #[error("{0:?} is not a Kubernetes quantity (expected a number with an optional suffix such as 500m, 4 or 16Gi)")]
    Invalid(String),
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Scales `mantissa × 10^exp10 × 2^exp2` to nano-units, rounding up and saturating.
fn to_nanos(mantissa: u128, exp10: i64, exp2: u32) -> i128 {
    if mantissa == 0 {
        return 0;
    }
    let cap = MAX_NANOS as u128;
    let mut value = mantissa;
    // Apply the binary factor first (it never needs rounding).
    for _ in 0..exp2 {
        value = value.saturating_mul(2);
        if value > cap {
            return MAX_NANOS;
        }
    }
    let e = exp10 + 9;
    if e >= 0 {
        for _ in 0..e.min(60) {
            value = value.saturating_mul(10);
            if value > cap {
                return MAX_NANOS;
            }
        }
    } else {
        let mut rounded_up = false;
        for _ in 0..(-e).min(60) {
            if !value.is_multiple_of(10) {
                rounded_up = true;
            }
            value /= 10;
            if value == 0 {
                break;
            }
        }
        if e < -60 && value != 0 {
            value = 0;
            rounded_up = true;
        }
        if rounded_up {
            value += 1;
        }
    }
    value.min(cap) as i128
}

impl Quantity {
    /// Parses a quantity.
    ///
    /// # Errors
    /// [`QuantityError`] when `s` does not follow the grammar.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let bad = || QuantityError::Invalid(s.to_string());
        let (negative, rest) = match s.as_bytes()[0] {
            b'+' => (false, &s[1..]),
            b'-' => (true, &s[1..]),
            _ => (false, s),
        };
        // The number is the longest prefix of digits and at most one '.'.
        let num_len = rest
            .bytes()
            .position(|b| !(b.is_ascii_digit() || b == b'.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(num_len);
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(bad());
        }
        if !(int_part.is_empty() || is_digits(int_part))
            || !(frac_part.is_empty() || is_digits(frac_part))
        {
            return Err(bad());
        }
        let (exp10, exp2): (i64, u32) = match suffix {
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
            _ => {
                let exp = suffix
                    .strip_prefix('e')
                    .or_else(|| suffix.strip_prefix('E'))
                    .ok_or_else(bad)?;
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if !is_digits(digits) {
                    return Err(bad());
                }
                // Anything beyond ±10^6 saturates or vanishes either way.
                let magnitude: i64 = if digits.len() > 7 {
                    10_000_000
                } else {
                    digits.parse().map_err(|_| bad())?
                };
                (
                    if exp.starts_with('-') {
                        -magnitude
                    } else {
                        magnitude
                    },
                    0,
                )
            }
        };
        // Mantissa = int_part ++ frac_part, with the decimal point moved into exp10. Leading
        // zeros are dropped and digits beyond what can matter only set a round-up.
        let digits: String = format!("{int_part}{frac_part}");
        let trimmed = digits.trim_start_matches('0');
        let mut exp10 = exp10 - frac_part.len() as i64;
        let (kept, dropped) = if trimmed.len() > 36 {
            trimmed.split_at(36)
        } else {
            (trimmed, "")
        };
        exp10 += dropped.len() as i64;
        let mut mantissa: u128 = if kept.is_empty() {
            0
        } else {
            kept.parse().map_err(|_| bad())?
        };
        if dropped.bytes().any(|b| b != b'0') {
            // Keep the round-up: a dropped non-zero tail makes the value strictly larger.
            mantissa = mantissa.saturating_mul(10).saturating_add(1);
            exp10 -= 1;
        }
        let magnitude = to_nanos(mantissa, exp10, exp2);
        Ok(Quantity {
            raw: s.to_string(),
            nanos: if negative { -magnitude } else { magnitude },
        })
    }

    /// The quantity as the caller wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value × 10^9, rounded up, saturating at ±(2^63-1)×10^9.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// Whether the value is greater than zero.
    pub fn is_positive(&self) -> bool {
        self.nanos > 0
    }

    /// Compares by value (`1000m` equals `1`).
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl Eq for Quantity {}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Quantity::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: i128 = 1_000_000_000;

    #[test]
    fn the_kubernetes_valid_table_parses() {
        for s in [
            "0",
            "1",
            "500m",
            "3m",
            "5n",
            "4u",
            "8k",
            "50k",
            "7M",
            "1E",
            "16Gi",
            "100.035Ki",
            "0.5Mi",
            "1e3",
            "1E-3",
            "1.3E+6",
            "0.5e-9",
            ".001",
            "1.",
            "1.G",
            "+1",
            "-1",
            "9Ei",
            "9223372036854775807Ki",
        ] {
            assert!(Quantity::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn the_kubernetes_invalid_table_is_refused() {
        for s in [
            "", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-",
            " 1", "1 ", "16K", "16GB", "16gi", ".", "e3", "1e", "1e1.5", "--1", "1Kii", "abc\n",
            "1\n", "+", "-",
        ] {
            assert!(Quantity::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn values_are_exact_in_nano_units() {
        let v = |s| Quantity::parse(s).unwrap().nanos();
        assert_eq!(v("500m"), 500_000_000);
        assert_eq!(v("16Gi"), 16 * (1 << 30) * G);
        assert_eq!(v("1.5"), 1_500_000_000);
        assert_eq!(v("5n"), 5);
        assert_eq!(v("0.1n"), 1, "finer than 1n rounds up");
        assert_eq!(v("1E"), 1_000_000_000_000_000_000 * G);
        assert_eq!(v("1e3"), 1000 * G);
        assert_eq!(v("1E-3"), 1_000_000);
        assert_eq!(v("100.035Ki"), 102_435_840 * G / 1000);
        assert_eq!(v("-1"), -G);
        assert_eq!(v("9Ei"), MAX_NANOS, "saturates");
        assert_eq!(v("9223372036854775807Ki"), MAX_NANOS, "saturates");
        assert_eq!(v("1e999999999999"), MAX_NANOS, "huge exponents saturate");
        assert_eq!(
            v("1e-999999999999"),
            1,
            "tiny positive values round up to 1n"
        );
        assert_eq!(v("0e5"), 0);
    }

    #[test]
    fn comparison_is_by_value_and_equality_by_spelling() {
        let q = |s| Quantity::parse(s).unwrap();
        assert_eq!(q("1Gi").cmp_value(&q("1G")), Ordering::Greater);
        assert_eq!(q("1000m").cmp_value(&q("1")), Ordering::Equal);
        assert_eq!(q("500m").cmp_value(&q("1")), Ordering::Less);
        assert_ne!(q("1000m"), q("1"));
        assert!(!q("0").is_positive() && !q("-1").is_positive() && q("1n").is_positive());
    }

    #[test]
    fn serde_takes_strings_only_and_keeps_the_spelling() {
        let q: Quantity = serde_json::from_str("\"4\"").unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"4\"");
        assert!(serde_json::from_str::<Quantity>("4").is_err());
        assert!(serde_json::from_str::<Quantity>("\"4x\"").is_err());
    }
}
