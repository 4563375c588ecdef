//! IKE responder: a sans-IO endpoint R (198.51.100.1, ports 500 and 4500) on simulated time, fed a program of
//! operations decoded from the fuzz input: arbitrary datagrams from several sources (one whose address has a PSK,
//! one that spoofs the honest initiator, one without a key), datagrams rewritten to carry the cookies of R's latest
//! exchange (so forged messages reach states past message 1), an honest initiator I (192.0.2.1, optionally behind a
//! NAT) whose Main/Aggressive Mode messages, DPD probes and Deletes are delivered, dropped, duplicated or bit-flipped,
//! and time jumps that fire retransmissions, expiry and keepalives. Property: no panic, and R's table of ISAKMP SAs
//! stays bounded.
#![no_main]

use espgate_fuzz::ike::{Harness, Op};
use espgate_fuzz::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let mut h = Harness::new(inp.u8());
    for _ in 0..48 {
        if inp.is_empty() {
            break;
        }
        h.run(Op::decode(&mut inp));
    }
});
