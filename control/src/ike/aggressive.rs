//! Aggressive Mode with pre-shared keys (RFC 2409 §5.4) or signatures (§5.1): three messages, identities in the clear. Only one DH group
//! can be offered (message 1 already carries KE), so the initiator offers the policies sharing its first policy's
//! group. Responders may refuse Aggressive Mode altogether (`Config::aggressive_mode`), since its HASH_R lets an
//! eavesdropper attack the pre-shared key offline.
//!
//! With RFC 3947 NAT traversal the Vendor IDs ride in messages 1 and 2, NAT-D in 2 and 3, and the initiator sends
//! message 3 from port 4500 when a NAT was found.
//!
//! ```text
//! Initiator                              Responder
//! HDR, SA, KE, Ni, IDii, [VID]    -->
//!                                 <--    HDR, SA, KE, Nr, IDir, [VID, NAT-D, NAT-D,] HASH_R
//! HDR, [NAT-D, NAT-D,] HASH_I     -->    (HDR* accepted too)
//! ```
//!
//! With signatures, message 1 adds a CR per trusted CA, and HASH_R / HASH_I are replaced by `CERT, SIG_R [, CR]` and
//! `CERT, SIG_I`.

use std::sync::Arc;

use crate::crypto::dh::{self, KeyExchange};
use crate::crypto::kdf::{hash_i, hash_r, AuthHashInput};
use crate::isakmp::{Cookie, ExchangeType, GroupDescription, IdRepr, Message, NotifyType, Payload};

use super::keys::Phase1Crypto;
use super::main_mode::{
    auth_payloads, check_auth, check_nonce, derive, exchange_header, id_body, nonce, plain, sa_body, Context,
    Established, State, Step,
};
use super::nat::{self, NatStatus, NAT_T_PORT};
use super::phase1_auth::is_signature;
use super::proposal::{choose, offer, Phase1Proposal};
use super::IkeError;

#[derive(Clone)]
pub(crate) struct ExpectReply {
    group: GroupDescription,
    /// The ID we sent in message 1 (HASH_I covers it).
    idii: IdRepr,
    sai_b: Vec<u8>,
    dh: Arc<dyn KeyExchange>,
    ni: Vec<u8>,
}

#[derive(Clone)]
pub(crate) struct ExpectHashI {
    /// Whether both sides announced NAT traversal (message 3 then carries NAT-D and may come from port 4500).
    nat_t: bool,
    proposal: Phase1Proposal,
    sai_b: Vec<u8>,
    gxi: Vec<u8>,
    gxr: Vec<u8>,
    idii: IdRepr,
    crypto: Phase1Crypto,
}

fn header(icookie: Cookie, rcookie: Cookie) -> crate::isakmp::HeaderRepr {
    exchange_header(ExchangeType::AGGRESSIVE, icookie, rcookie)
}

/// Initiator: message 1.
pub(crate) fn initiate(ctx: &Context<'_>, icookie: Cookie) -> Result<Step, IkeError> {
    let usable = ctx.usable_policies()?;
    let first = usable.first().ok_or(IkeError::NoPolicy)?;
    let (group, signatures) = (first.group, is_signature(first.auth));
    // Message 1 already carries KE and our ID, so every offer must share the first one's group and kind of
    // authentication (the ID we send depends on it).
    let same: Vec<Phase1Proposal> =
        usable.iter().filter(|p| p.group == group && is_signature(p.auth) == signatures).copied().collect();
    let offered = offer(&same);
    let idii = ctx.local_id_for(first.auth);
    let dh: Arc<dyn KeyExchange> = Arc::from(dh::generate(group)?);
    let ni = nonce()?;
    let mut payloads = vec![
        Payload::Sa(offered.clone()),
        Payload::Ke(dh.public_value().to_vec()),
        Payload::Nonce(ni.clone()),
        Payload::Id(idii.clone()),
    ];
    payloads.extend(ctx.cert_requests(first.auth));
    payloads.extend(nat::vendor_ids(ctx.nat_traversal));
    let msg = plain(header(icookie, [0; 8]), payloads)?;
    Ok((State::AmExpectReply(ExpectReply { group, idii, sai_b: sa_body(&offered), dh, ni }), Some(msg)))
}

/// Responder: message 1 in, message 2 out.
pub(crate) fn respond(ctx: &Context<'_>, msg: &Message, rcookie: Cookie) -> Result<Step, IkeError> {
    let p = msg.payloads();
    let (sa, gxi, ni, idii) = (take!(p, Sa, "SA"), take!(p, Ke, "KE"), take!(p, Nonce, "NONCE"), take!(p, Id, "IDii"));
    check_nonce(ni)?;
    let usable = ctx.usable_policies().map_err(|e| match e {
        // Neither an address key nor one for the ID it sent (`Endpoint::set_identity_keys`): say which ID.
        IkeError::NoKey(address) => {
            IkeError::NoKeyForIdentity { address, identity: super::psk_id::describe(&idii.data) }
        }
        _ => IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN),
    })?;
    let (reply_sa, proposal) = choose(&usable, sa).ok_or(IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN))?;
    let dh = dh::generate(proposal.group)?;
    // The KE must be a valid value of the chosen group (RFC 2408 §5.7: INVALID-KEY-INFORMATION otherwise).
    let gxy = dh.shared_secret(gxi).map_err(|_| IkeError::Notify(NotifyType::INVALID_KEY_INFORMATION))?;
    let nr = nonce()?;
    let gxr = dh.public_value().to_vec();
    let icookie = msg.header.initiator_cookie;
    let crypto = derive(ctx, &proposal, &gxy, gxi, &gxr, ni, &nr, &icookie, &rcookie)?;
    let sai_b = sa_body(sa);
    let input = AuthHashInput { gxi, gxr: &gxr, cky_i: &icookie, cky_r: &rcookie, sai_b: &sai_b };
    let idir = ctx.local_id_for(proposal.auth);
    let hash = hash_r(crypto.prf, &crypto.skeyids.skeyid, &input, &id_body(&idir));
    let nat_t = ctx.nat_traversal && nat::peer_supports(p);
    let mut payloads = vec![Payload::Sa(reply_sa), Payload::Ke(gxr.clone()), Payload::Nonce(nr)];
    let mut proof = auth_payloads(ctx, proposal.auth, idir, hash)?;
    payloads.push(proof.remove(0)); // IDir
    payloads.extend(nat::vendor_ids(nat_t));
    if nat_t {
        payloads.extend(nat::nat_d_payloads(crypto.prf, &icookie, &rcookie, ctx.local, ctx.remote));
    }
    payloads.extend(proof); // HASH_R, or CERT and SIG_R
    payloads.extend(ctx.cert_requests(proposal.auth));
    let out = plain(header(icookie, rcookie), payloads)?;
    let next = ExpectHashI { nat_t, proposal, sai_b, gxi: gxi.clone(), gxr, idii: idii.clone(), crypto };
    Ok((State::AmExpectHashI(next), Some(out)))
}

/// Initiator: message 2 in, message 3 out, established.
pub(crate) fn handle_reply(s: ExpectReply, ctx: &Context<'_>, msg: &Message) -> Result<Step, IkeError> {
    let (icookie, rcookie) = (msg.header.initiator_cookie, msg.header.responder_cookie);
    let p = msg.payloads();
    let chosen = take!(p, Sa, "SA");
    let t = match chosen.proposals.as_slice() {
        [prop] if prop.transforms.len() == 1 => &prop.transforms[0],
        _ => return Err(IkeError::Notify(NotifyType::BAD_PROPOSAL_SYNTAX)),
    };
    let proposal = Phase1Proposal::from_transform(t).map_err(|e| IkeError::Notify(e.notify()))?;
    if proposal.group != s.group || !ctx.policies.iter().any(|local| local.accepts(&proposal)) {
        return Err(IkeError::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
    }
    let (gxr, nr, idir) = (take!(p, Ke, "KE"), take!(p, Nonce, "NONCE"), take!(p, Id, "IDir"));
    check_nonce(nr)?;
    let gxy = s.dh.shared_secret(gxr)?;
    let gxi = s.dh.public_value().to_vec();
    let crypto = derive(ctx, &proposal, &gxy, &gxi, gxr, &s.ni, nr, &icookie, &rcookie)?;
    let input = AuthHashInput { gxi: &gxi, gxr, cky_i: &icookie, cky_r: &rcookie, sai_b: &s.sai_b };
    let expected = hash_r(crypto.prf, &crypto.skeyids.skeyid, &input, &id_body(idir));
    check_auth(ctx, proposal.auth, idir, p, &expected, "HASH_R")?;
    let hash = hash_i(crypto.prf, &crypto.skeyids.skeyid, &input, &id_body(&s.idii));
    let mut payloads = Vec::new();
    let mut nat = NatStatus::default();
    if ctx.nat_traversal && nat::peer_supports(p) {
        nat = nat::detect(crypto.prf, &icookie, &rcookie, ctx.local, ctx.remote, p).unwrap_or_default();
        // Message 3 leaves from port 4500 when a NAT was found (the endpoint moves the SA): hash those addresses.
        let (mut local, mut remote) = (ctx.local, ctx.remote);
        if nat.detected() {
            local.set_port(NAT_T_PORT);
            remote.set_port(NAT_T_PORT);
        }
        payloads.extend(nat::nat_d_payloads(crypto.prf, &icookie, &rcookie, local, remote));
    }
    // HASH_I, or CERT and SIG_I (the ID went in message 1).
    payloads.extend(auth_payloads(ctx, proposal.auth, s.idii.clone(), hash)?.into_iter().skip(1));
    // Message 3 goes in the clear, as RFC 2409 §5.4 draws it (and as most peers send it).
    let out = plain(header(icookie, rcookie), payloads)?;
    // Message 2 comes in the clear: an INITIAL-CONTACT in it would be unauthenticated, so it is not looked for.
    let done = Established { peer_id: idir.data.clone(), nat, proposal, crypto, initial_contact: false };
    Ok((State::Established(done), Some(out)))
}

/// Responder: message 3 in (plain or encrypted), established.
pub(crate) fn handle_hash_i(mut s: ExpectHashI, ctx: &Context<'_>, msg: &Message) -> Result<Step, IkeError> {
    let (icookie, rcookie) = (msg.header.initiator_cookie, msg.header.responder_cookie);
    let encrypted = msg.header.flags.encrypted();
    let payloads = if encrypted {
        s.crypto.decrypt(msg).map_err(super::main_mode::undecryptable)?
    } else {
        msg.payloads().to_vec()
    };
    let input = AuthHashInput { gxi: &s.gxi, gxr: &s.gxr, cky_i: &icookie, cky_r: &rcookie, sai_b: &s.sai_b };
    let expected = hash_i(s.crypto.prf, &s.crypto.skeyids.skeyid, &input, &id_body(&s.idii));
    check_auth(ctx, s.proposal.auth, &s.idii, &payloads, &expected, "HASH_I")?;
    let nat = match s.nat_t {
        true => nat::detect(s.crypto.prf, &icookie, &rcookie, ctx.local, ctx.remote, &payloads).unwrap_or_default(),
        false => NatStatus::default(),
    };
    let peer_id = s.idii.data;
    // Only an encrypted message 3 can carry an INITIAL-CONTACT we believe.
    let initial_contact = encrypted && super::initial_contact::carried(&payloads);
    Ok((
        State::Established(Established { peer_id, nat, proposal: s.proposal, crypto: s.crypto, initial_contact }),
        None,
    ))
}

impl ExpectHashI {
    /// Message 3 may arrive from port 4500 (through a new NAT mapping) once NAT traversal was agreed.
    pub(super) fn may_float(&self) -> bool {
        self.nat_t
    }
}
