//! Datapath: Ethernet frames through two gateways back to back (suite and NAT-T chosen by the first byte). Each
//! frame either goes straight into B (anything off the wire), or into A first and, if A transmits it, on into B on
//! the same port number, so B's inbound path sees authentic ESP around any inner packet A agreed to protect.
//! Property: no panic, and every frame gets an action.
#![no_main]

use engine::buf::{PacketBuf, VecBuf};
use engine::datapath::Action;
use espgate_fuzz::net::pair;
use espgate_fuzz::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let cfg = inp.u8();
    let (mut a, mut b) = pair(usize::from(cfg & 3), cfg & 4 != 0);
    for _ in 0..16 {
        if inp.is_empty() {
            break;
        }
        let op = inp.u8();
        // Port 2 does not exist: exercises the unknown-port drop.
        let port = u16::from((op >> 1) % 3);
        let mut buf = VecBuf::new(inp.chunk());
        if op & 1 == 0 {
            let _ = b.process(port, &mut buf);
            continue;
        }
        if let Action::Transmit { port: out } = a.process(port, &mut buf) {
            let mut wire = VecBuf::new(buf.data());
            let _ = b.process(out, &mut wire);
        }
    }
});
