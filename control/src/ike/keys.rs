//! The keys of one ISAKMP SA and the encryption of its messages (RFC 2409 §5, Appendix B).

use crate::crypto::kdf::{self, Skeyids};
use crate::crypto::{pad, IkeCipher, IvManager, Prf, Secret};
use crate::isakmp::{
    emit_payloads, first_payload_type, parse_payloads, Body, Flags, HeaderRepr, Message, Payload, Trailing,
};

use super::IkeError;

/// Keying material and CBC state of an ISAKMP SA.
#[derive(Debug, Clone)]
pub(crate) struct Phase1Crypto {
    pub prf: Prf,
    cipher: IkeCipher,
    pub skeyids: Skeyids,
    enc_key: Secret,
    ivs: IvManager,
}

/// What authenticates the exchange, as far as SKEYID is concerned (RFC 2409 §5).
#[derive(Clone, Copy)]
pub(crate) enum Phase1Secret<'a> {
    /// SKEYID = prf(pre-shared-key, Ni_b | Nr_b).
    PreSharedKey(&'a Secret),
    /// SKEYID = prf(Ni_b | Nr_b, g^xy).
    Signatures,
}

/// What both sides know once the KE and NONCE payloads are exchanged.
pub(crate) struct Phase1Material<'a> {
    pub prf: Prf,
    pub cipher: IkeCipher,
    pub secret: Phase1Secret<'a>,
    pub gxy: &'a Secret,
    pub gxi: &'a [u8],
    pub gxr: &'a [u8],
    pub ni: &'a [u8],
    pub nr: &'a [u8],
    pub cky_i: &'a [u8],
    pub cky_r: &'a [u8],
}

impl Phase1Crypto {
    /// Derives SKEYID (pre-shared key or signatures), SKEYID_d/a/e, the encryption key and the Phase 1 IV.
    pub fn derive(m: &Phase1Material<'_>) -> Self {
        let skeyid = match m.secret {
            Phase1Secret::PreSharedKey(psk) => kdf::skeyid_psk(m.prf, psk.expose(), m.ni, m.nr),
            Phase1Secret::Signatures => kdf::skeyid_sig(m.prf, m.ni, m.nr, m.gxy),
        };
        let skeyids = kdf::derive_skeyids(m.prf, skeyid, m.gxy, m.cky_i, m.cky_r);
        let enc_key = kdf::encryption_key(m.prf, &skeyids.skeyid_e, m.cipher.key_len());
        let ivs = IvManager::new(m.prf, m.cipher.block_len(), m.gxi, m.gxr);
        Phase1Crypto { prf: m.prf, cipher: m.cipher, skeyids, enc_key, ivs }
    }

    /// Emits an encrypted message (flag E set) carrying `payloads`, advancing the exchange's IV.
    pub fn encrypt(&mut self, mut header: HeaderRepr, payloads: &[Payload]) -> Result<Vec<u8>, IkeError> {
        let mut data = emit_payloads(payloads)?;
        pad(&mut data, self.cipher.block_len());
        let iv = self.ivs.iv(header.message_id);
        self.cipher.encrypt(self.enc_key.expose(), &iv, &mut data)?;
        self.ivs.update(header.message_id, &data);
        header.flags = header.flags.union(Flags::ENCRYPTION);
        let msg = Message { header, body: Body::Encrypted { first_payload: first_payload_type(payloads), data } };
        Ok(msg.to_bytes()?)
    }

    /// Decrypts and parses an encrypted message; the IV advances only if the plaintext parses.
    pub fn decrypt(&mut self, msg: &Message) -> Result<Vec<Payload>, IkeError> {
        let Body::Encrypted { first_payload, data } = &msg.body else {
            return Err(IkeError::Unexpected("a plaintext message where an encrypted one was due"));
        };
        let mid = msg.header.message_id;
        let iv = self.ivs.iv(mid);
        let mut plain = data.clone();
        self.cipher.decrypt(self.enc_key.expose(), &iv, &mut plain)?;
        let payloads = parse_payloads(*first_payload, &plain, Trailing::Padding)?;
        self.ivs.update(mid, data);
        Ok(payloads)
    }

    /// Drops the IV of a finished one-message exchange (informational).
    pub fn forget_exchange(&mut self, message_id: u32) {
        self.ivs.forget(message_id);
    }
}
