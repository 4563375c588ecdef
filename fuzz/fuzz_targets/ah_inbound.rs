//! AH inbound: like `esp_inbound` for engine::ah. Each packet is raw bytes or a real packet protected by the peer's
//! outbound AH SA, possibly with one byte flipped. An untampered packet sent in sequence must come back exactly as
//! it went in.
#![no_main]

use engine::ah::{InboundAh, OutboundAh};
use engine::buf::{PacketBuf, VecBuf};
use espgate_fuzz::esp::{same_packet, well_formed, Setup};
use espgate_fuzz::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let setup = Setup::from_byte(inp.u8());
    let mut inbound = InboundAh::new(setup.ah_params(true)).expect("fixed inbound AH SA");
    let outbound = OutboundAh::new(setup.ah_params(false)).expect("fixed outbound AH SA");
    let mut in_sequence = true;
    for _ in 0..16 {
        if inp.is_empty() {
            break;
        }
        let op = inp.u8();
        if op & 1 == 0 {
            let mut buf = VecBuf::new(inp.chunk());
            // An accepted fuzzed packet may move the window past the peer's sequence numbers.
            in_sequence &= inbound.unprotect(&mut buf).0.is_err();
            continue;
        }
        if op & 0x80 != 0 {
            let (last, next) = (outbound.last_seq(), u64::from(inp.u32()));
            // ESN inference (RFC 4303 A2.2) places a sequence number by the receiver's top: a jump from it of
            // 2^32 less the window or more reads as old. Jumps are judged from the top, not the last sent.
            let top = inbound.replay_window().top();
            in_sequence &= next >= last && next.saturating_sub(top) < 1 << 31;
            outbound.set_last_seq(next);
        }
        let tamper = (op & 0x40 != 0).then(|| (inp.u16(), inp.u8() | 1));
        let inner = inp.chunk();
        let mut buf = VecBuf::new(inner);
        if outbound.protect(&mut buf).0.is_err() {
            continue;
        }
        if let Some((at, x)) = tamper {
            let d = buf.data_mut();
            let i = usize::from(at) % d.len();
            d[i] ^= x;
        }
        let (v, _) = inbound.unprotect(&mut buf);
        if tamper.is_none() && in_sequence && well_formed(inner) {
            assert_eq!(v, Ok(()), "a packet the peer protected was refused ({setup:?})");
        }
        if tamper.is_none() && v.is_ok() && well_formed(inner) {
            assert!(same_packet(buf.data(), inner), "unprotect returned a different packet ({setup:?})");
        }
    }
});
