//! The world of `espgate-perf esp`: ports, addresses and MACs of a gateway between a host network (inside) and one
//! tunnel peer (outside); N crypto map entries, each protecting one flow with its own SA pair; and the frames that
//! match them. Addresses come from the documentation ranges only.
//!
//! SA `i` protects UDP from 192.0.2.10:4000 to `remote_of(i)` (host byte and port from `i`), so N SAs need N SPD
//! entries and N distinct flows, and traffic spread over SAs at random is traffic spread over flows at random.
use anyhow::{bail, Context, Result};
use engine::buf::{PacketBuf, VecBuf};
use engine::crypto::{EncryptionAlgorithm, IntegrityAlgorithm};
use engine::datapath::ether::{MacAddr, HEADER_LEN as ETH_LEN};
use engine::datapath::{Interface, Route, Tables};
use engine::esp::OutboundSa;
use engine::sa::{Mode, NatT, SaParams};
use engine::selector::{IpPrefix, TrafficSelector};
use engine::spd::{PolicyAction, Spd, SpdEntry};
use engine::wire::{ipv4, IpProtocol, Spi};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Port ids, in the order the ring ports are created: the worker owns 0 (inside) and 2 (outside); 1 and 3 are the
/// generator's ends of the two cables.
pub const INSIDE: u16 = 0;
pub const GEN_INSIDE: u16 = 1;
pub const OUTSIDE: u16 = 2;
pub const GEN_OUTSIDE: u16 = 3;

pub const INSIDE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub const GEN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xfe]);
pub const OUTSIDE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
pub const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x11]);
pub const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x12]);

pub const GW_INSIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const GW_OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const HOST_PORT: u16 = 4000;

pub const MAX_SAS: u32 = 1_000_000;
/// Inbound SPIs (chosen by the gateway) and outbound ones (chosen by the peer) for SA i.
const IN_SPI_BASE: u32 = 0x0001_0000;
const OUT_SPI_BASE: u32 = 0x0100_0000;
/// Interface MTU: large enough that IMIX's 1518-byte frames plus ESP overhead pass (the ring ports have no limit).
pub const MTU: u16 = 9000;
/// Smallest frame: Ethernet, IPv4 and UDP headers.
pub const MIN_FRAME: usize = ETH_LEN + 20 + 8;
/// Largest frame: what fits a 2048-byte mbuf data room with the ESP overhead.
pub const MAX_FRAME: usize = 1900;

/// The remote host and UDP port of SA `i`'s flow: 254 hosts of 203.0.113.0/24, then the next port.
pub fn remote_of(i: u32) -> (Ipv4Addr, u16) {
    (Ipv4Addr::new(203, 0, 113, 1 + (i % 254) as u8), 1024 + (i / 254) as u16)
}

pub fn parse_cipher(s: &str) -> Result<EncryptionAlgorithm> {
    EncryptionAlgorithm::ALL.into_iter().find(|a| a.name() == s).with_context(|| {
        let names: Vec<_> = EncryptionAlgorithm::ALL.iter().map(|a| a.name()).collect();
        format!("unknown cipher {s:?} (one of {})", names.join(" "))
    })
}

pub fn parse_integrity(s: &str) -> Result<IntegrityAlgorithm> {
    IntegrityAlgorithm::ALL.into_iter().find(|a| a.name() == s).with_context(|| {
        let names: Vec<_> = IntegrityAlgorithm::ALL.iter().map(|a| a.name()).collect();
        format!("unknown integrity {s:?} (one of {})", names.join(" "))
    })
}

/// Frame sizes to cycle through: one size, or simple IMIX (7 x 64, 4 x 570, 1 x 1518, interleaved).
pub fn parse_sizes(s: &str) -> Result<Vec<usize>> {
    if s.eq_ignore_ascii_case("imix") {
        return Ok(vec![64, 570, 64, 64, 570, 64, 1518, 64, 570, 64, 64, 570]);
    }
    let n: usize = s.parse().with_context(|| format!("--size {s:?}: a frame size in bytes or \"imix\""))?;
    if !(MIN_FRAME..=MAX_FRAME).contains(&n) {
        bail!("--size {n}: frames of {MIN_FRAME}..={MAX_FRAME} bytes are supported");
    }
    Ok(vec![n])
}

/// The transform every SA uses.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    pub enc: EncryptionAlgorithm,
    pub integ: IntegrityAlgorithm,
    pub natt: bool,
    /// Of the inbound SAs.
    pub replay_window: u32,
}

impl Suite {
    /// The suite the options name (`--cipher`, `--integrity`, `--natt`, `--replay-window`), checked.
    pub fn of(o: &crate::esp::EspOpts) -> Result<Self> {
        let s = Self {
            enc: parse_cipher(&o.cipher)?,
            integ: parse_integrity(&o.integrity)?,
            natt: o.natt,
            replay_window: o.replay_window,
        };
        s.check()?;
        Ok(s)
    }

    pub fn check(&self) -> Result<()> {
        if self.enc.is_aead() && self.integ != IntegrityAlgorithm::None {
            bail!("{} carries its own ICV: use --integrity none", self.enc.name());
        }
        if !self.enc.is_aead() && self.integ == IntegrityAlgorithm::None && self.enc != EncryptionAlgorithm::Null {
            eprintln!("warning: {} without integrity (confidentiality only)", self.enc.name());
        }
        Ok(())
    }

    fn params(&self, i: u32, spi: u32, local: Ipv4Addr, remote: Ipv4Addr) -> SaParams {
        // Distinct keys per SA, like negotiated ones (values are irrelevant to the cost).
        let key = |len: usize, salt: u32| -> Vec<u8> {
            (0..len).map(|k| (i.wrapping_mul(2654435761).wrapping_add(salt) >> (k % 4 * 8)) as u8 ^ k as u8).collect()
        };
        let mode = Mode::Tunnel { local: IpAddr::V4(local), remote: IpAddr::V4(remote) };
        let mut p = SaParams::new(
            Spi(spi),
            mode,
            self.enc,
            &key(self.enc.key_len(), 1),
            self.integ,
            &key(self.integ.key_len(), 2),
        );
        p.nat_t = self.natt.then(NatT::default);
        p.replay_window = self.replay_window;
        p
    }

    /// The gateway's outbound SA of tunnel i (for --direction encrypt).
    pub fn outbound(&self, i: u32) -> SaParams {
        self.params(i, OUT_SPI_BASE + i, GW_OUTSIDE, PEER)
    }

    /// The gateway's inbound SA of tunnel i, with the RFC 4301 inner-selector check the daemon installs.
    pub fn inbound(&self, i: u32) -> SaParams {
        let mut p = self.params(i, IN_SPI_BASE + i, GW_OUTSIDE, PEER);
        let (h, port) = remote_of(i);
        p.selector = Some(TrafficSelector {
            src: IpPrefix::new(IpAddr::V4(h), 32),
            dst: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24),
            protocol: Some(IpProtocol::UDP),
            src_ports: port..=port,
            dst_ports: 0..=u16::MAX,
        });
        p
    }

    /// The peer's outbound SA matching [`Suite::inbound`]: builds the ESP the gateway decrypts.
    pub fn peer_outbound(&self, i: u32) -> SaParams {
        self.params(i, IN_SPI_BASE + i, PEER, GW_OUTSIDE)
    }
}

/// The outside crypto map: one protect entry per SA (in order, as `espgate run` builds them), then bypass.
pub fn spd(sas: u32) -> Spd {
    let any = |a: IpAddr| IpPrefix::new(a, 0);
    let mut v = Vec::with_capacity(sas as usize + 2);
    for i in 0..sas {
        let (h, port) = remote_of(i);
        v.push(SpdEntry {
            selector: TrafficSelector {
                src: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24),
                dst: IpPrefix::new(IpAddr::V4(h), 32),
                protocol: Some(IpProtocol::UDP),
                src_ports: 0..=u16::MAX,
                dst_ports: port..=port,
            },
            action: PolicyAction::Protect(i),
        });
    }
    for a in [IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)] {
        v.push(SpdEntry { selector: TrafficSelector::prefixes(any(a), any(a)), action: PolicyAction::Bypass });
    }
    Spd::new(v)
}

/// Interfaces (port 1 is the generator's end: an entry with no address, so nothing routes to it), the route
/// to the protected network, static neighbors and the SPD.
pub fn tables(sas: u32) -> Tables {
    let iface = |name: &str, port, mac, addr: Option<Ipv4Addr>, policy| Interface {
        name: name.into(),
        port,
        mac,
        addresses: addr.map(|a| IpPrefix::new(IpAddr::V4(a), 24)).into_iter().collect(),
        mtu: MTU,
        policy,
    };
    let interfaces = vec![
        iface("inside", INSIDE, INSIDE_MAC, Some(GW_INSIDE), None),
        iface("generator", GEN_INSIDE, GEN_MAC, None, None),
        iface("outside", OUTSIDE, OUTSIDE_MAC, Some(GW_OUTSIDE), Some(0)),
    ];
    let routes = vec![Route {
        prefix: IpPrefix::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)), 24),
        next_hop: Some(IpAddr::V4(PEER)),
        port: OUTSIDE,
    }];
    let neighbors = HashMap::from([(IpAddr::V4(HOST), HOST_MAC), (IpAddr::V4(PEER), PEER_MAC)]);
    Tables::new(interfaces, routes, neighbors, vec![spd(sas)])
}

/// A UDP frame of `len` bytes (Ethernet included).
pub fn udp_frame(
    len: usize,
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
) -> Vec<u8> {
    let mut f = vec![0u8; len.max(MIN_FRAME)];
    f[..6].copy_from_slice(&dst_mac.0);
    f[6..12].copy_from_slice(&src_mac.0);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = f.len() - ETH_LEN;
    ipv4::Repr {
        src_addr: src.0,
        dst_addr: dst.0,
        protocol: IpProtocol::UDP,
        payload_len: (ip_len - 20) as u16,
        tos: 0,
        ident: 0,
        dont_frag: true,
        ttl: 64,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut f[ETH_LEN..]));
    let u = ETH_LEN + 20;
    f[u..u + 2].copy_from_slice(&src.1.to_be_bytes());
    f[u + 2..u + 4].copy_from_slice(&dst.1.to_be_bytes());
    f[u + 4..u + 6].copy_from_slice(&((ip_len - 20) as u16).to_be_bytes());
    // UDP checksum 0 (none), allowed over IPv4; the payload is a counting pattern.
    for (k, b) in f[u + 8..].iter_mut().enumerate() {
        *b = k as u8;
    }
    f
}

/// The cleartext frame the host sends for SA `i`'s flow.
pub fn host_frame(len: usize, i: u32) -> Vec<u8> {
    udp_frame(len, INSIDE_MAC, HOST_MAC, (HOST, HOST_PORT), remote_of(i))
}

/// Rewrites a [`host_frame`] in place for SA `i`'s flow: destination address and port, header checksum.
pub fn retarget_host_frame(f: &mut [u8], i: u32) {
    let (h, port) = remote_of(i);
    if let Ok(mut ip) = ipv4::Packet::new_checked(&mut f[ETH_LEN..]) {
        ip.set_dst_addr(h);
        ip.fill_checksum();
    }
    let u = ETH_LEN + 20;
    if let Some(d) = f.get_mut(u + 2..u + 4) {
        d.copy_from_slice(&port.to_be_bytes());
    }
}

/// ESP frames from the peer for tunnel `i`, built by espgate's own outbound SA (sequence numbers 1, 2, ...).
pub struct PeerSender {
    sa: OutboundSa,
    buf: VecBuf,
}

impl PeerSender {
    pub fn new(suite: &Suite, i: u32) -> Result<Self> {
        Ok(Self { sa: OutboundSa::new(suite.peer_outbound(i))?, buf: VecBuf::with_room(&[], 128, 2048) })
    }

    /// Appends the next ESP frame carrying a `len`-byte cleartext frame of tunnel `i` to `out`; returns its length.
    pub fn next_frame(&mut self, i: u32, len: usize, out: &mut Vec<u8>) -> Result<usize> {
        let (h, port) = remote_of(i);
        let inner = udp_frame(len, OUTSIDE_MAC, PEER_MAC, (h, port), (HOST, HOST_PORT));
        self.buf.reset(&inner[ETH_LEN..], 128).map_err(|r| anyhow::anyhow!("ESP build: {}", r.name()))?;
        if let Err(r) = self.sa.protect(&mut self.buf).0 {
            bail!("ESP build for SA {i}: {}", r.name());
        }
        let start = out.len();
        out.extend_from_slice(&OUTSIDE_MAC.0);
        out.extend_from_slice(&PEER_MAC.0);
        out.extend_from_slice(&0x0800u16.to_be_bytes());
        out.extend_from_slice(self.buf.data());
        Ok(out.len() - start)
    }
}

/// Which ESP crypto backend the measured SAs use (`--crypto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CryptoChoice {
    /// The CPU backend: intel-ipsec-mb called directly where it has the suite, else software.
    Cpu,
    /// The software backend only (RustCrypto, ring): the baseline the CPU backend replaced.
    Software,
    /// A DPDK crypto device (`--crypto-devargs`, default crypto_aesni_mb0).
    Cryptodev,
}

/// How the cryptodev backend reaches the device (`--crypto-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CryptoModeChoice {
    /// CPU crypto where the device has it, else enqueue/dequeue.
    Auto,
    /// Crypto ops on the worker's queue pair (as a QAT would be driven).
    Enqueue,
}

/// EAL arguments for the crypto device: its vdev (a PCI device is allowed with `-a` among the EAL extras).
pub fn crypto_eal_args(choice: CryptoChoice, devargs: &str) -> Vec<String> {
    match choice {
        CryptoChoice::Cryptodev if !devargs.contains(':') => vec![format!("--vdev={devargs}")],
        _ => Vec::new(),
    }
}

/// Opens the device (after EAL init, with a queue pair per worker lcore) or picks software.
pub fn crypto_backend(
    eal: &engine::dpdk::Eal,
    choice: CryptoChoice,
    devargs: &str,
    mode: CryptoModeChoice,
    lcores: &[u32],
    sas: u32,
) -> Result<engine::crypto::CryptoBackend> {
    use engine::crypto::{CryptoBackend, CryptodevMode};
    Ok(match choice {
        CryptoChoice::Cpu => CryptoBackend::Cpu,
        CryptoChoice::Software => CryptoBackend::Software,
        CryptoChoice::Cryptodev => {
            let device = engine::dpdk::cryptodev::CryptoDevice::open(eal, devargs, lcores, 3 * sas + 16)
                .with_context(|| format!("--crypto-devargs {devargs}"))?;
            let mode = match mode {
                CryptoModeChoice::Auto => CryptodevMode::Auto,
                CryptoModeChoice::Enqueue => CryptodevMode::Enqueue,
            };
            CryptoBackend::Cryptodev { device, mode }
        }
    })
}

/// An outbound SA on `backend`; fails (no silent software fallback) if the device does not take the suite.
pub fn outbound_sa(backend: &engine::crypto::CryptoBackend, p: SaParams) -> Result<OutboundSa> {
    let built = backend_build(backend, &p, engine::crypto::EspDirection::Seal)?;
    Ok(OutboundSa::with_crypto(p, built)?)
}

/// An inbound SA on `backend`, as [`outbound_sa`].
pub fn inbound_sa(backend: &engine::crypto::CryptoBackend, p: SaParams) -> Result<engine::esp::InboundSa> {
    let built = backend_build(backend, &p, engine::crypto::EspDirection::Open)?;
    Ok(engine::esp::InboundSa::with_crypto(p, built)?)
}

fn backend_build(
    backend: &engine::crypto::CryptoBackend,
    p: &SaParams,
    direction: engine::crypto::EspDirection,
) -> Result<Box<dyn engine::crypto::EspCrypto>> {
    let built = backend.build_for(p, direction)?;
    if matches!(backend, engine::crypto::CryptoBackend::Cryptodev { .. }) && built.backend.starts_with("cpu") {
        bail!("the crypto device does not take this suite: {}", built.backend);
    }
    Ok(built.crypto)
}

/// What [`crypto_backend`] gives SAs, for the report: `cpu` or `cryptodev <device> (cpu-crypto|enqueue)`.
pub fn crypto_label(backend: &engine::crypto::CryptoBackend, suite: &Suite) -> String {
    backend
        .build_for(&suite.outbound(0), engine::crypto::EspDirection::Seal)
        .map_or_else(|e| e.to_string(), |b| b.backend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::selector::FlowKey;

    #[test]
    fn names_and_sizes() {
        assert_eq!(parse_cipher("esp-gcm-128").unwrap(), EncryptionAlgorithm::AesGcm128);
        assert_eq!(parse_integrity("esp-sha-hmac").unwrap(), IntegrityAlgorithm::HmacSha1_96);
        assert!(parse_cipher("aes").is_err());
        assert_eq!(parse_sizes("1420").unwrap(), vec![1420]);
        assert_eq!(parse_sizes("imix").unwrap().len(), 12);
        assert!(parse_sizes("20").is_err() && parse_sizes("x").is_err());
        let gcm_sha = Suite {
            enc: EncryptionAlgorithm::AesGcm128,
            integ: IntegrityAlgorithm::HmacSha1_96,
            natt: false,
            replay_window: engine::replay::DEFAULT_WINDOW,
        };
        assert!(gcm_sha.check().is_err());
    }

    #[test]
    fn flows_are_distinct_and_hit_their_own_spd_entry() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..MAX_SAS).step_by(997).chain([MAX_SAS - 1]) {
            assert!(seen.insert(remote_of(i)));
        }
        let spd = spd(600);
        let mut f = host_frame(64, 0);
        for i in [0, 1, 253, 254, 599] {
            retarget_host_frame(&mut f, i);
            let ip = ipv4::Packet::new_checked(&f[ETH_LEN..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(spd.decide(&f[ETH_LEN..]), PolicyAction::Protect(i));
            assert_eq!(f, host_frame(64, i));
        }
        let k = FlowKey::from_ip(&host_frame(1420, 7)[ETH_LEN..]).unwrap();
        assert_eq!((k.dst, k.dst_port), (IpAddr::V4(remote_of(7).0), remote_of(7).1));
    }

    #[test]
    fn peer_esp_decrypts_with_the_gateways_inbound_sa() {
        let suite = Suite {
            enc: EncryptionAlgorithm::AesCbc128,
            integ: IntegrityAlgorithm::HmacSha1_96,
            natt: false,
            replay_window: engine::replay::DEFAULT_WINDOW,
        };
        let mut tx = PeerSender::new(&suite, 3).unwrap();
        let rx = engine::esp::InboundSa::new(suite.inbound(3)).unwrap();
        let mut arena = Vec::new();
        let n = tx.next_frame(3, 200, &mut arena).unwrap();
        assert_eq!(n, arena.len());
        let mut b = VecBuf::new(&arena[ETH_LEN..]);
        rx.unprotect(&mut b).0.unwrap();
        assert_eq!(b.data(), &udp_frame(200, OUTSIDE_MAC, PEER_MAC, remote_of(3), (HOST, HOST_PORT))[ETH_LEN..]);
        // Another tunnel's inbound SA (its selector and keys) refuses it.
        let other = engine::esp::InboundSa::new(suite.inbound(4)).unwrap();
        let mut b = VecBuf::new(&arena[ETH_LEN..]);
        assert!(other.unprotect(&mut b).0.is_err());
    }
}
