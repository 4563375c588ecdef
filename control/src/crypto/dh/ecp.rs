//! ECP groups 19 (P-256) and 20 (P-384), RFC 5903: KE data is x|y, the shared secret is the x coordinate.

use core::marker::PhantomData;

use p256::elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use p256::elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, PublicKey, SecretKey};

use zeroize::Zeroize;

use super::KeyExchange;
use crate::crypto::error::CryptoError;
use crate::crypto::secret::Secret;
use crate::isakmp::GroupDescription;

/// An ECP key pair. `SecretKey` zeroizes its scalar on drop.
pub(super) struct Ecp<C: CurveArithmetic> {
    group: GroupDescription,
    secret: SecretKey<C>,
    public: Vec<u8>,
    _curve: PhantomData<C>,
}

impl<C> Ecp<C>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    pub(super) fn generate(group: GroupDescription) -> Result<Self, CryptoError> {
        let secret = SecretKey::<C>::random(&mut rand_core::OsRng);
        Ok(Self::with_secret(group, secret))
    }

    pub(super) fn from_private(group: GroupDescription, private: &[u8]) -> Result<Self, CryptoError> {
        let secret = SecretKey::<C>::from_slice(private).map_err(|_| CryptoError::InvalidPrivateKey(group))?;
        Ok(Self::with_secret(group, secret))
    }

    fn with_secret(group: GroupDescription, secret: SecretKey<C>) -> Self {
        let point = secret.public_key().to_encoded_point(false);
        // Uncompressed SEC1 is 0x04 | x | y; IKE carries x | y.
        let public = point.as_bytes()[1..].to_vec();
        Ecp { group, secret, public, _curve: PhantomData }
    }

    fn field_len() -> usize {
        use p256::elliptic_curve::generic_array::typenum::Unsigned;
        FieldBytesSize::<C>::USIZE
    }
}

impl<C> KeyExchange for Ecp<C>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    fn group(&self) -> GroupDescription {
        self.group
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn shared_secret(&self, peer_public: &[u8]) -> Result<Secret, CryptoError> {
        let expected = 2 * Self::field_len();
        if peer_public.len() != expected {
            return Err(CryptoError::BadPublicLength { group: self.group, got: peer_public.len(), expected });
        }
        let mut sec1 = Vec::with_capacity(expected + 1);
        sec1.push(0x04);
        sec1.extend_from_slice(peer_public);
        // from_sec1_bytes rejects coordinates outside the field, points off the curve and the identity.
        let peer = PublicKey::<C>::from_sec1_bytes(&sec1)
            .map_err(|_| CryptoError::InvalidPublicValue { group: self.group, reason: "not a point on the curve" })?;
        // A copy of the private scalar: wiped after use (`SecretKey` wipes its own on drop).
        let mut scalar = self.secret.to_nonzero_scalar();
        let shared = p256::elliptic_curve::ecdh::diffie_hellman(scalar, peer.as_affine());
        scalar.zeroize();
        // The shared secret is the x coordinate, already the field's length (RFC 5903 §7).
        Ok(Secret::from_slice(shared.raw_secret_bytes()))
    }
}
