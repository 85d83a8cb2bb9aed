//! Byte-level scanning for the JSON transcoder: string runs eight bytes at a time, digit runs,
//! and the exact powers of ten of Clinger's fast path.

/// Exact powers of ten in a double.
pub(super) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The end of the run of ASCII digits starting at `i`.
#[inline]
pub(super) fn digit_run(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

/// The value of at most 19 ASCII digits.
#[inline]
pub(super) fn fold_digits(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0u64, |m, &d| m * 10 + u64::from(d - b'0'))
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
    fn digit_runs_and_folds() {
        assert_eq!(digit_run(b"12.5", 0), 2);
        assert_eq!(digit_run(b"x", 0), 0);
        assert_eq!(digit_run(b"007", 1), 3);
        assert_eq!(
            fold_digits(b"9999999999999999999"),
            9_999_999_999_999_999_999
        );
        assert_eq!(fold_digits(b""), 0);
        assert!(
            POW10
                .iter()
                .enumerate()
                .all(|(i, &p)| p == 10f64.powi(i as i32))
        );
    }
}
