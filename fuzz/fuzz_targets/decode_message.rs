//! Decoding arbitrary bytes as a wire message must never panic, and whatever decodes must
//! round-trip: the encoding is canonical, so re-encoding gives back exactly the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use photon_primitives::messages::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let bytes = msg.encode();
        assert_eq!(bytes, data, "a decoded message re-encodes to its input");
        assert_eq!(Message::decode(&bytes), Ok(msg));
    }
});
