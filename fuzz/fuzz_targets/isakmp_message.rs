//! ISAKMP decoder: any datagram parses or is refused with an error; a parsed message emits, and the emitted bytes
//! parse back to the same message (unknown codepoints included).
#![no_main]

use control::isakmp::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::parse(data) else { return };
    let bytes = msg.to_bytes().expect("a parsed message must emit");
    let again = Message::parse(&bytes).expect("an emitted message must parse");
    assert_eq!(again, msg, "round trip changed the message");
    let _ = msg.payloads();
});
