//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One's-complement sum of `data` as big-endian 16-bit words (odd tail padded with zero), folded to 16 bits.
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // Summing 32-bit halves into a 64-bit accumulator defers the carries; folding at the end is equivalent.
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let mut rest = chunks.remainder();
    while rest.len() >= 2 {
        acc += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let [last] = rest {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

/// Folds a wide one's-complement accumulator to 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// One's-complement addition of two 16-bit sums.
pub fn combine(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The checksum field value for `data` (the complement of its sum).
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit word of the covered data changed from `old` to `new`.
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    !combine(combine(!check, !old), new)
}

/// The sum of the TCP/UDP pseudo-header (RFC 768, RFC 8200 §8.1) for two addresses of the same family.
/// Returns `None` for mixed families.
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> Option<u16> {
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => combine(sum(&s.octets()), sum(&d.octets())),
        (IpAddr::V6(s), IpAddr::V6(d)) => combine(sum(&s.octets()), sum(&d.octets())),
        _ => return None,
    };
    let len = fold(u64::from(length));
    let len_hi = (length >> 16) as u16;
    Some(combine(combine(addrs, u16::from(protocol)), combine(len, len_hi)))
}

/// Pseudo-header sum for IPv4.
pub fn pseudo_header_sum_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    combine(combine(sum(&src.octets()), sum(&dst.octets())), combine(u16::from(protocol), length))
}

/// Pseudo-header sum for IPv6.
pub fn pseudo_header_sum_v6(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8, length: u32) -> u16 {
    pseudo_header_sum(IpAddr::V6(src), IpAddr::V6(dst), protocol, length).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn incremental_matches_full() {
        let mut data = [0x45u8, 0x00, 0x00, 0x54, 0x08, 0xf2, 0x00, 0x00, 0x40, 0x01, 0, 0, 192, 168, 123, 3];
        let c = checksum(&data);
        let old = u16::from_be_bytes([data[8], data[9]]);
        data[8] = 0x3f;
        let new = u16::from_be_bytes([data[8], data[9]]);
        assert_eq!(update16(c, old, new), checksum(&data));
    }

    proptest::proptest! {
        #[test]
        fn incremental_update_any_word(mut data in proptest::collection::vec(proptest::num::u8::ANY, 2..64usize),
                                       idx in 0usize..32, new in proptest::num::u16::ANY) {
            let i = (idx % (data.len() / 2)) * 2;
            let c = checksum(&data);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let full = checksum(&data);
            let inc = update16(c, old, new);
            // 0x0000 and 0xffff are the same one's-complement value.
            proptest::prop_assert!(inc == full || (inc ^ full) == 0xffff && (inc == 0 || full == 0));
        }
    }
}
