//! MODP groups over crypto-bigint. Modular exponentiation is `DynResidue::pow_bounded_exp`: Montgomery form with a
//! fixed window and constant-time table lookups, so its timing depends on the exponent's bit bound (fixed per group,
//! or the private value's encoded length) but not on the exponent's value: constant time for our purposes.

use std::sync::OnceLock;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Uint, Word, U1024, U1536, U2048, U3072, U4096, U768};
use zeroize::Zeroize;

use super::modp_params::*;
use super::{random_bytes, KeyExchange};
use crate::crypto::error::CryptoError;
use crate::crypto::secret::Secret;
use crate::isakmp::GroupDescription;

/// Parameters of one MODP group.
struct Params<const L: usize> {
    group: GroupDescription,
    p_minus_1: Uint<L>,
    g: Uint<L>,
    /// Prime order of the subgroup (RFC 5114 groups only): public values must satisfy y^q = 1.
    q: Option<Uint<L>>,
    /// Bits of a generated private exponent.
    exp_bits: usize,
    residue: DynResidueParams<L>,
}

impl<const L: usize> Params<L> {
    fn new(group: GroupDescription, p: &str, g: Option<&str>, q: Option<&str>, exp_bits: usize) -> Self {
        let p = uint_from_hex::<L>(p);
        let g = g.map_or(Uint::from_u8(2), uint_from_hex::<L>);
        Params {
            group,
            p_minus_1: p.wrapping_sub(&Uint::ONE),
            g,
            q: q.map(uint_from_hex::<L>),
            exp_bits,
            residue: DynResidueParams::new(&p),
        }
    }

    fn pow(&self, base: &Uint<L>, exp: &Uint<L>, exp_bits: usize) -> Uint<L> {
        DynResidue::new(base, self.residue).pow_bounded_exp(exp, exp_bits).retrieve()
    }
}

fn uint_from_hex<const L: usize>(hex: &str) -> Uint<L> {
    let bytes: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_default()).collect();
    uint_from_be(&bytes).unwrap_or(Uint::ZERO)
}

/// Big-endian bytes (at most the integer's size) to an integer.
fn uint_from_be<const L: usize>(bytes: &[u8]) -> Option<Uint<L>> {
    let size = L * Word::BITS as usize / 8;
    if bytes.len() > size {
        return None;
    }
    let mut padded = vec![0u8; size];
    padded[size - bytes.len()..].copy_from_slice(bytes);
    let v = Uint::from_be_slice(&padded);
    padded.zeroize();
    Some(v)
}

fn uint_to_be<const L: usize>(v: &Uint<L>) -> Vec<u8> {
    v.as_words().iter().rev().flat_map(|w| w.to_be_bytes()).collect()
}

/// A MODP key pair; the private exponent is zeroized on drop.
struct Modp<const L: usize> {
    params: &'static Params<L>,
    private: Uint<L>,
    private_bits: usize,
    public: Vec<u8>,
}

impl<const L: usize> Drop for Modp<L> {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

impl<const L: usize> Modp<L> {
    fn new(params: &'static Params<L>, private: Uint<L>, private_bits: usize) -> Self {
        let public = uint_to_be(&params.pow(&params.g, &private, private_bits));
        Modp { params, private, private_bits, public }
    }

    fn generate(params: &'static Params<L>) -> Result<Self, CryptoError> {
        let mut buf = vec![0u8; params.exp_bits / 8];
        loop {
            random_bytes(&mut buf)?;
            let mut x = uint_from_be::<L>(&buf).ok_or(CryptoError::Random)?;
            buf.as_mut_slice().zeroize();
            // In the safe-prime groups any exponent above 1 works; in a subgroup it must also be below q.
            let in_range = x > Uint::ONE && params.q.is_none_or(|q| x < q);
            // `Uint` is `Copy`: the local copy is wiped too, not only the one the key pair keeps.
            let pair = in_range.then(|| Self::new(params, x, params.exp_bits));
            x.zeroize();
            if let Some(p) = pair {
                return Ok(p);
            }
        }
    }

    fn from_private(params: &'static Params<L>, private: &[u8]) -> Result<Self, CryptoError> {
        let mut x = uint_from_be::<L>(private).ok_or(CryptoError::InvalidPrivateKey(params.group))?;
        let valid = x > Uint::ONE && x < params.p_minus_1;
        let pair = valid.then(|| Self::new(params, x, private.len() * 8));
        x.zeroize();
        pair.ok_or(CryptoError::InvalidPrivateKey(params.group))
    }
}

impl<const L: usize> KeyExchange for Modp<L> {
    fn group(&self) -> GroupDescription {
        self.params.group
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn shared_secret(&self, peer_public: &[u8]) -> Result<Secret, CryptoError> {
        let group = self.params.group;
        if peer_public.len() != self.public.len() {
            return Err(CryptoError::BadPublicLength { group, got: peer_public.len(), expected: self.public.len() });
        }
        let y = uint_from_be::<L>(peer_public).ok_or(CryptoError::BadPublicLength {
            group,
            got: peer_public.len(),
            expected: self.public.len(),
        })?;
        // 1 < y < p-1 excludes the values of order 1 and 2 (and anything not reduced mod p).
        if y <= Uint::ONE || y >= self.params.p_minus_1 {
            return Err(CryptoError::InvalidPublicValue { group, reason: "not in the range 1 < y < p-1" });
        }
        if let Some(q) = &self.params.q {
            if self.params.pow(&y, q, q.bits_vartime()) != Uint::ONE {
                return Err(CryptoError::InvalidPublicValue { group, reason: "not in the prime-order subgroup" });
            }
        }
        let mut s = self.params.pow(&y, &self.private, self.private_bits);
        let out = Secret::new(uint_to_be(&s));
        s.zeroize();
        Ok(out)
    }
}

macro_rules! group_params {
    ($fn:ident, $u:ty, $group:ident, $p:expr, $g:expr, $q:expr, $bits:expr) => {
        fn $fn() -> &'static Params<{ <$u>::LIMBS }> {
            static P: OnceLock<Params<{ <$u>::LIMBS }>> = OnceLock::new();
            P.get_or_init(|| Params::new(GroupDescription::$group, $p, $g, $q, $bits))
        }
    };
}

// Exponent sizes: at least twice the group's symmetric strength (RFC 3526 §8), 256 bits for the subgroup.
group_params!(g1, U768, MODP_768, MODP_1_P, None, None, 256);
group_params!(g2, U1024, MODP_1024, MODP_2_P, None, None, 256);
group_params!(g5, U1536, MODP_1536, MODP_5_P, None, None, 256);
group_params!(g14, U2048, MODP_2048, MODP_14_P, None, None, 320);
group_params!(g15, U3072, MODP_3072, MODP_15_P, None, None, 384);
group_params!(g16, U4096, MODP_4096, MODP_16_P, None, None, 512);
group_params!(g24, U2048, MODP_2048_256, MODP_24_P, Some(MODP_24_G), Some(MODP_24_Q), 256);

pub(super) fn generate(group: GroupDescription) -> Result<Box<dyn KeyExchange>, CryptoError> {
    Ok(match group {
        GroupDescription::MODP_768 => Box::new(Modp::generate(g1())?),
        GroupDescription::MODP_1024 => Box::new(Modp::generate(g2())?),
        GroupDescription::MODP_1536 => Box::new(Modp::generate(g5())?),
        GroupDescription::MODP_2048 => Box::new(Modp::generate(g14())?),
        GroupDescription::MODP_3072 => Box::new(Modp::generate(g15())?),
        GroupDescription::MODP_4096 => Box::new(Modp::generate(g16())?),
        GroupDescription::MODP_2048_256 => Box::new(Modp::generate(g24())?),
        other => return Err(CryptoError::UnsupportedGroup(other)),
    })
}

pub(super) fn from_private(group: GroupDescription, private: &[u8]) -> Result<Box<dyn KeyExchange>, CryptoError> {
    Ok(match group {
        GroupDescription::MODP_768 => Box::new(Modp::from_private(g1(), private)?),
        GroupDescription::MODP_1024 => Box::new(Modp::from_private(g2(), private)?),
        GroupDescription::MODP_1536 => Box::new(Modp::from_private(g5(), private)?),
        GroupDescription::MODP_2048 => Box::new(Modp::from_private(g14(), private)?),
        GroupDescription::MODP_3072 => Box::new(Modp::from_private(g15(), private)?),
        GroupDescription::MODP_4096 => Box::new(Modp::from_private(g16(), private)?),
        GroupDescription::MODP_2048_256 => Box::new(Modp::from_private(g24(), private)?),
        other => return Err(CryptoError::UnsupportedGroup(other)),
    })
}
