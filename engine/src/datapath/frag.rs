//! IPv4 fragmentation before encryption (RFC 791 §3.2; RFC 4301 §8.1 prefers fragmenting the inner packet so the
//! peer decrypts whole ESP packets). The packet path cannot allocate, so this splits a packet into fragment images
//! handed to a callback (header, data), which writes each into a buffer of its own.
use crate::wire::ipv4;

/// Fragment header room: the largest IPv4 header.
pub const MAX_HEADER: usize = 60;

/// Why a packet cannot be fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragError {
    /// Not a valid IPv4 packet.
    Malformed,
    /// DF is set: the sender must get ICMP Fragmentation Needed instead.
    DontFragment,
    /// `max_len` leaves no room for 8 bytes of data after the header.
    TooSmall,
    /// The callback could not take a fragment (no buffer).
    NoBuffer,
}

/// Splits `pkt` into fragments of at most `max_len` bytes and calls `emit(header, data)` for each, in order.
/// Returns the number of fragments. The first fragment keeps all options; later ones only those with the copy
/// flag set (RFC 791).
pub fn fragment_v4(pkt: &[u8], max_len: usize, mut emit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<usize, FragError> {
    let p = ipv4::Packet::new_checked(pkt).map_err(|_| FragError::Malformed)?;
    if p.dont_frag() {
        return Err(FragError::DontFragment);
    }
    let hl = p.header_len();
    let total = usize::from(p.total_len());
    let data = &pkt[hl..total];
    let (base_offset, last_mf) = (usize::from(p.frag_offset()), p.more_frags());

    let mut first = [0u8; MAX_HEADER];
    first[..hl].copy_from_slice(&pkt[..hl]);
    let mut later = [0u8; MAX_HEADER];
    let later_len = copied_header(&pkt[..hl], &mut later);

    let mut off = 0;
    let mut count = 0;
    while off < data.len() || (off == 0 && data.is_empty()) {
        let (hdr, h): (&mut [u8; MAX_HEADER], usize) =
            if off == 0 { (&mut first, hl) } else { (&mut later, later_len) };
        let room = max_len.checked_sub(h).filter(|r| *r >= 8).ok_or(FragError::TooSmall)?;
        let remaining = data.len() - off;
        let chunk = if remaining <= room { remaining } else { room & !7 };
        let more = off + chunk < data.len() || last_mf;
        let frag_off = base_offset + off;
        if frag_off > 0xffff {
            return Err(FragError::Malformed);
        }
        {
            let mut f = ipv4::Packet::new_unchecked(&mut hdr[..h]);
            f.set_version_and_header_len(h);
            f.set_total_len((h + chunk) as u16);
            f.set_frag(false, more, frag_off as u16);
            f.fill_checksum();
        }
        if !emit(&hdr[..h], &data[off..off + chunk]) {
            return Err(FragError::NoBuffer);
        }
        count += 1;
        off += chunk;
        if data.is_empty() {
            break;
        }
    }
    Ok(count)
}

/// The header for fragments after the first: the fixed part and the options with the copy flag, padded to 4 bytes.
fn copied_header(h: &[u8], out: &mut [u8; MAX_HEADER]) -> usize {
    out[..20].copy_from_slice(&h[..20]);
    let mut n = 20;
    let mut i = 20;
    while i < h.len() {
        let t = h[i];
        let len = match t {
            0 => break,
            1 => 1,
            _ => match h.get(i + 1) {
                Some(&l) if l >= 2 && i + usize::from(l) <= h.len() => usize::from(l),
                _ => break,
            },
        };
        if t & 0x80 != 0 {
            out[n..n + len].copy_from_slice(&h[i..i + len]);
            n += len;
        }
        i += len;
    }
    let padded = n.div_ceil(4) * 4;
    out[n..padded].fill(0);
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(data_len: usize, options: &[u8], df: bool) -> Vec<u8> {
        let hl = 20 + options.len();
        let mut p = vec![0u8; hl + data_len];
        {
            let mut v = ipv4::Packet::new_unchecked(&mut p[..]);
            v.set_version_and_header_len(hl);
            v.set_total_len((hl + data_len) as u16);
            v.set_ident(0x1234);
            v.set_frag(df, false, 0);
            v.set_ttl(63);
            v.set_protocol(crate::wire::IpProtocol::UDP);
        }
        p[20..hl].copy_from_slice(options);
        for (i, b) in p[hl..].iter_mut().enumerate() {
            *b = i as u8;
        }
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
        p
    }

    fn fragments(p: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        fragment_v4(p, max, |h, d| {
            out.push([h, d].concat());
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn fragments_reassemble_to_the_original() {
        let p = packet(3000, &[], false);
        let frags = fragments(&p, 1400);
        assert_eq!(frags.len(), 3);
        let mut data = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1400);
            let v = ipv4::Packet::new_checked(&f[..]).unwrap();
            assert!(v.verify_checksum());
            assert_eq!(v.ident(), 0x1234);
            assert_eq!(usize::from(v.frag_offset()), data.len());
            assert_eq!(v.more_frags(), i < 2);
            data.extend_from_slice(v.payload());
        }
        assert_eq!(data, &p[20..]);
    }

    #[test]
    fn options_and_refusals() {
        // A copied option (0x94 router alert, len 4) and a non-copied one (0x07 record route, len 7), then padding.
        let opts = [0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0, 0];
        let p = packet(100, &opts, false);
        let frags = fragments(&p, 80);
        assert_eq!(frags[0][0] & 0x0f, 8, "first fragment keeps every option");
        assert_eq!(frags[1][0] & 0x0f, 6, "later fragments keep only copied options");
        assert_eq!(&frags[1][20..24], &[0x94, 4, 0, 0]);
        assert_eq!(fragment_v4(&packet(100, &[], true), 80, |_, _| true), Err(FragError::DontFragment));
        assert_eq!(fragment_v4(&packet(100, &[], false), 27, |_, _| true), Err(FragError::TooSmall));
        assert_eq!(fragment_v4(&[0x45, 0, 0], 80, |_, _| true), Err(FragError::Malformed));
        assert_eq!(fragment_v4(&packet(100, &[], false), 60, |_, _| false), Err(FragError::NoBuffer));
        // Re-fragmenting a middle fragment keeps MF on its last piece.
        let mut mid = packet(64, &[], false);
        {
            let mut v = ipv4::Packet::new_unchecked(&mut mid[..]);
            v.set_frag(false, true, 800);
            v.fill_checksum();
        }
        let f = fragments(&mid, 60);
        let last = ipv4::Packet::new_checked(&f[f.len() - 1][..]).unwrap();
        assert!(last.more_frags());
        assert_eq!(ipv4::Packet::new_checked(&f[1][..]).unwrap().frag_offset(), 840);
    }
}
