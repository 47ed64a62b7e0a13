//! Decoding arbitrary bytes as a wire message must never panic, and whatever decodes must
//! round-trip: the encoding of the current version is canonical, so re-encoding gives back
//! exactly the input; an input of the earlier version 2 (still read) re-encodes in the current
//! version, which decodes to the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use photon_primitives::messages::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let bytes = msg.encode();
        if data[4] == photon_primitives::codec::VERSION {
            assert_eq!(bytes, data, "a decoded message re-encodes to its input");
        }
        assert_eq!(Message::decode(&bytes), Ok(msg));
    }
});
