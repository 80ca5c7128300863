//! Kubernetes resource quantities (`500m`, `4`, `16Gi`, `1.5e3`): parsing request data with the
//! full grammar of `k8s.io/apimachinery/pkg/api/resource`, keeping the caller's spelling for
//! display and serialization, and the value in nano-units for comparisons.
//!
//! ```text
//! quantity        ::= signedNumber suffix
//! signedNumber    ::= number | ("+" | "-") number
//! number          ::= digits | digits "." digits | digits "." | "." digits
//! suffix          ::= binarySI | decimalExponent | decimalSI
//! binarySI        ::= "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
//! decimalSI       ::= "n" | "u" | "m" | "" | "k" | "M" | "G" | "T" | "P" | "E"
//! decimalExponent ::= ("e" | "E") ("+" | "-")? digits
//! ```
//!
//! `E` alone is exa (10^18); `E3`, `e-3`, `E+6` are exponents. Whitespace is never allowed.
//!
//! Values are exact integers of nano-units: anything finer than `1n` rounds away from zero (up for
//! positive values, as Kubernetes rounds non-zero amounts up so that asking for a sliver of a
//! resource never yields none), and magnitudes saturate at (2^63-1) units, the Kubernetes cap.
//! Only integer arithmetic is used, and the work is linear in the input length whatever the
//! exponent (`1e999999999999` saturates at once).

use std::{cmp::Ordering, fmt, str::FromStr};

/// Largest magnitude in nano-units: Kubernetes caps quantities at 2^63-1 units.
const MAX_NANOS: u128 = (i64::MAX as u128) * 1_000_000_000;

/// Decimal digits between a unit and a nano-unit.
const NANO_DIGITS: i64 = 9;

/// Decimal exponents are clamped to ±10^18. Any input short enough to exist holds fewer digits
/// than that, so a clamped exponent still saturates (or vanishes below 1n) exactly as the true
/// one would.
const EXPONENT_CLAMP: i64 = 1_000_000_000_000_000_000;

/// Longest prefix of a rejected input, in characters, that is echoed in the error.
const ERROR_EXCERPT_CHARS: usize = 64;

/// A parsed Kubernetes quantity. Keeps the caller's spelling for display/serialization.
///
/// Equality (`==`) compares spellings, so `1000m != 1`; use [`Quantity::cmp_value`] to compare
/// values.
#[derive(Debug, Clone)]
pub struct Quantity {
    raw: String,
    nanos: i128,
}

/// Why a string is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The input was the empty string.
    #[error("a quantity must not be empty (expected a number with an optional suffix such as 500m, 4, 16Gi)")]
    Empty,
    /// The input does not follow the quantity grammar. Holds the input, cut to its first 64
    /// characters (followed by `…`) when longer.
    #[error("{0:?} is not a Kubernetes quantity (expected a number with an optional suffix such as 500m, 4, 16Gi)")]
    Invalid(String),
}

impl Quantity {
    /// Parses `s` as a Kubernetes quantity, such as `500m`, `4`, `16Gi`, `1.5e3` or `-1`.
    ///
    /// # Errors
    /// [`QuantityError::Empty`] for the empty string, [`QuantityError::Invalid`] for anything
    /// else that does not follow the grammar (including any whitespace).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let parts = Parts::split(s.as_bytes()).ok_or_else(|| invalid(s))?;
        // The magnitude never exceeds MAX_NANOS, so it always fits.
        let magnitude = i128::try_from(parts.magnitude_nanos()).unwrap_or(i128::MAX);
        Ok(Quantity {
            raw: s.to_owned(),
            nanos: if parts.negative {
                -magnitude
            } else {
                magnitude
            },
        })
    }

    /// The quantity exactly as the caller wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value × 10^9, rounded away from zero when finer than that, saturating at
    /// ±(2^63-1)×10^9.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// Whether the value is greater than zero (`nanos() > 0`).
    pub fn is_positive(&self) -> bool {
        self.nanos > 0
    }

    /// Compares by value rather than spelling: `1000m` equals `1`, `1Gi` is greater than `1G`.
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// The error for a rejected input, echoing at most [`ERROR_EXCERPT_CHARS`] of it.
fn invalid(s: &str) -> QuantityError {
    let mut excerpt: String = s.chars().take(ERROR_EXCERPT_CHARS).collect();
    if excerpt.len() < s.len() {
        excerpt.push('…');
    }
    QuantityError::Invalid(excerpt)
}

/// A syntactically valid quantity, taken apart: the value is
/// `sign × int.frac × 10^exp10 × 2^exp2`.
struct Parts<'a> {
    negative: bool,
    /// Digits before the decimal point (ASCII digits only, possibly empty).
    int: &'a [u8],
    /// Digits after the decimal point (ASCII digits only, possibly empty).
    frac: &'a [u8],
    /// Power of ten from the suffix (`m` is -3, `e5` is 5), clamped to ±[`EXPONENT_CLAMP`].
    exp10: i64,
    /// Power of two from a binary suffix (`Ki` is 10), at most 60.
    exp2: u32,
}

impl<'a> Parts<'a> {
    /// Splits `s` by the grammar, or `None` when it does not follow it.
    fn split(s: &'a [u8]) -> Option<Parts<'a>> {
        let (negative, rest) = split_sign(s);
        let (int, rest) = rest.split_at_checked(count_digits(rest))?;
        let (frac, suffix) = match rest.split_first() {
            Some((b'.', after)) => after.split_at_checked(count_digits(after))?,
            _ => (&[][..], rest),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let (exp10, exp2) = match suffix {
            b"" => (0, 0),
            b"n" => (-9, 0),
            b"u" => (-6, 0),
            b"m" => (-3, 0),
            b"k" => (3, 0),
            b"M" => (6, 0),
            b"G" => (9, 0),
            b"T" => (12, 0),
            b"P" => (15, 0),
            b"E" => (18, 0),
            b"Ki" => (0, 10),
            b"Mi" => (0, 20),
            b"Gi" => (0, 30),
            b"Ti" => (0, 40),
            b"Pi" => (0, 50),
            b"Ei" => (0, 60),
            [b'e' | b'E', exponent @ ..] => (parse_exponent(exponent)?, 0),
            _ => return None,
        };
        Some(Parts {
            negative,
            int,
            frac,
            exp10,
            exp2,
        })
    }

    /// The magnitude in nano-units, rounded up when finer than that and saturating at
    /// [`MAX_NANOS`].
    ///
    /// With `D` the digits `int ++ frac`, the nano value is `D × 10^(point - len(D)) × 2^exp2`:
    /// the digits before index `point` form the whole part `W` (followed by zeros when `point`
    /// lies past the end), the rest the fraction `F` (preceded by zeros when `point` is
    /// negative). The result is `W × 2^exp2 + ceil(F × 2^exp2)`; the latter is computed by long
    /// multiplication from the last digit, whose final carry is `floor(F × 2^exp2)` and whose
    /// product digits tell whether anything is left below it.
    fn magnitude_nanos(&self) -> u128 {
        let len = self.int.len().saturating_add(self.frac.len());
        let point = i64::try_from(self.int.len())
            .unwrap_or(i64::MAX)
            .saturating_add(NANO_DIGITS)
            .saturating_add(self.exp10);
        // Where the digits split: `point` clamped to the digits.
        let split = usize::try_from(point.max(0)).map_or(len, |p| p.min(len));
        let (whole_digits, frac_digits) = split_digits(self.int, self.frac, split);
        let multiplier = 1u128 << self.exp2.min(60);

        // Once any partial result exceeds the cap, the value saturates: every later step only
        // multiplies by factors >= 1 or adds non-negative amounts.
        let mut whole: u128 = 0;
        for d in whole_digits.iter().flat_map(|part| part.iter()) {
            whole = whole.saturating_mul(10).saturating_add(digit_value(*d));
            if whole > MAX_NANOS {
                return MAX_NANOS;
            }
        }
        if whole != 0 {
            // Zeros after the digits; at most 28 multiplications reach the cap, so this loop
            // ends quickly however large the exponent.
            let mut zeros = point.saturating_sub(i64::try_from(len).unwrap_or(i64::MAX));
            while zeros > 0 {
                whole = whole.saturating_mul(10);
                if whole > MAX_NANOS {
                    return MAX_NANOS;
                }
                zeros -= 1;
            }
        }
        whole = whole.saturating_mul(multiplier);
        if whole > MAX_NANOS {
            return MAX_NANOS;
        }

        // Long multiplication of the fraction by 2^exp2, from its last digit. The carry stays
        // below the multiplier, so nothing here can overflow.
        let mut carry: u128 = 0;
        let mut inexact = false;
        for d in frac_digits.iter().rev().flat_map(|part| part.iter().rev()) {
            let product = digit_value(*d) * multiplier + carry;
            inexact |= !product.is_multiple_of(10);
            carry = product / 10;
        }
        // Zeros between the decimal point and the digits: only shift the carry down, and stop
        // mattering once it is spent.
        let mut zeros = point.min(0).unsigned_abs();
        while carry > 0 && zeros > 0 {
            inexact |= !carry.is_multiple_of(10);
            carry /= 10;
            zeros -= 1;
        }
        whole
            .saturating_add(carry)
            .saturating_add(u128::from(inexact))
            .min(MAX_NANOS)
    }
}

/// Strips one leading `+` or `-`, reporting whether it was `-`.
fn split_sign(s: &[u8]) -> (bool, &[u8]) {
    match s.split_first() {
        Some((b'+', rest)) => (false, rest),
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    }
}

/// How many ASCII digits `s` starts with.
fn count_digits(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// The value of one ASCII digit.
fn digit_value(d: u8) -> u128 {
    u128::from(d.saturating_sub(b'0'))
}

/// Parses the signed integer after `e`/`E`, clamping its magnitude to [`EXPONENT_CLAMP`].
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (negative, digits) = split_sign(s);
    if digits.is_empty() || count_digits(digits) != digits.len() {
        return None;
    }
    let magnitude = digits
        .iter()
        .try_fold(0i64, |acc, d| {
            acc.checked_mul(10)?
                .checked_add(i64::from(d.saturating_sub(b'0')))
        })
        .map_or(EXPONENT_CLAMP, |m| m.min(EXPONENT_CLAMP));
    Some(if negative { -magnitude } else { magnitude })
}

/// Splits the digit sequence `int ++ frac` at index `at` (at most its length) into the part
/// before and the part after, each as two slices.
fn split_digits<'a>(int: &'a [u8], frac: &'a [u8], at: usize) -> ([&'a [u8]; 2], [&'a [u8]; 2]) {
    match int.split_at_checked(at) {
        Some((head, tail)) => ([head, &[]], [tail, frac]),
        None => {
            let (head, tail) = frac
                .split_at_checked(at.saturating_sub(int.len()))
                .unwrap_or((frac, &[]));
            ([int, head], [tail, &[]])
        }
    }
}

impl fmt::Display for Quantity {
    /// Writes the quantity as the caller spelled it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.raw)
    }
}

impl PartialEq for Quantity {
    /// Compares spellings: `1000m != 1`. See [`Quantity::cmp_value`] for values.
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Quantity {}

impl FromStr for Quantity {
    type Err = QuantityError;

    /// Same as [`Quantity::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl serde::Serialize for Quantity {
    /// Serializes as the caller's spelling.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    /// Deserializes from a string through [`Quantity::parse`]; numbers and anything else that
    /// is not a string are rejected.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(QuantityVisitor)
    }
}

/// Accepts strings only, so `4` (a JSON number) is refused while `"4"` is a quantity.
struct QuantityVisitor;

impl serde::de::Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes quantity as a string, such as \"500m\", \"4\" or \"16Gi\"")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
        Quantity::parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nano-units per unit.
    const N: i128 = 1_000_000_000;
    /// The saturation value, signed.
    const MAX: i128 = i64::MAX as i128 * N;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn nanos(s: &str) -> i128 {
        q(s).nanos()
    }

    /// The Kubernetes `TestQuantityParse` table, with each value in nano-units (after rounding
    /// up to 1n and saturating at 2^63-1 units).
    const KUBERNETES_TABLE: &[(&str, i128)] = &[
        ("0", 0),
        ("0n", 0),
        ("0u", 0),
        ("0m", 0),
        ("0Ki", 0),
        ("0k", 0),
        ("0Mi", 0),
        ("0M", 0),
        ("0Gi", 0),
        ("0G", 0),
        ("0Ti", 0),
        ("0T", 0),
        ("1", N),
        ("1Ki", 1024 * N),
        ("8Ki", 8 * 1024 * N),
        ("7Mi", 7 * (1 << 20) * N),
        ("6Gi", 6 * (1 << 30) * N),
        ("5Ti", 5 * (1 << 40) * N),
        ("4Pi", 4 * (1 << 50) * N),
        ("3Ei", 3 * (1 << 60) * N),
        ("10Ti", 10 * (1 << 40) * N),
        ("100Ti", 100 * (1 << 40) * N),
        ("5n", 5),
        ("4u", 4_000),
        ("3m", 3_000_000),
        ("9", 9 * N),
        ("8k", 8_000 * N),
        ("50k", 50_000 * N),
        ("7M", 7_000_000 * N),
        ("6G", 6_000_000_000 * N),
        ("5T", 5_000_000_000_000 * N),
        ("40T", 40_000_000_000_000 * N),
        ("300T", 300_000_000_000_000 * N),
        ("2P", 2_000_000_000_000_000 * N),
        ("1E", 1_000_000_000_000_000_000 * N),
        ("1E-3", 1_000_000),
        ("1e3", 1_000 * N),
        ("1E6", 1_000_000 * N),
        ("1e9", 1_000_000_000 * N),
        ("1E12", 1_000_000_000_000 * N),
        ("1e15", 1_000_000_000_000_000 * N),
        ("1E18", 1_000_000_000_000_000_000 * N),
        ("1e14", 100_000_000_000_000 * N),
        ("1e13", 10_000_000_000_000 * N),
        ("100.035k", 100_035 * N),
        ("0.001", 1_000_000),
        ("0.0005k", 500_000_000),
        ("0.005", 5_000_000),
        ("0.05", 50_000_000),
        ("0.5", 500_000_000),
        ("0.00050k", 500_000_000),
        ("0.00500", 5_000_000),
        ("0.05000", 50_000_000),
        ("0.50000", 500_000_000),
        ("0.5e0", 500_000_000),
        ("0.5e-1", 50_000_000),
        ("0.5e-2", 5_000_000),
        ("10.035M", 10_035_000 * N),
        ("1.2e3", 1_200 * N),
        ("1.3E+6", 1_300_000 * N),
        ("1.40e9", 1_400_000_000 * N),
        ("1.53E12", 1_530_000_000_000 * N),
        ("1.6e15", 1_600_000_000_000_000 * N),
        ("1.7E18", 1_700_000_000_000_000_000 * N),
        ("9.01", 9_010_000_000),
        ("8.1k", 8_100 * N),
        ("7.123456M", 7_123_456 * N),
        ("6.987654321G", 6_987_654_321 * N),
        ("5.444T", 5_444_000_000_000 * N),
        ("40.1T", 40_100_000_000_000 * N),
        ("300.2T", 300_200_000_000_000 * N),
        ("2.5P", 2_500_000_000_000_000 * N),
        ("1.01E", 1_010_000_000_000_000_000 * N),
        ("3.001n", 4),
        ("1.1E-9", 2),
        ("0.0000000001", 1),
        ("0.0000000005", 1),
        ("0.00000000050", 1),
        ("0.5e-9", 1),
        ("0.9n", 1),
        ("0.00000012345", 124),
        ("0.00000012354", 124),
        ("9Ei", MAX),
        ("9223372036854775807Ki", MAX),
        ("12E", MAX),
        ("100.035Ki", 102_435_840_000_000),
        ("0.5Mi", 524_288 * N),
        ("0.05Gi", 53_687_091_200_000_000),
        ("0.025Ti", 27_487_790_694_400_000_000),
        ("0.000000000001Ki", 2),
        (".001", 1_000_000),
        (".0001k", 100_000_000),
        ("1.", N),
        ("1.G", N * N),
        (".001Ki", 1_024_000_000),
        (".000001Ki", 1_024_000),
        (".000000001Ki", 1_024),
    ];

    #[test]
    fn the_kubernetes_parse_table_gives_exact_nano_values() {
        for &(s, expected) in KUBERNETES_TABLE {
            assert_eq!(nanos(s), expected, "{s}");
        }
    }

    #[test]
    fn an_explicit_plus_sign_changes_nothing() {
        for &(s, expected) in KUBERNETES_TABLE {
            assert_eq!(nanos(&format!("+{s}")), expected, "+{s}");
        }
    }

    #[test]
    fn a_minus_sign_negates_and_rounds_away_from_zero() {
        for &(s, expected) in KUBERNETES_TABLE {
            assert_eq!(nanos(&format!("-{s}")), -expected, "-{s}");
        }
        assert_eq!(nanos("-0.1n"), -1);
        assert_eq!(nanos("-9Ei"), -MAX);
    }

    #[test]
    fn the_brief_valid_table_parses() {
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
            "+.5",
            "-.5",
            "1.e3",
            "0e0",
        ] {
            assert_eq!(q(s).as_str(), s);
        }
    }

    #[test]
    fn common_values_are_exact_in_nano_units() {
        assert_eq!(nanos("500m"), 500_000_000);
        assert_eq!(nanos("16Gi"), 16 * (1 << 30) * N);
        assert_eq!(nanos("1.5"), 1_500_000_000);
        assert_eq!(nanos("5n"), 5);
        assert_eq!(nanos("1E"), 1_000_000_000_000_000_000 * N);
        assert_eq!(nanos("-1"), -N);
        assert_eq!(nanos("+1"), N);
    }

    #[test]
    fn anything_finer_than_a_nano_unit_rounds_up() {
        assert_eq!(nanos("0.1n"), 1);
        assert_eq!(nanos("1.000000001n"), 2);
        assert_eq!(
            nanos("0.0000000000000000000000000000000000000000000000001"),
            1
        );
        assert_eq!(nanos("0.0000000000001Ki"), 1, "1.024e-13 units");
        assert_eq!(nanos("0.0000000001Ki"), 103, "0.1024n");
        assert_eq!(
            nanos("1.0000000000000000000000000000000000000000000000001"),
            N + 1
        );
        assert_eq!(
            nanos("1.0000000000000000000000000000000000000000000000000"),
            N
        );
    }

    #[test]
    fn magnitudes_saturate_at_the_kubernetes_cap() {
        assert_eq!(MAX, 9_223_372_036_854_775_807 * N);
        assert_eq!(nanos("9223372036854775807"), MAX);
        assert_eq!(nanos("9223372036854775808"), MAX);
        assert_eq!(nanos("9223372036854775806.5"), MAX - N / 2);
        assert_eq!(nanos("7Ei"), 7 * (1 << 60) * N, "under the cap");
        assert_eq!(nanos("8Ei"), MAX, "2^63 is one past the cap");
        assert_eq!(
            nanos("99999999999999999999999999999999999999999999999999Ei"),
            MAX
        );
        assert_eq!(nanos(&"9".repeat(10_000)), MAX);
        assert_eq!(nanos(&format!("-{}", "9".repeat(10_000))), -MAX);
    }

    #[test]
    fn huge_exponents_saturate_or_round_up_without_looping() {
        assert_eq!(nanos("1e999999999999"), MAX);
        assert_eq!(nanos("1E+99999999999999999999999999999"), MAX);
        assert_eq!(nanos("1e-999999999999"), 1);
        assert_eq!(nanos("-1e-99999999999999999999999999999"), -1);
        assert_eq!(nanos("0e999999999999"), 0);
        assert_eq!(nanos("0.000e99999999999999999999999999999"), 0);
        assert_eq!(nanos("1e000000000000000000000000000003"), 1_000 * N);
        assert_eq!(nanos("1e-00000000000000000000000000009"), 1);
        assert_eq!(nanos("1e-9223372036854775808"), 1);
    }

    #[test]
    fn long_digit_strings_are_exact() {
        let zeros = "0".repeat(5_000);
        assert_eq!(nanos(&format!("{zeros}1.5{zeros}")), 1_500_000_000);
        assert_eq!(nanos(&format!("0.{zeros}1e5002")), 10 * N);
        assert_eq!(nanos(&format!("1{zeros}e-5000")), N);
        assert_eq!(nanos(&format!("1{zeros}e-5010")), 1, "0.1n rounds up");
    }

    #[test]
    fn the_kubernetes_invalid_table_is_refused() {
        for s in [
            "", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-",
            " 1", "1 ", "16K", "16GB", "16gi", ".", "e3", "1e", "1e1.5", "--1", "1Kii", "abc\n",
            "1\n", "+", "-", "-.", "+-1", "1e+", "1e+-3", "1E3Ki", "1ki", "1KI", "1.5.", "1,5",
            "1_000", "0x10", "١", "1µ", "\u{0}", "1e 3", "1 Gi", "Gi", "nan", "inf",
        ] {
            assert!(Quantity::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn errors_name_the_input_and_the_expected_form() {
        assert_eq!(Quantity::parse(""), Err(QuantityError::Empty));
        let err = Quantity::parse("16GB").unwrap_err();
        assert_eq!(err, QuantityError::Invalid("16GB".into()));
        assert_eq!(
            err.to_string(),
            "\"16GB\" is not a Kubernetes quantity \
             (expected a number with an optional suffix such as 500m, 4, 16Gi)"
        );
        assert!(Quantity::parse("abc\n")
            .unwrap_err()
            .to_string()
            .starts_with("\"abc\\n\" "));
        assert!(QuantityError::Empty.to_string().contains("empty"));
    }

    #[test]
    fn errors_echo_only_the_start_of_a_long_input() {
        let long = "x".repeat(10_000);
        let QuantityError::Invalid(excerpt) = Quantity::parse(&long).unwrap_err() else {
            panic!("expected Invalid");
        };
        assert_eq!(excerpt, format!("{}…", "x".repeat(ERROR_EXCERPT_CHARS)));
        let exact = "é".repeat(ERROR_EXCERPT_CHARS);
        assert_eq!(
            Quantity::parse(&exact),
            Err(QuantityError::Invalid(exact.clone()))
        );
    }

    #[test]
    fn comparison_is_by_value_and_equality_by_spelling() {
        assert_eq!(q("1Gi").cmp_value(&q("1G")), Ordering::Greater);
        assert_eq!(q("1000m").cmp_value(&q("1")), Ordering::Equal);
        assert_eq!(q("500m").cmp_value(&q("1")), Ordering::Less);
        assert_eq!(q("10000T").cmp_value(&q("100Gi")), Ordering::Greater);
        assert_eq!(q("-1").cmp_value(&q("0")), Ordering::Less);
        assert_ne!(q("1000m"), q("1"));
        assert_eq!(q("1000m"), q("1000m"));
    }

    #[test]
    fn only_values_above_zero_are_positive() {
        assert!(q("1n").is_positive());
        assert!(q("0.1n").is_positive());
        assert!(!q("0").is_positive());
        assert!(!q("-0").is_positive());
        assert!(!q("-1").is_positive());
        assert!(!q("-0.1n").is_positive());
    }

    #[test]
    fn display_and_from_str_keep_the_spelling() {
        let parsed: Quantity = "1.G".parse().unwrap();
        assert_eq!(parsed.to_string(), "1.G");
        assert_eq!(parsed.as_str(), "1.G");
        assert_eq!(format!("[{parsed:>5}]"), "[  1.G]");
        assert!("16GB".parse::<Quantity>().is_err());
    }

    #[test]
    fn serde_takes_strings_only_and_keeps_the_spelling() {
        let parsed: Quantity = serde_json::from_str("\"4\"").unwrap();
        assert_eq!(parsed.nanos(), 4 * N);
        assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"4\"");
        let spelled: Quantity = serde_json::from_str("\"0.50Gi\"").unwrap();
        assert_eq!(serde_json::to_string(&spelled).unwrap(), "\"0.50Gi\"");
        assert!(serde_json::from_str::<Quantity>("4").is_err());
        assert!(serde_json::from_str::<Quantity>("4.5").is_err());
        assert!(serde_json::from_str::<Quantity>("null").is_err());
        let err = serde_json::from_str::<Quantity>("\"16GB\"").unwrap_err();
        assert!(
            err.to_string().contains("is not a Kubernetes quantity"),
            "{err}"
        );
    }

    #[test]
    fn every_short_string_over_the_quantity_alphabet_parses_without_panicking() {
        let alphabet: Vec<char> = "09.+-eEkKmMGin ".chars().collect();
        let mut word = Vec::new();
        let mut accepted = 0;
        for length in 0..=5u32 {
            for mut index in 0..alphabet.len().pow(length) {
                word.clear();
                for _ in 0..length {
                    word.push(alphabet[index % alphabet.len()]);
                    index /= alphabet.len();
                }
                let s: String = word.iter().collect();
                if let Ok(parsed) = Quantity::parse(&s) {
                    accepted += 1;
                    assert!(parsed.nanos().abs() <= MAX, "{s}");
                    assert!(!s.contains(' '), "{s:?}");
                }
            }
        }
        assert!(accepted > 1_000);
    }
}
