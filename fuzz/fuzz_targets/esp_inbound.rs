//! ESP inbound: a fixed SA (suite, mode, NAT-T and ESN chosen by the first byte) unprotects a sequence of packets.
//! Each packet is, by its mode byte: raw bytes (anything off the wire); an "authentic" packet (fuzzed body with a
//! correct ICV, so the trailer and decapsulation see chosen plaintext); or a real packet protected by the peer's
//! outbound SA, possibly with one byte flipped afterwards. Properties: no panic; an untampered protected packet
//! (sent in sequence) comes back exactly as it went in; in tunnel mode a flipped bit anywhere from the ESP header on
//! is refused. (Flips in the outer IP/UDP header may legitimately pass: TTL, ECN, the NAT-T UDP checksum.)
#![no_main]

use engine::buf::{PacketBuf, VecBuf};
use engine::esp::{InboundSa, OutboundSa};
use engine::DropReason;
use espgate_fuzz::esp::{same_packet, well_formed, Setup};
use espgate_fuzz::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let setup = Setup::from_byte(inp.u8());
    let mut inbound = InboundSa::new(setup.params(true)).expect("fixed inbound SA");
    let outbound = OutboundSa::new(setup.params(false)).expect("fixed outbound SA");
    // Whether the peer's packets must all be accepted: no outbound jump backwards (replays are then legitimate drops)
    // or of 2^31 or more (it defeats ESN inference, RFC 4303 Appendix A), and no fuzzed packet moved the window past
    // the peer's sequence numbers (an authentic one does even when its contents are then refused, RFC 4303 §3.4.3).
    let mut in_sequence = true;
    for _ in 0..16 {
        if inp.is_empty() {
            break;
        }
        let op = inp.u8();
        match op % 3 {
            0 => {
                let mut buf = VecBuf::new(inp.chunk());
                let top = inbound.replay_window().top();
                let _ = inbound.unprotect(&mut buf);
                in_sequence &= inbound.replay_window().top() == top;
            }
            1 => {
                let seq = inp.u32();
                let body = inp.chunk();
                let pkt = setup.authentic(seq, body).unwrap_or_else(|| body.to_vec());
                let mut buf = VecBuf::new(&pkt);
                let top = inbound.replay_window().top();
                let _ = inbound.unprotect(&mut buf);
                in_sequence &= inbound.replay_window().top() == top;
            }
            _ => {
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
                let mut flipped_esp = false;
                if let Some((at, x)) = tamper {
                    let d = buf.data_mut();
                    let i = usize::from(at) % d.len();
                    d[i] ^= x;
                    let esp_off = if setup.outer_v6() { 40 } else { 20 } + if setup.nat_t { 8 } else { 0 };
                    flipped_esp = setup.mode != 0 && i >= esp_off;
                }
                let (v, _) = inbound.unprotect(&mut buf);
                // A tampered packet that passes (a flip in the outer header) still counts as in sequence.
                // Transport mode carries the packet's own upper-layer protocol as ESP's next header, and 59 (IPv6
                // No Next Header) there means a dummy packet the receiver must discard (RFC 4303 §2.6).
                let dummy = setup.mode == 0 && v == Err(DropReason::Dummy);
                if tamper.is_none() && in_sequence && well_formed(inner) && !dummy {
                    assert_eq!(v, Ok(()), "a packet the peer protected was refused ({setup:?})");
                }
                if tamper.is_none() && v.is_ok() && well_formed(inner) {
                    assert!(same_packet(buf.data(), inner), "unprotect returned a different packet ({setup:?})");
                }
                assert!(!(flipped_esp && v.is_ok()), "a tampered ESP packet was accepted ({setup:?})");
            }
        }
    }
});
