//! The few BSON encodings the transcoder writes, straight into its output buffer.
//!
//! A document is an `i32` length, elements, and a NUL; an element is a type byte, its key as a
//! C string, and the value. Lengths are written as placeholders and patched when the document
//! or string ends, so nothing is built twice.

pub const DOUBLE: u8 = 0x01;
pub const STRING: u8 = 0x02;
pub const DOCUMENT: u8 = 0x03;
pub const ARRAY: u8 = 0x04;
pub const BOOLEAN: u8 = 0x08;
pub const INT32: u8 = 0x10;
pub const INT64: u8 = 0x12;

/// Type byte and key of an element.
#[inline]
pub fn header(out: &mut Vec<u8>, kind: u8, key: &[u8]) {
    out.push(kind);
    out.extend_from_slice(key);
    out.push(0);
}

/// The key of array element `i` (`"0"`, `"1"`, …) without `core::fmt`: formatting array
/// indices was half of the old BSON serializer's cost.
#[inline]
pub fn index_header(out: &mut Vec<u8>, kind: u8, i: u32) {
    // Most arrays are vectors of 3 or 4: one fixed-size write for the first hundred indices.
    if i < 10 {
        out.extend_from_slice(&[kind, b'0' + i as u8, 0]);
        return;
    }
    if i < 100 {
        out.extend_from_slice(&[kind, b'0' + (i / 10) as u8, b'0' + (i % 10) as u8, 0]);
        return;
    }
    out.push(kind);
    let mut digits = [0u8; 10];
    let mut n = i;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.push(0);
}

/// Starts a document (or array) body; returns where its length goes.
#[inline]
pub fn begin(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

/// Ends the document started at `at`.
#[inline]
pub fn end(out: &mut Vec<u8>, at: usize) {
    out.push(0);
    patch_len(out, at);
}

/// Writes `out.len() - at` as the little-endian `i32` at `at`.
#[inline]
pub fn patch_len(out: &mut [u8], at: usize) {
    let len = (out.len() - at) as i32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// A string value: length (with its NUL), bytes, NUL.
#[inline]
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as i32 + 1).to_le_bytes());
    out.extend_from_slice(s);
    out.push(0);
}

/// Starts a string value whose bytes the caller appends; finish with [`end_string`].
#[inline]
pub fn begin_string(out: &mut Vec<u8>) -> usize {
    begin(out)
}

#[inline]
pub fn end_string(out: &mut Vec<u8>, at: usize) {
    out.push(0);
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// A decimal integer as a string value (protojson's form of 64-bit integers).
pub fn decimal_string(out: &mut Vec<u8>, negative: bool, magnitude: u64) {
    let mut digits = [0u8; 21];
    let mut n = magnitude;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        digits[at] = b'-';
    }
    string(out, &digits[at..]);
}
