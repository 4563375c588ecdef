//! Main Mode with pre-shared keys (RFC 2409 §5.4) or signatures (§5.1), as states that consume themselves (rustls style): each
//! `handle` takes the state by value and returns the next one with the reply to send.
//!
//! ```text
//! Initiator                          Responder
//! HDR, SA                     -->
//!                             <--    HDR, SA
//! HDR, KE, Ni                 -->
//!                             <--    HDR, KE, Nr
//! HDR*, IDii, HASH_I          -->
//!                             <--    HDR*, IDir, HASH_R
//! ```
//!
//! With signatures, messages 3 and 4 add a CR per trusted CA, and HASH_I / HASH_R are signed instead of sent:
//! `HDR*, IDii, CERT, SIG_I` and `HDR*, IDir, CERT, SIG_R`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::crypto::dh::{self, KeyExchange};
use crate::crypto::kdf::{hash_i, hash_r, AuthHashInput};
use crate::crypto::{ct_eq, Secret};
use crate::isakmp::{
    AuthMethod, Cookie, ExchangeType, Flags, HeaderRepr, IdData, IdRepr, Message, NotifyType, Payload, SaRepr,
};

use super::initial_contact;
use super::keys::{Phase1Crypto, Phase1Material, Phase1Secret};
use super::nat::{self, NatStatus};
use super::phase1_auth::{is_signature, SignatureAuth};
use super::proposal::{choose, Phase1Proposal};
use super::IkeError;

const NONCE_LEN: usize = 32;

/// What a state needs from the endpoint: local policy, key and identity, and the addresses of the datagram being
/// handled (for NAT-D).
pub(crate) struct Context<'a> {
    pub policies: &'a [Phase1Proposal],
    /// The pre-shared key for this peer, if there is one.
    pub psk: Option<&'a Secret>,
    /// Certificate credentials, if configured.
    pub signature: Option<&'a SignatureAuth>,
    pub now: Instant,
    pub local_id: &'a IdRepr,
    pub nat_traversal: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Whether our Main Mode message 5 or 6 carries INITIAL-CONTACT (no other ISAKMP SA with this peer exists).
    pub initial_contact: bool,
}

/// The result of one step: next state, and the message to send (if any).
pub(crate) type Step = (State, Option<Vec<u8>>);

#[derive(Clone)]
pub(crate) struct ExpectSaReply {
    offered: SaRepr,
}

#[derive(Clone)]
pub(crate) struct ExpectKeReply {
    nat_t: bool,
    proposal: Phase1Proposal,
    sai_b: Vec<u8>,
    dh: Arc<dyn KeyExchange>,
    ni: Vec<u8>,
}

#[derive(Clone)]
pub(crate) struct ExpectHashR {
    nat: NatStatus,
    proposal: Phase1Proposal,
    sai_b: Vec<u8>,
    gxi: Vec<u8>,
    gxr: Vec<u8>,
    crypto: Phase1Crypto,
}

#[derive(Clone)]
pub(crate) struct ExpectKe {
    nat_t: bool,
    proposal: Phase1Proposal,
    sai_b: Vec<u8>,
}

#[derive(Clone)]
pub(crate) struct ExpectHashI {
    nat: NatStatus,
    proposal: Phase1Proposal,
    sai_b: Vec<u8>,
    gxi: Vec<u8>,
    gxr: Vec<u8>,
    crypto: Phase1Crypto,
}

/// An ISAKMP SA whose authentication succeeded.
#[derive(Clone)]
pub(crate) struct Established {
    /// The identity the peer authenticated as (its ID payload).
    pub peer_id: IdData,
    pub nat: NatStatus,
    pub proposal: Phase1Proposal,
    pub crypto: Phase1Crypto,
    /// Whether the peer sent INITIAL-CONTACT in an encrypted message of the exchange.
    pub initial_contact: bool,
}

#[derive(Clone)]
pub(crate) enum State {
    /// Initiator, after message 1.
    ExpectSaReply(ExpectSaReply),
    /// Initiator, after message 3.
    ExpectKeReply(ExpectKeReply),
    /// Initiator, after message 5.
    ExpectHashR(ExpectHashR),
    /// Responder, after message 2.
    ExpectKe(ExpectKe),
    /// Responder, after message 4.
    ExpectHashI(ExpectHashI),
    /// Aggressive Mode initiator, after message 1.
    AmExpectReply(super::aggressive::ExpectReply),
    /// Aggressive Mode responder, after message 2.
    AmExpectHashI(super::aggressive::ExpectHashI),
    Established(Established),
}

impl State {
    /// Whether this side still waits for a message (and so retransmits its last one).
    pub fn awaits_reply(&self) -> bool {
        !matches!(self, State::Established(_))
    }

    /// What NAT detection found so far (nothing before the KE exchange, or without NAT traversal).
    pub fn nat(&self) -> NatStatus {
        match self {
            State::ExpectHashR(s) => s.nat,
            State::ExpectHashI(s) => s.nat,
            State::Established(s) => s.nat,
            _ => NatStatus::default(),
        }
    }

    /// Whether the peer may move to port 4500 (and a new NAT mapping) with its next message.
    pub fn may_float(&self) -> bool {
        match self {
            State::AmExpectHashI(s) => s.may_float(),
            other => other.nat().detected(),
        }
    }
}

fn header(icookie: Cookie, rcookie: Cookie) -> HeaderRepr {
    exchange_header(ExchangeType::MAIN_MODE, icookie, rcookie)
}

pub(super) fn exchange_header(exchange_type: ExchangeType, icookie: Cookie, rcookie: Cookie) -> HeaderRepr {
    HeaderRepr {
        initiator_cookie: icookie,
        responder_cookie: rcookie,
        minor_version: 0,
        exchange_type,
        flags: Flags::default(),
        message_id: 0,
    }
}

pub(super) fn plain(header: HeaderRepr, payloads: Vec<Payload>) -> Result<Vec<u8>, IkeError> {
    Ok(Message { header, body: crate::isakmp::Body::Payloads(payloads) }.to_bytes()?)
}

pub(super) fn nonce() -> Result<Vec<u8>, IkeError> {
    let mut n = vec![0u8; NONCE_LEN];
    dh::random_bytes(&mut n)?;
    Ok(n)
}

pub(super) fn sa_body(sa: &SaRepr) -> Vec<u8> {
    let mut b = vec![0u8; sa.buffer_len()];
    sa.emit(&mut b);
    b
}

pub(super) fn id_body(id: &IdRepr) -> Vec<u8> {
    let mut b = vec![0u8; id.buffer_len()];
    id.emit(&mut b);
    b
}

impl Context<'_> {
    /// Whether we hold what `method` needs: a pre-shared key for this peer, or a key that signs for the method.
    fn can_authenticate(&self, method: AuthMethod) -> bool {
        if is_signature(method) {
            self.signature.is_some_and(|s| s.can_sign(method))
        } else {
            method == AuthMethod::PRE_SHARED_KEY && self.psk.is_some()
        }
    }

    /// The local policies we can authenticate for: what an initiator offers and a responder accepts. ECDSA signs
    /// HASH_I/HASH_R as the digest, which must be at least half the curve's size: P-384 needs a hash of 24 bytes or
    /// more (not MD5 or SHA-1).
    pub(super) fn usable_policies(&self) -> Result<Vec<Phase1Proposal>, IkeError> {
        let digest_fits = |p: &Phase1Proposal| {
            p.auth != AuthMethod::ECDSA_SHA384_P384 || p.prf().is_some_and(|f| f.output_len() >= 24)
        };
        let usable: Vec<Phase1Proposal> =
            self.policies.iter().filter(|p| self.can_authenticate(p.auth) && digest_fits(p)).copied().collect();
        if usable.is_empty() {
            return Err(match self.policies.iter().any(|p| p.auth == AuthMethod::PRE_SHARED_KEY) {
                true => IkeError::NoKey(self.remote.ip()),
                false => IkeError::NoCredentials,
            });
        }
        Ok(usable)
    }

    /// The ID we send when authenticating with `method`.
    pub(super) fn local_id_for(&self, method: AuthMethod) -> IdRepr {
        match self.signature {
            Some(s) if is_signature(method) => s.local_id(),
            _ => self.local_id.clone(),
        }
    }

    /// CR payloads for messages 3 and 4 when the method uses signatures.
    pub(super) fn cert_requests(&self, method: AuthMethod) -> Vec<Payload> {
        match self.signature {
            Some(s) if is_signature(method) => s.cert_requests(),
            _ => Vec::new(),
        }
    }

    fn signer(&self) -> Result<&SignatureAuth, IkeError> {
        self.signature.ok_or(IkeError::NoCredentials)
    }
}

/// Main Mode initiator: message 1 offers the local policies.
pub(crate) fn initiate(ctx: &Context<'_>, icookie: Cookie) -> Result<Step, IkeError> {
    let offered = super::proposal::offer(&ctx.usable_policies()?);
    let mut payloads = vec![Payload::Sa(offered.clone())];
    payloads.extend(nat::vendor_ids(ctx.nat_traversal));
    let msg = plain(header(icookie, [0; 8]), payloads)?;
    Ok((State::ExpectSaReply(ExpectSaReply { offered }), Some(msg)))
}

/// Main Mode responder: message 1 in, message 2 out (or NO-PROPOSAL-CHOSEN).
pub(crate) fn respond(ctx: &Context<'_>, msg: &Message, rcookie: Cookie) -> Result<Step, IkeError> {
    let offered = take!(msg.payloads(), Sa, "SA");
    let usable = ctx.usable_policies().map_err(|_| IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN))?;
    let (reply, proposal) = choose(&usable, offered).ok_or(IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN))?;
    let nat_t = ctx.nat_traversal && nat::peer_supports(msg.payloads());
    let h = header(msg.header.initiator_cookie, rcookie);
    let mut payloads = vec![Payload::Sa(reply)];
    payloads.extend(nat::vendor_ids(nat_t));
    let out = plain(h, payloads)?;
    Ok((State::ExpectKe(ExpectKe { nat_t, proposal, sai_b: sa_body(offered) }), Some(out)))
}

impl State {
    pub(crate) fn handle(self, ctx: &Context<'_>, msg: &Message) -> Result<Step, IkeError> {
        let (icookie, rcookie) = (msg.header.initiator_cookie, msg.header.responder_cookie);
        match self {
            State::ExpectSaReply(s) => {
                let chosen = take!(msg.payloads(), Sa, "SA");
                let t = match chosen.proposals.as_slice() {
                    [p] if p.transforms.len() == 1 => &p.transforms[0],
                    _ => return Err(IkeError::Notify(NotifyType::BAD_PROPOSAL_SYNTAX)),
                };
                let proposal = Phase1Proposal::from_transform(t).map_err(|e| IkeError::Notify(e.notify()))?;
                // The responder must pick what one of our policies allows; its encoding (attribute order, basic or
                // variable lifetime) may differ from ours, so compare meaning, not bytes.
                if !ctx.policies.iter().any(|local| local.accepts(&proposal)) {
                    return Err(IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
                }
                let nat_t = ctx.nat_traversal && nat::peer_supports(msg.payloads());
                let dh: Arc<dyn KeyExchange> = Arc::from(dh::generate(proposal.group)?);
                let ni = nonce()?;
                let mut payloads = vec![Payload::Ke(dh.public_value().to_vec()), Payload::Nonce(ni.clone())];
                payloads.extend(ctx.cert_requests(proposal.auth));
                if nat_t {
                    payloads.extend(nat::nat_d_payloads(prf(&proposal)?, &icookie, &rcookie, ctx.local, ctx.remote));
                }
                let out = plain(header(icookie, rcookie), payloads)?;
                let sai_b = sa_body(&s.offered);
                Ok((State::ExpectKeReply(ExpectKeReply { nat_t, proposal, sai_b, dh, ni }), Some(out)))
            }
            State::ExpectKe(s) => {
                let (gxi, ni) = (take!(msg.payloads(), Ke, "KE"), take!(msg.payloads(), Nonce, "NONCE"));
                check_nonce(ni)?;
                let dh = dh::generate(s.proposal.group)?;
                let gxy = dh.shared_secret(gxi)?;
                let nr = nonce()?;
                let gxr = dh.public_value().to_vec();
                let mut payloads = vec![Payload::Ke(gxr.clone()), Payload::Nonce(nr.clone())];
                payloads.extend(ctx.cert_requests(s.proposal.auth));
                let mut nat = NatStatus::default();
                if s.nat_t {
                    let prf = prf(&s.proposal)?;
                    nat =
                        nat::detect(prf, &icookie, &rcookie, ctx.local, ctx.remote, msg.payloads()).unwrap_or_default();
                    payloads.extend(nat::nat_d_payloads(prf, &icookie, &rcookie, ctx.local, ctx.remote));
                }
                let out = plain(header(icookie, rcookie), payloads)?;
                let crypto = derive(ctx, &s.proposal, &gxy, gxi, &gxr, ni, &nr, &icookie, &rcookie)?;
                let next = ExpectHashI { nat, proposal: s.proposal, sai_b: s.sai_b, gxi: gxi.clone(), gxr, crypto };
                Ok((State::ExpectHashI(next), Some(out)))
            }
            State::ExpectKeReply(s) => {
                let (gxr, nr) = (take!(msg.payloads(), Ke, "KE"), take!(msg.payloads(), Nonce, "NONCE"));
                check_nonce(nr)?;
                let gxy = s.dh.shared_secret(gxr)?;
                let gxi = s.dh.public_value().to_vec();
                let mut crypto = derive(ctx, &s.proposal, &gxy, &gxi, gxr, &s.ni, nr, &icookie, &rcookie)?;
                let nat = match s.nat_t {
                    true => nat::detect(crypto.prf, &icookie, &rcookie, ctx.local, ctx.remote, msg.payloads()),
                    false => None,
                }
                .unwrap_or_default();
                let input = AuthHashInput { gxi: &gxi, gxr, cky_i: &icookie, cky_r: &rcookie, sai_b: &s.sai_b };
                let id = ctx.local_id_for(s.proposal.auth);
                let hash = hash_i(crypto.prf, &crypto.skeyids.skeyid, &input, &id_body(&id));
                let mut payloads = auth_payloads(ctx, s.proposal.auth, id, hash)?;
                // After ID and HASH_I (or SIG_I), where strongSwan and Cisco put it.
                if ctx.initial_contact {
                    payloads.push(initial_contact::notify(&icookie, &rcookie));
                }
                let out = crypto.encrypt(header(icookie, rcookie), &payloads)?;
                let next = ExpectHashR { nat, proposal: s.proposal, sai_b: s.sai_b, gxi, gxr: gxr.clone(), crypto };
                Ok((State::ExpectHashR(next), Some(out)))
            }
            State::ExpectHashI(mut s) => {
                let payloads = s.crypto.decrypt(msg).map_err(undecryptable)?;
                let idii = take!(payloads, Id, "IDii");
                let input =
                    AuthHashInput { gxi: &s.gxi, gxr: &s.gxr, cky_i: &icookie, cky_r: &rcookie, sai_b: &s.sai_b };
                let expected = hash_i(s.crypto.prf, &s.crypto.skeyids.skeyid, &input, &id_body(idii));
                check_auth(ctx, s.proposal.auth, idii, &payloads, &expected, "HASH_I")?;
                let id = ctx.local_id_for(s.proposal.auth);
                let hash = hash_r(s.crypto.prf, &s.crypto.skeyids.skeyid, &input, &id_body(&id));
                let mut reply = auth_payloads(ctx, s.proposal.auth, id, hash)?;
                if ctx.initial_contact {
                    reply.push(initial_contact::notify(&icookie, &rcookie));
                }
                let out = s.crypto.encrypt(header(icookie, rcookie), &reply)?;
                let peer_id = idii.data.clone();
                let initial_contact = initial_contact::carried(&payloads);
                let done = Established { peer_id, nat: s.nat, proposal: s.proposal, crypto: s.crypto, initial_contact };
                Ok((State::Established(done), Some(out)))
            }
            State::ExpectHashR(mut s) => {
                let payloads = s.crypto.decrypt(msg).map_err(undecryptable)?;
                let idir = take!(payloads, Id, "IDir");
                let input =
                    AuthHashInput { gxi: &s.gxi, gxr: &s.gxr, cky_i: &icookie, cky_r: &rcookie, sai_b: &s.sai_b };
                let expected = hash_r(s.crypto.prf, &s.crypto.skeyids.skeyid, &input, &id_body(idir));
                check_auth(ctx, s.proposal.auth, idir, &payloads, &expected, "HASH_R")?;
                let peer_id = idir.data.clone();
                let initial_contact = initial_contact::carried(&payloads);
                let done = Established { peer_id, nat: s.nat, proposal: s.proposal, crypto: s.crypto, initial_contact };
                Ok((State::Established(done), None))
            }
            State::AmExpectReply(s) => super::aggressive::handle_reply(s, ctx, msg),
            State::AmExpectHashI(s) => super::aggressive::handle_hash_i(s, ctx, msg),
            State::Established(_) => Err(IkeError::Unexpected("a Phase 1 message after the SA was established")),
        }
    }
}

/// In PSK Main Mode the encryption key depends on the pre-shared key, so message 5 or 6 that does not decrypt to a
/// valid payload chain is how a key mismatch shows.
pub(super) fn undecryptable(e: IkeError) -> IkeError {
    match e {
        IkeError::Wire(_) => IkeError::AuthenticationFailed("the message does not decrypt (pre-shared keys differ?)"),
        other => other,
    }
}

/// RFC 2409 §5: nonces are 8 to 256 bytes.
pub(super) fn check_nonce(n: &[u8]) -> Result<(), IkeError> {
    if (8..=256).contains(&n.len()) {
        Ok(())
    } else {
        Err(IkeError::Notify(NotifyType::PAYLOAD_MALFORMED))
    }
}

fn prf(p: &Phase1Proposal) -> Result<crate::crypto::Prf, IkeError> {
    p.prf().ok_or(IkeError::Notify(NotifyType::ATTRIBUTES_NOT_SUPPORTED))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn derive(
    ctx: &Context<'_>,
    p: &Phase1Proposal,
    gxy: &Secret,
    gxi: &[u8],
    gxr: &[u8],
    ni: &[u8],
    nr: &[u8],
    cky_i: &[u8],
    cky_r: &[u8],
) -> Result<Phase1Crypto, IkeError> {
    let prf = prf(p)?;
    let secret = if is_signature(p.auth) {
        Phase1Secret::Signatures
    } else {
        Phase1Secret::PreSharedKey(ctx.psk.ok_or(IkeError::NoKey(ctx.remote.ip()))?)
    };
    Ok(Phase1Crypto::derive(&Phase1Material { prf, cipher: p.cipher, secret, gxy, gxi, gxr, ni, nr, cky_i, cky_r }))
}

/// The payloads that prove who we are in message 5 or 6: ID and HASH, or ID, CERT and SIG over the hash.
pub(super) fn auth_payloads(
    ctx: &Context<'_>,
    method: AuthMethod,
    id: IdRepr,
    hash: Vec<u8>,
) -> Result<Vec<Payload>, IkeError> {
    let mut payloads = vec![Payload::Id(id)];
    if is_signature(method) {
        payloads.extend(ctx.signer()?.sign(&hash)?);
    } else {
        payloads.push(Payload::Hash(hash));
    }
    Ok(payloads)
}

/// Checks the peer's proof: its HASH equals `expected`, or its certificate and SIG over `expected` hold.
pub(super) fn check_auth(
    ctx: &Context<'_>,
    method: AuthMethod,
    peer_id: &IdRepr,
    payloads: &[Payload],
    expected: &[u8],
    what: &'static str,
) -> Result<(), IkeError> {
    if is_signature(method) {
        return ctx.signer()?.verify(ctx.now, method, &peer_id.data, payloads, expected);
    }
    let received = payloads
        .iter()
        .find_map(|p| if let Payload::Hash(h) = p { Some(h) } else { None })
        .ok_or(IkeError::MissingPayload(what))?;
    if !ct_eq(expected, received) {
        return Err(IkeError::AuthenticationFailed(match what {
            "HASH_I" => "HASH_I does not match",
            _ => "HASH_R does not match",
        }));
    }
    Ok(())
}
