//! Malformed input: each defect is a typed error with the notify RFC 2408 §5 prescribes, and nothing panics.

mod isakmp_support;

use control::isakmp::*;
use proptest::prelude::*;

/// A valid Main Mode message 1 built by hand: header, SA(1 proposal, 1 transform, 2 attributes), VID.
fn sample() -> Vec<u8> {
    let sa = SaRepr {
        doi: Doi::IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![ProposalRepr {
            number: 1,
            protocol: ProtocolId::ISAKMP,
            spi: vec![],
            transforms: vec![TransformRepr {
                number: 1,
                transform_id: IsakmpTransformId::KEY_IKE.0,
                attributes: vec![
                    Attribute::basic(IkeAttributeType::ENCRYPTION_ALGORITHM, EncryptionAlgorithm::AES_CBC),
                    Attribute::variable(IkeAttributeType::LIFE_DURATION, vec![0, 1, 0x51, 0x80]),
                ],
            }],
        }],
    };
    Message {
        header: HeaderRepr {
            initiator_cookie: [1, 2, 3, 4, 5, 6, 7, 8],
            responder_cookie: [0; 8],
            minor_version: 0,
            exchange_type: ExchangeType::MAIN_MODE,
            flags: Flags::default(),
            message_id: 0,
        },
        body: Body::Payloads(vec![Payload::Sa(sa), Payload::VendorId(b"espgate".to_vec())]),
    }
    .to_bytes()
    .unwrap()
}

fn err(bytes: &[u8]) -> Error {
    Message::parse(bytes).expect_err("malformed input parsed")
}

#[test]
fn sample_is_valid_and_known_layout() {
    let b = sample();
    assert_eq!(b.len(), 28 + 4 + 8 + 4 + 4 + 4 + 4 + 4 + 8 + 4 + 7);
    assert_eq!(b[16], 1, "first payload SA");
    assert_eq!(Message::parse(&b).unwrap().to_bytes().unwrap(), b);
}

#[test]
fn short_header_is_truncated() {
    let e = err(&sample()[..27]);
    assert!(matches!(e, Error::Truncated { needed: 28, available: 27, .. }), "{e:?}");
    assert_eq!(e.notify(), NotifyType::PAYLOAD_MALFORMED);
}

#[test]
fn header_length_must_match_datagram() {
    let mut b = sample();
    b.push(0);
    let e = err(&b);
    assert!(matches!(e, Error::LengthMismatch { .. }), "{e:?}");
    assert_eq!(e.notify(), NotifyType::UNEQUAL_PAYLOAD_LENGTHS);
    let mut b = sample();
    b[27] = 20; // below the header size
    assert!(matches!(err(&b), Error::Malformed { .. }));
}

#[test]
fn ikev2_version_is_invalid_major_version() {
    let mut b = sample();
    b[17] = 0x20;
    let e = err(&b);
    assert_eq!(e, Error::InvalidMajorVersion(2));
    assert_eq!(e.notify(), NotifyType::INVALID_MAJOR_VERSION);
}

#[test]
fn undefined_flags_are_invalid_flags() {
    let mut b = sample();
    b[19] = 0x08;
    assert_eq!(err(&b).notify(), NotifyType::INVALID_FLAGS);
}

#[test]
fn unassigned_and_misplaced_payload_types() {
    let mut b = sample();
    b[16] = 77; // unassigned
    assert_eq!(err(&b), Error::InvalidPayloadType(PayloadType(77)));
    b[16] = 2; // a proposal at top level
    let e = err(&b);
    assert_eq!(e, Error::InvalidPayloadType(PayloadType::PROPOSAL));
    assert_eq!(e.notify(), NotifyType::INVALID_PAYLOAD_TYPE);
}

#[test]
fn payload_length_beyond_message() {
    let mut b = sample();
    b[30] = 0x40; // SA payload length high byte
    let e = err(&b);
    assert!(matches!(e, Error::BadPayloadLength { kind: PayloadType::SA, .. }), "{e:?}");
    assert_eq!(e.notify(), NotifyType::PAYLOAD_MALFORMED);
    let mut b = sample();
    b[31] = 3; // shorter than the generic header
    b[30] = 0;
    assert!(matches!(err(&b), Error::BadPayloadLength { length: 3, .. }));
}

#[test]
fn reserved_not_zero() {
    let mut b = sample();
    b[29] = 1;
    assert_eq!(err(&b), Error::ReservedNotZero("generic payload header"));
}

#[test]
fn unsupported_doi_and_situation() {
    let mut b = sample();
    b[35] = 7;
    let e = err(&b);
    assert_eq!(e, Error::DoiNotSupported(Doi(7)));
    assert_eq!(e.notify(), NotifyType::DOI_NOT_SUPPORTED);
    let mut b = sample();
    b[39] = 2; // SIT_SECRECY
    assert_eq!(err(&b).notify(), NotifyType::SITUATION_NOT_SUPPORTED);
}

#[test]
fn transform_count_mismatch_is_bad_proposal_syntax() {
    let mut b = sample();
    b[47] = 2; // proposal's number of transforms
    let e = err(&b);
    assert!(matches!(e, Error::BadProposalSyntax(_)), "{e:?}");
    assert_eq!(e.notify(), NotifyType::BAD_PROPOSAL_SYNTAX);
}

#[test]
fn variable_attribute_overrunning_transform() {
    let mut b = sample();
    // Life duration attribute: type at 60..62, length at 62..64.
    assert_eq!(&b[60..64], &[0x00, 0x0c, 0x00, 0x04]);
    b[63] = 9;
    assert!(matches!(err(&b), Error::Truncated { what: "variable data attribute", .. }));
}

#[test]
fn bad_id_lengths_are_invalid_id_information() {
    for (t, len) in [(IdType::IPV4_ADDR, 5), (IdType::IPV6_ADDR, 4), (IdType::IPV4_ADDR_SUBNET, 4)] {
        let mut body = vec![t.0, 17, 1, 244];
        body.extend(std::iter::repeat_n(1, len));
        let e = IdRepr::parse(&body).unwrap_err();
        assert_eq!(e.notify(), NotifyType::INVALID_ID_INFORMATION, "{t}");
    }
}

#[test]
fn delete_and_notify_bounds() {
    // Two 4-byte SPIs announced, one present.
    let body = [0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4];
    assert!(matches!(DeleteRepr::parse(&body), Err(Error::Malformed { .. })));
    // SPI size 16 with 4 bytes left.
    let body = [0, 0, 0, 1, 1, 16, 0x8d, 0x28, 1, 2, 3, 4];
    assert!(matches!(NotificationRepr::parse(&body), Err(Error::Truncated { .. })));
}

#[test]
fn nat_oa_must_be_an_address() {
    assert!(NatOaRepr::parse(&[1, 0, 0, 0, 192, 0, 2, 1]).is_ok());
    assert!(matches!(NatOaRepr::parse(&[2, 0, 0, 0, 192, 0, 2, 1]), Err(Error::Malformed { .. })));
    assert!(matches!(NatOaRepr::parse(&[1, 0, 1, 0, 192, 0, 2, 1]), Err(Error::ReservedNotZero(_))));
}

#[test]
fn encrypted_body_is_opaque() {
    let mut b = sample();
    b[19] = 1; // E flag: the (plaintext) chain is now taken as ciphertext and kept as is
    let m = Message::parse(&b).unwrap();
    assert!(matches!(m.body, Body::Encrypted { first_payload: PayloadType::SA, .. }));
    assert_eq!(m.to_bytes().unwrap(), b);
}

#[test]
fn errors_say_what_is_wrong() {
    let mut b = sample();
    b[47] = 2;
    assert_eq!(err(&b).to_string(), "bad proposal syntax: number of transforms differs from the count");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Message::parse(&b);
        let _ = parse_payloads(PayloadType::SA, &b, Trailing::Padding);
    }

    #[test]
    fn mutated_captures_never_panic(
        frame in 0usize..36,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
        cut in any::<u16>(),
    ) {
        let all: Vec<_> = ["ikev1-certs.pcap", "ikev1-bug-12610.pcapng.gz", "ikev1-bug-12620.pcapng.gz"]
            .iter().flat_map(|n| isakmp_support::isakmp_datagrams(n)).collect();
        let mut b = all[frame % all.len()].isakmp.clone();
        for (pos, v) in edits {
            let i = pos as usize % b.len();
            b[i] = v;
        }
        // Keep the header length consistent half of the time so the payload parsers are reached.
        if cut % 2 == 0 {
            let l = (b.len() as u32).to_be_bytes();
            b[24..28].copy_from_slice(&l);
            b[19] &= 0x06;
        }
        if let Ok(m) = Message::parse(&b) {
            prop_assert_eq!(m.to_bytes().unwrap(), b);
        }
    }
}
