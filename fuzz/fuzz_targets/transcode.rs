//! The single-pass transcoder against the previous decoder (the oracle) on arbitrary bytes: the
//! first byte picks protojson (even) or protobuf (odd). No panic; both accept or both refuse
//! (with the same `frames_rejected_total` reason); an accepted frame gets byte-identical stored
//! documents from both.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_events::frame::Encoding;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = if selector % 2 == 0 {
        Encoding::Json
    } else {
        Encoding::Protobuf
    };
    session_events_fuzz::transcoder_agrees_with_oracle(body, encoding);
});
