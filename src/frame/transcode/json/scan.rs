//! Byte-level scanning for the JSON transcoder: string runs eight bytes at a time, digit runs
//! folded as they are scanned (eight at a time too), and the exact powers of ten of Clinger's
//! fast path.

/// Exact powers of ten in a double.
pub(super) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Scans the run of ASCII digits from `i`, folding them into `m` (`m × 10 + d`, wrapping:
/// the caller counts digits and redoes a token of more than 19 exactly). Returns the run's end
/// and the folded value. Eight digits at a time where eight are there (SWAR, as fast_float
/// checks and converts them), then a byte at a time.
#[inline]
pub(super) fn fold_run(b: &[u8], mut i: usize, mut m: u64) -> (usize, u64) {
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if !eight_digits(x) {
            break;
        }
        m = m
            .wrapping_mul(100_000_000)
            .wrapping_add(u64::from(parse_eight(x)));
        i += 8;
    }
    while let Some(&d @ b'0'..=b'9') = b.get(i) {
        m = m.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
    }
    (i, m)
}

/// Whether all eight bytes of `x` are ASCII digits: `b + 0x46` sets the high bit of a byte
/// above `'9'`, `b - 0x30` of one below `'0'` (or ≥ 0x80).
#[inline]
fn eight_digits(x: u64) -> bool {
    (x.wrapping_add(0x4646_4646_4646_4646) | x.wrapping_sub(0x3030_3030_3030_3030))
        & 0x8080_8080_8080_8080
        == 0
}

/// The value of eight ASCII digits loaded little-endian (the first digit in the low byte):
/// pairs, then quadruples, then the whole, by three multiplications.
#[inline]
fn parse_eight(x: u64) -> u32 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = x - 0x3030_3030_3030_3030;
    let v = v * 10 + (v >> 8);
    let v = ((v & MASK).wrapping_mul(MUL1) + ((v >> 16) & MASK).wrapping_mul(MUL2)) >> 32;
    v as u32
}

/// The length of the run of string bytes before the first `"`, `\\` or control character
/// (the whole of `s` if none), and whether the run holds a byte ≥ 0x80 (then it needs a UTF-8
/// check; an ASCII run needs none).
///
/// Eight bytes at a time (SWAR): for each byte, "is zero" of `x ^ '"'` and `x ^ '\\'`, and
/// "is below 0x20", with the borrow trick `(v - 0x01…) & !v & 0x80…`. Borrows only run upwards
/// from a byte that is flagged truly, so the lowest flag is exact. A byte-at-a-time scan with a
/// `from_utf8` call per string was a fifth of a frame's instructions (callgrind, 2026-12-02).
#[inline]
pub(super) fn plain_run(s: &[u8]) -> (usize, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let mut high = 0u64;
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let special = (zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if special != 0 {
            let n = (special.trailing_zeros() / 8) as usize;
            let before = (1u64 << (8 * n)) - 1;
            return (i + n, (high | (x & before)) & HIGH != 0);
        }
        high |= x;
        i += 8;
    }
    while let Some(&c) = s.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        high |= u64::from(c);
        i += 1;
    }
    (i, high & HIGH != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `plain_run` must find, a byte at a time.
    fn naive(s: &[u8]) -> (usize, bool) {
        let n = s
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(s.len());
        (n, s[..n].iter().any(|&c| c >= 0x80))
    }

    #[test]
    fn plain_runs_match_a_byte_at_a_time_scan() {
        // Every special byte at every position of short and long runs, beside non-ASCII bytes
        // before and after it, and random bytes.
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for len in 0..40 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0x00, 0x1f, b' ', 0x7f, 0x80, 0xc3, 0xff] {
                    let mut s = vec![b'a'; len];
                    if at < len {
                        s[at] = special;
                    }
                    cases.push(s.clone());
                    if at > 0 {
                        s[at - 1] = 0xe9;
                        cases.push(s.clone());
                    }
                    if at + 1 < len {
                        s[at + 1] = 0xe9;
                        cases.push(s);
                    }
                }
            }
        }
        let mut rng = fastrand::Rng::with_seed(13);
        for _ in 0..20_000 {
            let len = rng.usize(0..48);
            let alphabet = [b'a', b'"', b'\\', 0x01, 0x20, 0x1f, 0x80, 0xbf, 0xff, b'0'];
            cases.push(
                (0..len)
                    .map(|_| alphabet[rng.usize(..alphabet.len())])
                    .collect(),
            );
        }
        for s in &cases {
            assert_eq!(plain_run(s), naive(s), "{s:02x?}");
        }
    }

    #[test]
    fn digit_runs_fold_eight_at_a_time_and_one_at_a_time() {
        assert_eq!(fold_run(b"12.5", 0, 0), (2, 12));
        assert_eq!(fold_run(b"x", 0, 7), (0, 7));
        assert_eq!(fold_run(b"007", 1, 0), (3, 7));
        assert_eq!(fold_run(b"5", 0, 4), (1, 45));
        assert_eq!(
            fold_run(b"9999999999999999999", 0, 0),
            (19, 9_999_999_999_999_999_999)
        );
        // Every length up to 40 and every non-digit at every position: the run and its value
        // (wrapping, as the caller expects) are a byte-at-a-time fold's.
        let naive = |b: &[u8], i: usize, m: u64| {
            let n = b[i..].iter().take_while(|d| d.is_ascii_digit()).count();
            let m = b[i..i + n].iter().fold(m, |m, &d| {
                m.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
            });
            (i + n, m)
        };
        let mut rng = fastrand::Rng::with_seed(8);
        for len in 0..40 {
            for at in 0..=len {
                for stop in [b'.', b'e', b'/', b':', b'-', 0x00, 0xb9, 0xff, b'0' + 0x80] {
                    let mut s: Vec<u8> = (0..len).map(|_| b'0' + rng.u8(0..10)).collect();
                    if at < len {
                        s[at] = stop;
                    }
                    for from in [0, 1.min(len)] {
                        assert_eq!(fold_run(&s, from, 3), naive(&s, from, 3), "{s:?}");
                    }
                }
            }
        }
        assert!(eight_digits(u64::from_le_bytes(*b"01234567")));
        assert!(eight_digits(u64::from_le_bytes(*b"99999999")));
        for c in 0..=255u8 {
            let mut x = *b"12345678";
            x[5] = c;
            assert_eq!(
                eight_digits(u64::from_le_bytes(x)),
                c.is_ascii_digit(),
                "{c}"
            );
        }
        assert_eq!(parse_eight(u64::from_le_bytes(*b"12345678")), 12_345_678);
        assert_eq!(parse_eight(u64::from_le_bytes(*b"00000009")), 9);
        assert_eq!(parse_eight(u64::from_le_bytes(*b"99999999")), 99_999_999);
        assert!(
            POW10
                .iter()
                .enumerate()
                .all(|(i, &p)| p == 10f64.powi(i as i32))
        );
    }
}
