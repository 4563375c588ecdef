//! IKEv1 key derivation (RFC 2409 §5, §5.5 and Appendix B).

use super::prf::Prf;
use super::secret::Secret;

/// SKEYID and the three keys derived from it.
#[derive(Debug, Clone)]
pub struct Skeyids {
    pub skeyid: Secret,
    /// Keying material for Phase 2 SAs.
    pub skeyid_d: Secret,
    /// Authentication key of ISAKMP messages (Phase 2 and informational HASHes).
    pub skeyid_a: Secret,
    /// Source of the ISAKMP SA's encryption key.
    pub skeyid_e: Secret,
}

/// SKEYID for pre-shared key authentication: prf(pre-shared-key, Ni_b | Nr_b).
pub fn skeyid_psk(prf: Prf, psk: &[u8], ni_b: &[u8], nr_b: &[u8]) -> Secret {
    prf.compute(psk, &[ni_b, nr_b])
}

/// SKEYID for signature authentication: prf(Ni_b | Nr_b, g^xy).
pub fn skeyid_sig(prf: Prf, ni_b: &[u8], nr_b: &[u8], gxy: &Secret) -> Secret {
    let mut key = Secret::from_slice(ni_b);
    key.extend_from_slice(nr_b);
    prf.compute(key.expose(), &[gxy.expose()])
}

/// SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0), SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1),
/// SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2).
pub fn derive_skeyids(prf: Prf, skeyid: Secret, gxy: &Secret, cky_i: &[u8], cky_r: &[u8]) -> Skeyids {
    let k = skeyid.expose();
    let g = gxy.expose();
    let skeyid_d = prf.compute(k, &[g, cky_i, cky_r, &[0]]);
    let skeyid_a = prf.compute(k, &[skeyid_d.expose(), g, cky_i, cky_r, &[1]]);
    let skeyid_e = prf.compute(k, &[skeyid_a.expose(), g, cky_i, cky_r, &[2]]);
    Skeyids { skeyid, skeyid_d, skeyid_a, skeyid_e }
}

/// The inputs of HASH_I / HASH_R from one side's point of view.
#[derive(Debug, Clone, Copy)]
pub struct AuthHashInput<'a> {
    pub gxi: &'a [u8],
    pub gxr: &'a [u8],
    pub cky_i: &'a [u8],
    pub cky_r: &'a [u8],
    /// The initiator's whole SA payload body (without the generic header).
    pub sai_b: &'a [u8],
}

/// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b).
pub fn hash_i(prf: Prf, skeyid: &Secret, input: &AuthHashInput<'_>, idii_b: &[u8]) -> Vec<u8> {
    let i = input;
    prf.compute(skeyid.expose(), &[i.gxi, i.gxr, i.cky_i, i.cky_r, i.sai_b, idii_b]).expose().to_vec()
}

/// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b).
pub fn hash_r(prf: Prf, skeyid: &Secret, input: &AuthHashInput<'_>, idir_b: &[u8]) -> Vec<u8> {
    let i = input;
    prf.compute(skeyid.expose(), &[i.gxr, i.gxi, i.cky_r, i.cky_i, i.sai_b, idir_b]).expose().to_vec()
}

/// The ISAKMP SA's encryption key: the first `key_len` bytes of SKEYID_e, or when that is too short, of
/// Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1) (Appendix B).
pub fn encryption_key(prf: Prf, skeyid_e: &Secret, key_len: usize) -> Secret {
    let mut out = if skeyid_e.len() >= key_len {
        skeyid_e.clone()
    } else {
        let mut ka = Secret::default();
        let mut k = prf.compute(skeyid_e.expose(), &[&[0]]);
        while ka.len() < key_len {
            ka.extend_from_slice(k.expose());
            k = prf.compute(skeyid_e.expose(), &[k.expose()]);
        }
        ka
    };
    out.truncate(key_len);
    out
}

/// Phase 1 IV: hash(g^xi | g^xr) truncated to the cipher's block size (RFC 2409 Appendix B).
pub fn phase1_iv(prf: Prf, gxi: &[u8], gxr: &[u8], block_len: usize) -> Vec<u8> {
    let mut iv = prf.hash(&[gxi, gxr]);
    iv.truncate(block_len);
    iv
}

/// IV of the first message of a Quick Mode or informational exchange: hash(last Phase 1 CBC block | M-ID)
/// truncated to the block size.
pub fn phase2_iv(prf: Prf, last_phase1_block: &[u8], message_id: u32, block_len: usize) -> Vec<u8> {
    let mut iv = prf.hash(&[last_phase1_block, &message_id.to_be_bytes()]);
    iv.truncate(block_len);
    iv
}

/// The inputs of one Quick Mode KEYMAT (RFC 2409 §5.5), for one SA direction.
#[derive(Debug, Clone, Copy)]
pub struct KeymatInput<'a> {
    /// g(qm)^xy with PFS, None without.
    pub gqm_xy: Option<&'a Secret>,
    pub protocol: u8,
    /// The SPI of the SA this keying material is for (the receiver's choice).
    pub spi: &'a [u8],
    pub ni_b: &'a [u8],
    pub nr_b: &'a [u8],
}

/// KEYMAT = K1 | K2 | ..., K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
/// Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b), truncated to `len` bytes.
pub fn quick_mode_keymat(prf: Prf, skeyid_d: &Secret, input: &KeymatInput<'_>, len: usize) -> Secret {
    let g: &[u8] = input.gqm_xy.map_or(&[], Secret::expose);
    let tail: [&[u8]; 5] = [g, &[input.protocol], input.spi, input.ni_b, input.nr_b];
    let mut out = Secret::default();
    let mut k = prf.compute(skeyid_d.expose(), &tail);
    loop {
        out.extend_from_slice(k.expose());
        if out.len() >= len {
            break;
        }
        let parts = [k.expose(), tail[0], tail[1], tail[2], tail[3], tail[4]];
        k = prf.compute(skeyid_d.expose(), &parts);
    }
    out.truncate(len);
    out
}

/// HASH(1) of Quick Mode and of informational exchanges: prf(SKEYID_a, M-ID | the payloads after the HASH).
pub fn message_hash(prf: Prf, skeyid_a: &Secret, message_id: u32, payloads: &[u8]) -> Vec<u8> {
    prf.compute(skeyid_a.expose(), &[&message_id.to_be_bytes(), payloads]).expose().to_vec()
}

/// Quick Mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | the payloads after the HASH).
pub fn quick_mode_hash2(prf: Prf, skeyid_a: &Secret, message_id: u32, ni_b: &[u8], payloads: &[u8]) -> Vec<u8> {
    prf.compute(skeyid_a.expose(), &[&message_id.to_be_bytes(), ni_b, payloads]).expose().to_vec()
}

/// Quick Mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
pub fn quick_mode_hash3(prf: Prf, skeyid_a: &Secret, message_id: u32, ni_b: &[u8], nr_b: &[u8]) -> Vec<u8> {
    prf.compute(skeyid_a.expose(), &[&[0], &message_id.to_be_bytes(), ni_b, nr_b]).expose().to_vec()
}

/// NAT-D payload data (RFC 3947 §3.2): HASH(CKY-I | CKY-R | IP | Port) with the negotiated hash, for one address.
pub fn nat_d(prf: Prf, cky_i: &[u8], cky_r: &[u8], addr: std::net::SocketAddr) -> Vec<u8> {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    prf.hash(&[cky_i, cky_r, &ip, &addr.port().to_be_bytes()])
}
