//! Number tokens at the boundaries of the JSON transcoder's fast paths (the digit fold eight
//! at a time, 19 digits in a u64, Clinger's mantissa ≤ 2^53 and |exp10| ≤ 22, the double
//! lists' own loop), in every kind of numeric field, against the oracle: the same verdict and,
//! when accepted, the same bytes.

use super::{Verdict, agree};
use crate::frame::Encoding;

const SESSION: &str = r#""sessionid":"892E23E2-8272-4B07-85E8-5E291AC85F93""#;

/// Tokens around every boundary, valid and not.
const TOKENS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "-0.0",
    "0e5",
    "-0e-5",
    "1",
    "-1",
    "7",
    "1.5",
    "-25.6646",
    "0.004",
    "12345678",
    "99999999",
    "100000000",
    "123456789",
    "1234567.8",
    "12345678.12345678",
    "123456789012345",
    "1234567890123456",
    "12345678901234567",
    "1234567890123456789",
    "9999999999999999999",
    "12345678901234567890",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "-9007199254740993",
    "900719925474099.3",
    "0.9007199254740993",
    "1e22",
    "1e23",
    "1e-22",
    "1e-23",
    "9e22",
    "123456789e22",
    "1.5e-22",
    "15e-23",
    "4503599627370497e22",
    "1E5",
    "1.0E-5",
    "1e+5",
    "100e-2",
    "0.1",
    "0.30000000000000004",
    "0.1234567890123456789",
    "0.12345678901234567890123",
    "123456789012345678901234567890",
    "0.000000000000000000001",
    "4.9e-324",
    "5e-324",
    "2e-324",
    "1e-400",
    "2.2250738585072014e-308",
    "2.2250738585072011e-308",
    "1e308",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "1e309",
    "-1e309",
    "3.4028235e38",
    "3.4028236e38",
    "1e39",
    "1e-46",
    "1.4e-45",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "1e2",
    "1e99999999999",
    "1e-99999999999",
    "01",
    "-01",
    "00",
    "00.5",
    "1.",
    "1.e5",
    "-",
    "-.5",
    ".5",
    "+1",
    "--1",
    "1e",
    "1e+",
    "1e-",
    "1E+-1",
    "1e5.5",
    "1x",
    "1.5x",
    "0x10",
    "12345678x",
    "123456789.x",
    "1.2.3",
    "\"1.5\"",
    "\"NaN\"",
    "\"-Infinity\"",
    "true",
    "null",
    "[1]",
    "{}",
];

/// The bodies a token is tried in: a list of doubles (first, middle and last element), a
/// singular double, a list of floats, a uint32, a uint64 and a list of int32.
fn bodies(t: &str) -> Vec<String> {
    let s = SESSION;
    vec![
        format!(r#"{{"session":{{{s},"disc":{{"position":[{t}]}}}}}}"#),
        format!(r#"{{"session":{{{s},"disc":{{"position":[ {t} , 2 ,{t}],"forward":[{t}]}}}}}}"#),
        format!(r#"{{"session":{{{s},"disc":{{"position":[1,2,{t}]}}}}}}"#),
        format!(r#"{{"session":{{{s},"game_clock":{t}}}}}"#),
        format!(
            r#"{{"player_bones":{{"user_bones":[{{"bone_t":[{t},{t}]}}]}},"session":{{{s}}}}}"#
        ),
        format!(r#"{{"frameIndex":{t},"session":{{{s}}}}}"#),
        format!(r#"{{"session":{{{s},"rules_changed_at":{t}}}}}"#),
        format!(r#"{{"session":{{{s},"possession":[{t},{t}]}}}}"#),
        format!(r#"{{"session":{{{s}}},"unknown":[{t}]}}"#),
    ]
}

#[test]
fn number_boundaries_agree_in_every_numeric_kind() {
    let mut accepted = 0;
    let mut total = 0;
    for t in TOKENS {
        for body in bodies(t) {
            total += 1;
            if let Verdict::Accepted { .. } = agree(body.as_bytes(), Encoding::Json) {
                accepted += 1;
            }
        }
    }
    println!("{total} number cases agree ({accepted} accepted)");
    assert!(
        accepted > total / 4 && accepted < total,
        "{accepted} of {total}"
    );
}

/// A token cut by the end of the body, at every length (the eight-digit loads must not read
/// past it, and the error must be the oracle's).
#[test]
fn numbers_cut_by_the_end_of_the_body_agree() {
    let s = SESSION;
    for t in [
        "-12345678901234567.12345678901e-12",
        "123456789012345678901234",
    ] {
        for n in 0..=t.len() {
            let cut = &t[..n];
            for body in [
                format!(r#"{{"session":{{{s},"disc":{{"position":[{cut}"#),
                format!(r#"{{"session":{{{s},"game_clock":{cut}"#),
            ] {
                agree(body.as_bytes(), Encoding::Json);
            }
        }
    }
}

/// Random digit strings of every length up to 40, with and without a fraction and exponent.
#[test]
fn random_digit_strings_agree() {
    let mut rng = fastrand::Rng::with_seed(1313);
    let s = SESSION;
    for _ in 0..3000 {
        let digits = |rng: &mut fastrand::Rng, n: usize| -> String {
            (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
        };
        let mut t = String::new();
        if rng.bool() {
            t.push('-');
        }
        let int_len = rng.usize(1..24);
        t.push_str(&digits(&mut rng, int_len));
        if rng.bool() {
            t.push('.');
            let n = rng.usize(1..24);
            t.push_str(&digits(&mut rng, n));
        }
        if rng.u8(0..4) == 0 {
            t.push_str(["e", "E-", "e+"][rng.usize(0..3)]);
            let n = rng.usize(1..4);
            t.push_str(&digits(&mut rng, n));
        }
        for body in [
            format!(r#"{{"session":{{{s},"disc":{{"position":[{t},{t}]}}}}}}"#),
            format!(
                r#"{{"player_bones":{{"user_bones":[{{"bone_t":[{t}]}}]}},"session":{{{s}}}}}"#
            ),
            format!(r#"{{"frameIndex":{t},"session":{{{s},"rules_changed_at":{t}}}}}"#),
        ] {
            agree(body.as_bytes(), Encoding::Json);
        }
    }
}
