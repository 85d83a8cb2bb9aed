//! Arbitrary bytes as a binary protobuf POST body. No panic; and an accepted frame is stored,
//! served back (as protojson), and accepted again as the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_events::frame::Encoding;

fuzz_target!(|data: &[u8]| {
    session_events_fuzz::decode_and_round_trip(data, Encoding::Protobuf);
});
