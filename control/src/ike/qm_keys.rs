//! Quick Mode keying material (RFC 2409 §5.5): KEYMAT for each SA direction, expanded to the negotiated
//! algorithms' key lengths (cipher key first, including the GCM salt / CTR nonce of RFC 4106 §8.1 and RFC 3686
//! §5.1, then the integrity key, as strongSwan and Cisco split it); and the engine's SA parameters from it.

use engine::crypto::EncryptionAlgorithm as Enc;
use engine::sa::{Lifetime, Mode, SaParams};
use engine::wire::Spi;

use crate::crypto::kdf::{quick_mode_keymat, KeymatInput};
use crate::crypto::{Prf, Secret};

use super::api::{EncapsulationMode, Phase2Sa, SaKeys, SaPair};
use super::ipsec_proposal::{Agreed, Alg};

/// What both sides know after messages 1 and 2.
pub(super) struct KeySource<'a> {
    pub prf: Prf,
    pub skeyid_d: &'a Secret,
    /// g(qm)^xy with PFS.
    pub gxy: Option<&'a Secret>,
    pub ni: &'a [u8],
    pub nr: &'a [u8],
}

/// The keys of both directions of one negotiated protocol: inbound under our SPI, outbound under the peer's.
pub(super) fn sa_pair(k: &KeySource<'_>, agreed: &Agreed, our_spi: u32) -> SaPair {
    let (enc, integ, enc_len) = match agreed.transform.alg {
        Alg::Esp(e, i) => (e, i, e.key_len()),
        // AH has no cipher; `encryption` is reported as NULL.
        Alg::Ah(i) => (Enc::Null, i, 0),
    };
    let len = enc_len + integ.key_len();
    let keys = |spi: u32| {
        let spi_b = spi.to_be_bytes();
        let input = KeymatInput { gqm_xy: k.gxy, protocol: agreed.protocol.0, spi: &spi_b, ni_b: k.ni, nr_b: k.nr };
        let km = quick_mode_keymat(k.prf, k.skeyid_d, &input, len);
        SaKeys {
            spi,
            encryption: enc,
            integrity: integ,
            cipher_key: Secret::from_slice(&km.expose()[..enc_len]),
            auth_key: Secret::from_slice(&km.expose()[enc_len..]),
        }
    };
    SaPair { inbound: keys(our_spi), outbound: keys(agreed.peer_spi) }
}

impl Phase2Sa {
    /// The engine's parameters for one protocol's pair, as (inbound, outbound): tunnel endpoints are the IKE
    /// addresses, UDP encapsulation per NAT-T, the negotiated lifetimes as hard limits with the soft limit at 90%
    /// (the rekey point), and the inbound selector enforcing the proxy identities when they are prefixes.
    pub fn sa_params(&self, pair: &SaPair, replay_window: u32) -> (SaParams, SaParams) {
        let mode = match self.mode {
            EncapsulationMode::Tunnel => Mode::Tunnel { local: self.local.ip(), remote: self.peer.ip() },
            EncapsulationMode::Transport => Mode::Transport,
        };
        let lifetime = {
            let mut l = Lifetime { hard_seconds: u64::from(self.lifetime_secs), ..Lifetime::default() };
            l.soft_seconds = l.hard_seconds - l.hard_seconds / 10;
            if self.lifetime_kilobytes > 0 {
                l.hard_bytes = self.lifetime_kilobytes.saturating_mul(1024);
                l.soft_bytes = l.hard_bytes - l.hard_bytes / 10;
            }
            l
        };
        let one = |k: &SaKeys| {
            let mut p =
                SaParams::new(Spi(k.spi), mode, k.encryption, k.cipher_key.expose(), k.integrity, k.auth_key.expose());
            p.nat_t = self.nat_t;
            p.lifetime = lifetime;
            p
        };
        let mut inbound = one(&pair.inbound);
        inbound.replay_window = replay_window;
        inbound.selector = selector(self);
        (inbound, one(&pair.outbound))
    }
}

impl Phase2Sa {
    /// The engine SAs of the whole bundle, as ((ESP inbound, outbound), (AH inbound, outbound)), linked the way
    /// `control::plan` links manual bundles: with ESP and AH, ESP makes the tunnel and AH (in transport mode)
    /// authenticates ESP's packet; the inbound ESP accepts only packets that came inside the AH SA, the inbound AH
    /// only the bundle's ESP; the proxy identities are checked on the innermost SA.
    #[allow(clippy::type_complexity)]
    pub fn engine_sas(&self, replay_window: u32) -> (Option<(SaParams, SaParams)>, Option<(SaParams, SaParams)>) {
        let esp = self.esp.as_ref().map(|p| self.sa_params(p, replay_window));
        let ah = self.ah.as_ref().map(|p| {
            let (mut n, mut o) = self.sa_params(p, replay_window);
            if esp.is_some() {
                (n.mode, o.mode, n.selector) = (Mode::Transport, Mode::Transport, None);
            }
            (n, o)
        });
        match (esp, ah) {
            (Some((mut en, eo)), Some((mut an, ao))) => {
                en.bundle_ah = Some(an.spi);
                an.bundle_esp = Some(en.spi);
                (Some((en, eo)), Some((an, ao)))
            }
            other => other,
        }
    }
}

/// Inbound traffic comes from the remote identity to the local one.
fn selector(sa: &Phase2Sa) -> Option<engine::selector::TrafficSelector> {
    use super::api::ProxyAddress;
    use engine::selector::{IpPrefix, TrafficSelector};
    let prefix = |a: ProxyAddress| match a {
        ProxyAddress::Prefix(ip, len) => Some(IpPrefix::new(ip, len)),
        ProxyAddress::Range(..) => None,
    };
    let ports = |p: u16| if p == 0 { 0..=u16::MAX } else { p..=p };
    Some(TrafficSelector {
        src: prefix(sa.remote_id.address)?,
        dst: prefix(sa.local_id.address)?,
        protocol: (sa.remote_id.protocol != 0).then_some(engine::wire::IpProtocol(sa.remote_id.protocol)),
        src_ports: ports(sa.remote_id.port),
        dst_ports: ports(sa.local_id.port),
    })
}
