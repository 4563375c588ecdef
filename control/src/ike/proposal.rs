//! Phase 1 proposals as data: one ISAKMP policy (Cisco's `crypto isakmp policy N`) ⇄ one KEY_IKE transform, and the
//! responder's choice among the transforms a peer offers.

use crate::crypto::{IkeCipher, Prf};
use crate::isakmp::{
    Attribute, AuthMethod, EncryptionAlgorithm, GroupDescription, HashAlgorithm, IkeAttributeType, IsakmpTransformId,
    LifeType, NotifyType, ProposalRepr, ProtocolId, SaRepr, TransformRepr,
};

/// RFC 2407 §4.5: without a lifetime attribute an SA lives 8 hours.
pub const DEFAULT_LIFETIME_SECS: u32 = 28_800;

/// One Phase 1 policy: the algorithms and lifetime of an ISAKMP SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase1Proposal {
    pub cipher: IkeCipher,
    pub hash: HashAlgorithm,
    pub auth: AuthMethod,
    pub group: GroupDescription,
    pub lifetime_secs: u32,
}

/// Why a transform could not be taken as a Phase 1 proposal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    #[error("transform ID {0} is not KEY_IKE")]
    NotKeyIke(u8),
    #[error("attribute {0} is missing")]
    Missing(IkeAttributeType),
    #[error("attribute {0} has an unsupported value")]
    Unsupported(IkeAttributeType),
}

impl ProposalError {
    pub fn notify(&self) -> NotifyType {
        match self {
            ProposalError::NotKeyIke(_) => NotifyType::INVALID_TRANSFORM_ID,
            _ => NotifyType::ATTRIBUTES_NOT_SUPPORTED,
        }
    }
}

impl Phase1Proposal {
    /// The negotiated PRF (HMAC of the hash; IKEv1 PRF attributes are not used).
    pub fn prf(&self) -> Option<Prf> {
        Prf::from_hash(self.hash)
    }

    /// Whether this suite implements every algorithm named (pre-shared keys, RSA signatures, ECDSA P-256/P-384).
    pub fn is_supported(&self) -> bool {
        self.prf().is_some()
            && matches!(
                self.auth,
                AuthMethod::PRE_SHARED_KEY
                    | AuthMethod::RSA_SIGNATURES
                    | AuthMethod::ECDSA_SHA256_P256
                    | AuthMethod::ECDSA_SHA384_P384
            )
            && crate::crypto::dh::public_len(self.group).is_some()
    }

    /// The KEY_IKE transform offering this proposal.
    pub fn to_transform(&self, number: u8) -> TransformRepr {
        let (alg, key_bits) = match self.cipher {
            IkeCipher::DesCbc => (EncryptionAlgorithm::DES_CBC, None),
            IkeCipher::TripleDesCbc => (EncryptionAlgorithm::DES3_CBC, None),
            IkeCipher::Aes128Cbc => (EncryptionAlgorithm::AES_CBC, Some(128u16)),
            IkeCipher::Aes192Cbc => (EncryptionAlgorithm::AES_CBC, Some(192)),
            IkeCipher::Aes256Cbc => (EncryptionAlgorithm::AES_CBC, Some(256)),
        };
        let mut attributes = vec![Attribute::basic(IkeAttributeType::ENCRYPTION_ALGORITHM, alg)];
        if let Some(bits) = key_bits {
            attributes.push(Attribute::basic(IkeAttributeType::KEY_LENGTH, bits));
        }
        attributes.push(Attribute::basic(IkeAttributeType::HASH_ALGORITHM, self.hash));
        attributes.push(Attribute::basic(IkeAttributeType::AUTHENTICATION_METHOD, self.auth));
        attributes.push(Attribute::basic(IkeAttributeType::GROUP_DESCRIPTION, self.group));
        attributes.push(Attribute::basic(IkeAttributeType::LIFE_TYPE, LifeType::SECONDS));
        attributes.push(match u16::try_from(self.lifetime_secs) {
            Ok(s) => Attribute::basic(IkeAttributeType::LIFE_DURATION, s),
            Err(_) => Attribute::variable(IkeAttributeType::LIFE_DURATION, self.lifetime_secs.to_be_bytes().to_vec()),
        });
        TransformRepr { number, transform_id: IsakmpTransformId::KEY_IKE.0, attributes }
    }

    /// Reads a KEY_IKE transform. Attributes this code does not implement make the transform unacceptable.
    pub fn from_transform(t: &TransformRepr) -> Result<Self, ProposalError> {
        use IkeAttributeType as A;
        if t.transform_id != IsakmpTransformId::KEY_IKE.0 {
            return Err(ProposalError::NotKeyIke(t.transform_id));
        }
        let (mut alg, mut key_bits, mut hash, mut auth, mut group) = (None, None, None, None, None);
        let mut lifetime = None;
        let mut life_type = None;
        for a in &t.attributes {
            let kind = A(a.kind);
            let v = a.as_u64().ok_or(ProposalError::Unsupported(kind))?;
            let v16 = u16::try_from(v).map_err(|_| ProposalError::Unsupported(kind));
            match kind {
                A::ENCRYPTION_ALGORITHM => alg = Some(EncryptionAlgorithm(v16?)),
                A::KEY_LENGTH => key_bits = Some(v),
                A::HASH_ALGORITHM => hash = Some(HashAlgorithm(v16?)),
                A::AUTHENTICATION_METHOD => auth = Some(AuthMethod(v16?)),
                A::GROUP_DESCRIPTION => group = Some(GroupDescription(v16?)),
                A::LIFE_TYPE => life_type = Some(LifeType(v16?)),
                A::LIFE_DURATION => match life_type {
                    Some(LifeType::SECONDS) => {
                        lifetime = Some(u32::try_from(v).map_err(|_| ProposalError::Unsupported(kind))?)
                    }
                    // A kilobyte lifetime for the ISAKMP SA is accepted and not enforced.
                    Some(LifeType::KILOBYTES) => {}
                    _ => return Err(ProposalError::Unsupported(kind)),
                },
                other => return Err(ProposalError::Unsupported(other)),
            }
        }
        let alg = alg.ok_or(ProposalError::Missing(A::ENCRYPTION_ALGORITHM))?;
        let cipher = IkeCipher::from_attributes(alg, key_bits)
            .map_err(|_| ProposalError::Unsupported(A::ENCRYPTION_ALGORITHM))?;
        Ok(Phase1Proposal {
            cipher,
            hash: hash.ok_or(ProposalError::Missing(A::HASH_ALGORITHM))?,
            auth: auth.ok_or(ProposalError::Missing(A::AUTHENTICATION_METHOD))?,
            group: group.ok_or(ProposalError::Missing(A::GROUP_DESCRIPTION))?,
            lifetime_secs: lifetime.unwrap_or(DEFAULT_LIFETIME_SECS),
        })
    }

    /// Whether an offer matches this local policy: same algorithms, and a lifetime not longer than ours.
    pub fn accepts(&self, offer: &Phase1Proposal) -> bool {
        self.cipher == offer.cipher
            && self.hash == offer.hash
            && self.auth == offer.auth
            && self.group == offer.group
            && offer.lifetime_secs <= self.lifetime_secs
    }
}

/// The initiator's SA payload: one ISAKMP proposal whose transforms are the policies in priority order.
pub fn offer(policies: &[Phase1Proposal]) -> SaRepr {
    SaRepr {
        doi: crate::isakmp::Doi::IPSEC,
        situation: crate::isakmp::SIT_IDENTITY_ONLY,
        proposals: vec![ProposalRepr {
            number: 1,
            protocol: ProtocolId::ISAKMP,
            spi: Vec::new(),
            transforms: policies.iter().enumerate().map(|(i, p)| p.to_transform(i as u8 + 1)).collect(),
        }],
    }
}

/// The responder's choice: the first offered transform (in the peer's order) that one of our policies accepts.
/// Returns the reply SA (the chosen transform alone, as received) and the proposal.
pub fn choose(policies: &[Phase1Proposal], offered: &SaRepr) -> Option<(SaRepr, Phase1Proposal)> {
    for p in offered.proposals.iter().filter(|p| p.protocol == ProtocolId::ISAKMP) {
        for t in &p.transforms {
            let Ok(offer) = Phase1Proposal::from_transform(t) else { continue };
            if offer.is_supported() && policies.iter().any(|local| local.accepts(&offer)) {
                let reply = SaRepr {
                    doi: offered.doi,
                    situation: offered.situation,
                    proposals: vec![ProposalRepr {
                        number: p.number,
                        protocol: p.protocol,
                        spi: p.spi.clone(),
                        transforms: vec![t.clone()],
                    }],
                };
                return Some((reply, offer));
            }
        }
    }
    None
}
