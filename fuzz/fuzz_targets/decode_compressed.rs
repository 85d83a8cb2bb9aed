//! The decoders on decompressed input: the first byte picks gzip (even) or zstd (odd), the
//! rest is decompressed (at most `MAX_DECOMPRESSED` bytes; the HTTP limit layer is not under
//! test here) and decoded as protojson, with the same round-trip property as `decode_json`.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use session_events::frame::Encoding;

const MAX_DECOMPRESSED: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, compressed)) = data.split_first() else {
        return;
    };
    let mut body = Vec::new();
    let read = if selector % 2 == 0 {
        flate2::read::GzDecoder::new(compressed)
            .take(MAX_DECOMPRESSED)
            .read_to_end(&mut body)
    } else {
        match zstd::stream::read::Decoder::new(compressed) {
            Ok(d) => d.take(MAX_DECOMPRESSED).read_to_end(&mut body),
            Err(_) => return,
        }
    };
    // A truncated or corrupt stream: the service refuses it before decoding, but whatever came
    // out before the error still must not crash the decoder.
    let _ = read;
    session_events_fuzz::decode_and_round_trip(&body, Encoding::Json);
});
