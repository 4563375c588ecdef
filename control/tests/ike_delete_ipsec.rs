//! Delete payloads for IPsec SAs between two in-memory endpoints: the peer reports the SPIs as deleted.

mod isakmp_support;

use control::crypto::IkeCipher;
use control::ike::Event;
use control::isakmp::{GroupDescription, HashAlgorithm, ProtocolId};
use isakmp_support::net::*;

#[test]
fn ipsec_delete_reaches_the_peer_with_its_spis() {
    let p = policy(IkeCipher::Aes128Cbc, HashAlgorithm::SHA1, GroupDescription::MODP_2048);
    let mut net = Net::new(config(vec![p], R, b"k"), config(vec![p], I, b"k"));
    let icookie = net.i.connect(net.now, addr(R)).unwrap();
    net.pump();
    assert!(established(&mut net.i).is_some() && established(&mut net.r).is_some());
    net.i.delete_ipsec(&icookie, ProtocolId::IPSEC_ESP, &[0x1000_0001, 0x1000_0002]).unwrap();
    net.i.delete_ipsec(&icookie, ProtocolId::IPSEC_AH, &[0x2000_0001]).unwrap();
    net.pump();
    let mut got = Vec::new();
    while let Some(e) = net.r.poll_event() {
        if let Event::Phase2Deleted { protocol, spis, initiator_cookie, .. } = e {
            assert_eq!(initiator_cookie, icookie);
            got.push((protocol, spis));
        }
    }
    assert_eq!(
        got,
        vec![
            (ProtocolId::IPSEC_ESP, vec![vec![0x10, 0, 0, 1], vec![0x10, 0, 0, 2]]),
            (ProtocolId::IPSEC_AH, vec![vec![0x20, 0, 0, 1]]),
        ]
    );
    // The ISAKMP SA stays up; nothing to delete is a no-op; ISAKMP is not an IPsec protocol.
    assert_eq!(net.r.sa_count(), 1);
    net.i.delete_ipsec(&icookie, ProtocolId::IPSEC_ESP, &[]).unwrap();
    assert!(net.i.poll_transmit().is_none());
    assert!(net.i.delete_ipsec(&icookie, ProtocolId::ISAKMP, &[1]).is_err());
    assert!(net.i.delete_ipsec(&[9; 8], ProtocolId::IPSEC_ESP, &[1]).is_err());
}
