//! proptest round trips: every Repr emitted then parsed gives itself back, and so does a whole message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use control::isakmp::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(k, v)| Attribute::basic(k, v)),
        (0u16..0x8000, bytes(40)).prop_map(|(k, v)| Attribute::variable(k, v)),
    ]
}

fn transform() -> impl Strategy<Value = TransformRepr> {
    (any::<u8>(), any::<u8>(), vec(attribute(), 0..8)).prop_map(|(number, transform_id, attributes)| TransformRepr {
        number,
        transform_id,
        attributes,
    })
}

fn proposal() -> impl Strategy<Value = ProposalRepr> {
    (any::<u8>(), any::<u8>(), bytes(20), vec(transform(), 0..4))
        .prop_map(|(number, p, spi, transforms)| ProposalRepr { number, protocol: ProtocolId(p), spi, transforms })
}

fn sa() -> impl Strategy<Value = SaRepr> {
    (prop_oneof![Just(Doi::ISAKMP), Just(Doi::IPSEC)], 0u32..2, vec(proposal(), 1..4))
        .prop_map(|(doi, situation, proposals)| SaRepr { doi, situation, proposals })
}

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}
fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn id_data() -> impl Strategy<Value = IdData> {
    prop_oneof![
        v4().prop_map(IdData::Ipv4Addr),
        v6().prop_map(IdData::Ipv6Addr),
        (v4(), v4()).prop_map(|(a, b)| IdData::Ipv4Subnet(a, b)),
        (v6(), v6()).prop_map(|(a, b)| IdData::Ipv6Subnet(a, b)),
        (v4(), v4()).prop_map(|(a, b)| IdData::Ipv4Range(a, b)),
        (v6(), v6()).prop_map(|(a, b)| IdData::Ipv6Range(a, b)),
        bytes(40).prop_map(IdData::Fqdn),
        bytes(40).prop_map(IdData::UserFqdn),
        bytes(80).prop_map(IdData::DerAsn1Dn),
        (prop_oneof![Just(0u8), Just(10u8), Just(11u8), 12u8..=255], bytes(30))
            .prop_map(|(t, data)| { IdData::Other { id_type: IdType(t), data } }),
    ]
}

fn id() -> impl Strategy<Value = IdRepr> {
    (any::<u8>(), any::<u16>(), id_data()).prop_map(|(protocol, port, data)| IdRepr { protocol, port, data })
}

fn nat_oa() -> impl Strategy<Value = NatOaRepr> {
    prop_oneof![v4().prop_map(IpAddr::V4), v6().prop_map(IpAddr::V6)].prop_map(|address| NatOaRepr { address })
}

fn notification() -> impl Strategy<Value = NotificationRepr> {
    (any::<u32>(), any::<u8>(), any::<u16>(), bytes(17), bytes(40)).prop_map(|(doi, p, t, spi, data)| {
        NotificationRepr { doi: Doi(doi), protocol: ProtocolId(p), notify_type: NotifyType(t), spi, data }
    })
}

fn delete() -> impl Strategy<Value = DeleteRepr> {
    (any::<u32>(), any::<u8>(), 0u8..20, 0usize..5).prop_flat_map(|(doi, p, size, n)| {
        vec(vec(any::<u8>(), size as usize), n).prop_map(move |spis| DeleteRepr {
            doi: Doi(doi),
            protocol: ProtocolId(p),
            spi_size: size,
            spis,
        })
    })
}

fn cert() -> impl Strategy<Value = CertRepr> {
    (any::<u8>(), bytes(100)).prop_map(|(e, data)| CertRepr { encoding: CertEncoding(e), data })
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        bytes(64).prop_map(Payload::Ke),
        id().prop_map(Payload::Id),
        cert().prop_map(Payload::Cert),
        cert().prop_map(Payload::Cr),
        bytes(64).prop_map(Payload::Hash),
        bytes(64).prop_map(Payload::Sig),
        bytes(64).prop_map(Payload::Nonce),
        notification().prop_map(Payload::Notification),
        delete().prop_map(Payload::Delete),
        bytes(20).prop_map(Payload::VendorId),
        (any::<bool>(), bytes(48)).prop_map(|(draft, hash)| Payload::NatD { draft, hash }),
        (any::<bool>(), nat_oa()).prop_map(|(draft, oa)| Payload::NatOa { draft, oa }),
        (prop_oneof![14u8..=19, Just(22u8), 128u8..=129, 132u8..=255], bytes(30))
            .prop_map(|(k, body)| Payload::Other { kind: PayloadType(k), body }),
    ]
}

fn header() -> impl Strategy<Value = HeaderRepr> {
    (any::<[u8; 8]>(), any::<[u8; 8]>(), 0u8..16, any::<u8>(), 0u8..8, any::<u32>()).prop_map(
        |(initiator_cookie, responder_cookie, minor_version, e, f, message_id)| HeaderRepr {
            initiator_cookie,
            responder_cookie,
            minor_version,
            exchange_type: ExchangeType(e),
            flags: Flags(f),
            message_id,
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    (header(), vec(payload(), 0..6), any::<u8>(), bytes(64)).prop_map(|(header, payloads, first, data)| {
        let body = if header.flags.encrypted() {
            Body::Encrypted { first_payload: PayloadType(first), data }
        } else {
            Body::Payloads(payloads)
        };
        Message { header, body }
    })
}

fn emit_body<F: Fn(&mut [u8])>(len: usize, f: F) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    f(&mut buf);
    buf
}

proptest! {
    #[test]
    fn attribute_round_trip(a in attribute()) {
        let buf = emit_body(a.buffer_len(), |b| a.emit(b));
        prop_assert_eq!(Attribute::parse(&buf).unwrap(), (a.clone(), a.buffer_len()));
    }

    #[test]
    fn transform_round_trip(t in transform()) {
        let buf = emit_body(t.buffer_len(), |b| t.emit(b));
        prop_assert_eq!(TransformRepr::parse(&buf).unwrap(), t);
    }

    #[test]
    fn proposal_round_trip(p in proposal()) {
        let buf = emit_body(p.buffer_len(), |b| p.emit(b));
        prop_assert_eq!(ProposalRepr::parse(&buf).unwrap(), p);
    }

    #[test]
    fn sa_round_trip(s in sa()) {
        let buf = emit_body(s.buffer_len(), |b| s.emit(b));
        prop_assert_eq!(SaRepr::parse(&buf).unwrap(), s);
    }

    #[test]
    fn id_round_trip(i in id()) {
        let buf = emit_body(i.buffer_len(), |b| i.emit(b));
        prop_assert_eq!(IdRepr::parse(&buf).unwrap(), i);
    }

    #[test]
    fn nat_oa_round_trip(o in nat_oa()) {
        let buf = emit_body(o.buffer_len(), |b| o.emit(b));
        prop_assert_eq!(NatOaRepr::parse(&buf).unwrap(), o);
    }

    #[test]
    fn notification_round_trip(n in notification()) {
        let buf = emit_body(n.buffer_len(), |b| n.emit(b));
        prop_assert_eq!(NotificationRepr::parse(&buf).unwrap(), n);
    }

    #[test]
    fn delete_round_trip(d in delete()) {
        let buf = emit_body(d.buffer_len(), |b| d.emit(b));
        prop_assert_eq!(DeleteRepr::parse(&buf).unwrap(), d);
    }

    #[test]
    fn cert_round_trip(c in cert()) {
        let buf = emit_body(c.buffer_len(), |b| c.emit(b));
        prop_assert_eq!(CertRepr::parse(&buf).unwrap(), c);
    }

    #[test]
    fn payload_chain_round_trip(ps in vec(payload(), 0..8)) {
        let buf = emit_payloads(&ps).unwrap();
        prop_assert_eq!(buf.len(), payloads_len(&ps));
        let back = parse_payloads(first_payload_type(&ps), &buf, Trailing::Reject).unwrap();
        prop_assert_eq!(back, ps.clone());
        // A decrypted body has CBC padding after the chain; it is ignored.
        let mut padded = buf.clone();
        padded.extend_from_slice(&[0u8; 7]);
        prop_assert_eq!(parse_payloads(first_payload_type(&ps), &padded, Trailing::Padding).unwrap(), ps);
    }

    #[test]
    fn message_round_trip(m in message()) {
        let bytes = m.to_bytes().unwrap();
        let back = Message::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(&back.to_bytes().unwrap(), &bytes);
        let view = Header::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(view.length() as usize, bytes.len());
        prop_assert_eq!(view.major_version(), 1);
    }
}
