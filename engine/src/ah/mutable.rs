//! Zeroing the fields that change in transit before the AH ICV is computed (RFC 4302 §3.3.3.1, Appendix A).
//!
//! The caller saves the header bytes, zeroes them here, computes the ICV and restores them, so the packet leaves
//! (transport mode) with its real TTL, TOS and options.

use crate::drop::DropReason;
use crate::wire::IpProtocol;

/// IPv4 options that RFC 4302 Appendix A.1 lists as immutable; every other option is zeroed whole.
/// Source routes (LSRR 131, SSRR 137) are "mutable but predictable": treating them as mutable (zeroed) is what a
/// receiver without source-route support can verify, and espgate neither sends nor forwards source-routed packets.
fn v4_option_immutable(kind: u8) -> bool {
    matches!(kind, 0 | 1 | 130 | 133 | 134 | 148 | 149)
}

/// Zeroes TOS, flags/fragment offset, TTL, checksum and mutable options of an IPv4 header of `h.len()` bytes.
pub(crate) fn zero_v4(h: &mut [u8]) -> Result<(), DropReason> {
    h[1] = 0;
    h[6..9].fill(0);
    h[10..12].fill(0);
    let mut i = 20;
    while i < h.len() {
        match h[i] {
            0 => break, // End of Option List: the rest is padding
            1 => i += 1,
            kind => {
                let len = usize::from(*h.get(i + 1).ok_or(DropReason::AhMalformed)?);
                if len < 2 || i + len > h.len() {
                    return Err(DropReason::AhMalformed);
                }
                if !v4_option_immutable(kind) {
                    h[i..i + len].fill(0);
                }
                i += len;
            }
        }
    }
    Ok(())
}

/// Zeroes traffic class, flow label and hop limit, and the data of options marked "may change en route" in
/// Hop-by-Hop and Destination Options headers before AH (`p[..ah_off]` is the IPv6 header and extension headers).
/// Routing headers before AH are refused: their mutable-but-predictable addresses are not supported.
pub(crate) fn zero_v6(p: &mut [u8], ah_off: usize) -> Result<(), DropReason> {
    p[0] &= 0xf0;
    p[1..4].fill(0);
    p[7] = 0;
    let (mut off, mut nh) = (40, IpProtocol(p[6]));
    while off < ah_off {
        let len = match nh {
            IpProtocol::HOP_BY_HOP | IpProtocol::IPV6_DEST_OPTS => {
                let len = (usize::from(*p.get(off + 1).ok_or(DropReason::AhMalformed)?) + 1) * 8;
                if off + len > ah_off {
                    return Err(DropReason::AhMalformed);
                }
                zero_v6_options(&mut p[off + 2..off + len])?;
                len
            }
            IpProtocol::IPV6_FRAGMENT => 8,
            _ => return Err(DropReason::AhMalformed),
        };
        nh = IpProtocol(p[off]);
        off += len;
    }
    if off != ah_off {
        return Err(DropReason::AhMalformed);
    }
    Ok(())
}

fn zero_v6_options(opts: &mut [u8]) -> Result<(), DropReason> {
    let mut i = 0;
    while i < opts.len() {
        if opts[i] == 0 {
            i += 1; // Pad1
            continue;
        }
        let len = usize::from(*opts.get(i + 1).ok_or(DropReason::AhMalformed)?);
        if i + 2 + len > opts.len() {
            return Err(DropReason::AhMalformed);
        }
        // RFC 8200 §4.2: the third-highest bit of the option type says the data may change en route.
        if opts[i] & 0x20 != 0 {
            opts[i + 2..i + 2 + len].fill(0);
        }
        i += 2 + len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_fields_and_options() {
        // Header with a record-route option (7, mutable) and a router alert (148, immutable), then EOL padding.
        let orig = [
            0x48, 0xb8, 0, 60, 0x12, 0x34, 0x40, 0x00, 64, 51, 0xab, 0xcd, 192, 0, 2, 1, 203, 0, 113, 1, // base
            7, 7, 4, 1, 2, 3, 4, // record route
            148, 4, 0, 0, // router alert
            1, 0, // NOP, EOL
        ];
        let mut h = orig;
        zero_v4(&mut h).unwrap();
        assert_eq!(&h[..12], &[0x48, 0, 0, 60, 0x12, 0x34, 0, 0, 0, 51, 0, 0]);
        assert_eq!(&h[20..27], &[0; 7]);
        assert_eq!(&h[27..31], &[148, 4, 0, 0]);
        let mut bad = orig;
        bad[27] = 9;
        bad[28] = 40; // option longer than the header
        assert_eq!(zero_v4(&mut bad), Err(DropReason::AhMalformed));
    }

    #[test]
    fn v6_fields_and_mutable_options() {
        let mut p = vec![0u8; 40 + 8];
        p[0..4].copy_from_slice(&[0x6a, 0xbc, 0xde, 0xf1]);
        p[6] = 0; // hop-by-hop follows
        p[7] = 64;
        // HBH: next AH, len 0 (8 bytes), option 0x3e (may change) with 2 bytes data, then PadN? use Pad1 x2.
        p[40..48].copy_from_slice(&[51, 0, 0x3e, 2, 0xaa, 0xbb, 0, 0]);
        zero_v6(&mut p, 48).unwrap();
        assert_eq!(&p[0..4], &[0x60, 0, 0, 0]);
        assert_eq!(p[7], 0);
        assert_eq!(&p[40..48], &[51, 0, 0x3e, 2, 0, 0, 0, 0]);
        p[6] = 43;
        assert_eq!(zero_v6(&mut p, 48), Err(DropReason::AhMalformed));
    }
}
