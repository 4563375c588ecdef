//! ISAKMP and IPsec DOI registries (RFC 2407, 2408, 2409, 3706, 3947 and the IANA "ISAKMP" and "IPsec DOI"
//! registries) as codepoint newtypes.

use super::codepoint::codepoint;

codepoint! {
    /// Next Payload / payload type (RFC 2408 §3.1, IANA "Next Payload Types").
    pub struct PayloadType(u8) {
        NONE = 0 => "NONE",
        SA = 1 => "SA",
        PROPOSAL = 2 => "PROPOSAL",
        TRANSFORM = 3 => "TRANSFORM",
        KE = 4 => "KE",
        ID = 5 => "ID",
        CERT = 6 => "CERT",
        CR = 7 => "CR",
        HASH = 8 => "HASH",
        SIG = 9 => "SIG",
        NONCE = 10 => "NONCE",
        NOTIFICATION = 11 => "NOTIFICATION",
        DELETE = 12 => "DELETE",
        VENDOR_ID = 13 => "VENDOR_ID",
        /// Mode Config attributes (draft-ietf-ipsec-isakmp-mode-cfg), carried in Transaction exchanges.
        ATTRIBUTE = 14 => "ATTRIBUTE",
        SAK = 15 => "SAK",
        SAT = 16 => "SAT",
        KD = 17 => "KD",
        SEQ = 18 => "SEQ",
        POP = 19 => "POP",
        NAT_D = 20 => "NAT-D",
        NAT_OA = 21 => "NAT-OA",
        GAP = 22 => "GAP",
        /// NAT-D as numbered by draft-ietf-ipsec-nat-t-ike-02/03, still sent by old peers.
        NAT_D_DRAFT = 130 => "NAT-D (draft)",
        /// NAT-OA as numbered by the NAT-T drafts.
        NAT_OA_DRAFT = 131 => "NAT-OA (draft)",
    }
}

impl PayloadType {
    /// Payload types a message may carry at top level: every IANA-assigned one except NONE, PROPOSAL and TRANSFORM
    /// (which live only inside an SA payload), plus the private-use range 128-255 (RFC 2408 §3.1).
    pub fn allowed_at_top_level(self) -> bool {
        matches!(self.0, 1 | 4..=22 | 128..=255)
    }
}

codepoint! {
    /// Exchange type (RFC 2408 §3.1, RFC 2409, IANA).
    pub struct ExchangeType(u8) {
        NONE = 0 => "NONE",
        BASE = 1 => "Base",
        IDENTITY_PROTECTION = 2 => "Identity Protection (Main Mode)",
        AUTH_ONLY = 3 => "Authentication Only",
        AGGRESSIVE = 4 => "Aggressive",
        INFORMATIONAL = 5 => "Informational",
        TRANSACTION = 6 => "Transaction (Mode Config)",
        QUICK_MODE = 32 => "Quick Mode",
        NEW_GROUP_MODE = 33 => "New Group Mode",
    }
}

impl ExchangeType {
    /// Main Mode is ISAKMP's Identity Protection exchange.
    pub const MAIN_MODE: ExchangeType = ExchangeType::IDENTITY_PROTECTION;
}

codepoint! {
    /// Domain of Interpretation (RFC 2408 §3.4, RFC 2407 §4.2).
    pub struct Doi(u32) {
        ISAKMP = 0 => "ISAKMP",
        IPSEC = 1 => "IPsec",
        GDOI = 2 => "GDOI",
    }
}

codepoint! {
    /// Protocol identifier (RFC 2407 §4.4.1).
    pub struct ProtocolId(u8) {
        RESERVED = 0 => "RESERVED",
        ISAKMP = 1 => "PROTO_ISAKMP",
        IPSEC_AH = 2 => "PROTO_IPSEC_AH",
        IPSEC_ESP = 3 => "PROTO_IPSEC_ESP",
        IPCOMP = 4 => "PROTO_IPCOMP",
    }
}

codepoint! {
    /// Notify message type (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706).
    pub struct NotifyType(u16) {
        INVALID_PAYLOAD_TYPE = 1 => "INVALID-PAYLOAD-TYPE",
        DOI_NOT_SUPPORTED = 2 => "DOI-NOT-SUPPORTED",
        SITUATION_NOT_SUPPORTED = 3 => "SITUATION-NOT-SUPPORTED",
        INVALID_COOKIE = 4 => "INVALID-COOKIE",
        INVALID_MAJOR_VERSION = 5 => "INVALID-MAJOR-VERSION",
        INVALID_MINOR_VERSION = 6 => "INVALID-MINOR-VERSION",
        INVALID_EXCHANGE_TYPE = 7 => "INVALID-EXCHANGE-TYPE",
        INVALID_FLAGS = 8 => "INVALID-FLAGS",
        INVALID_MESSAGE_ID = 9 => "INVALID-MESSAGE-ID",
        INVALID_PROTOCOL_ID = 10 => "INVALID-PROTOCOL-ID",
        INVALID_SPI = 11 => "INVALID-SPI",
        INVALID_TRANSFORM_ID = 12 => "INVALID-TRANSFORM-ID",
        ATTRIBUTES_NOT_SUPPORTED = 13 => "ATTRIBUTES-NOT-SUPPORTED",
        NO_PROPOSAL_CHOSEN = 14 => "NO-PROPOSAL-CHOSEN",
        BAD_PROPOSAL_SYNTAX = 15 => "BAD-PROPOSAL-SYNTAX",
        PAYLOAD_MALFORMED = 16 => "PAYLOAD-MALFORMED",
        INVALID_KEY_INFORMATION = 17 => "INVALID-KEY-INFORMATION",
        INVALID_ID_INFORMATION = 18 => "INVALID-ID-INFORMATION",
        INVALID_CERT_ENCODING = 19 => "INVALID-CERT-ENCODING",
        INVALID_CERTIFICATE = 20 => "INVALID-CERTIFICATE",
        CERT_TYPE_UNSUPPORTED = 21 => "CERT-TYPE-UNSUPPORTED",
        INVALID_CERT_AUTHORITY = 22 => "INVALID-CERT-AUTHORITY",
        INVALID_HASH_INFORMATION = 23 => "INVALID-HASH-INFORMATION",
        AUTHENTICATION_FAILED = 24 => "AUTHENTICATION-FAILED",
        INVALID_SIGNATURE = 25 => "INVALID-SIGNATURE",
        ADDRESS_NOTIFICATION = 26 => "ADDRESS-NOTIFICATION",
        NOTIFY_SA_LIFETIME = 27 => "NOTIFY-SA-LIFETIME",
        CERTIFICATE_UNAVAILABLE = 28 => "CERTIFICATE-UNAVAILABLE",
        UNSUPPORTED_EXCHANGE_TYPE = 29 => "UNSUPPORTED-EXCHANGE-TYPE",
        UNEQUAL_PAYLOAD_LENGTHS = 30 => "UNEQUAL-PAYLOAD-LENGTHS",
        CONNECTED = 16384 => "CONNECTED",
        RESPONDER_LIFETIME = 24576 => "RESPONDER-LIFETIME",
        REPLAY_STATUS = 24577 => "REPLAY-STATUS",
        INITIAL_CONTACT = 24578 => "INITIAL-CONTACT",
        R_U_THERE = 36136 => "R-U-THERE",
        R_U_THERE_ACK = 36137 => "R-U-THERE-ACK",
    }
}

impl NotifyType {
    /// Types 1-16383 are errors (RFC 2408 §3.14.1).
    pub fn is_error(self) -> bool {
        (1..16384).contains(&self.0)
    }
}

codepoint! {
    /// Identification type (RFC 2407 §4.6.2.1).
    pub struct IdType(u8) {
        RESERVED = 0 => "RESERVED",
        IPV4_ADDR = 1 => "ID_IPV4_ADDR",
        FQDN = 2 => "ID_FQDN",
        USER_FQDN = 3 => "ID_USER_FQDN",
        IPV4_ADDR_SUBNET = 4 => "ID_IPV4_ADDR_SUBNET",
        IPV6_ADDR = 5 => "ID_IPV6_ADDR",
        IPV6_ADDR_SUBNET = 6 => "ID_IPV6_ADDR_SUBNET",
        IPV4_ADDR_RANGE = 7 => "ID_IPV4_ADDR_RANGE",
        IPV6_ADDR_RANGE = 8 => "ID_IPV6_ADDR_RANGE",
        DER_ASN1_DN = 9 => "ID_DER_ASN1_DN",
        DER_ASN1_GN = 10 => "ID_DER_ASN1_GN",
        KEY_ID = 11 => "ID_KEY_ID",
    }
}

codepoint! {
    /// Certificate encoding (RFC 2408 §3.9).
    pub struct CertEncoding(u8) {
        NONE = 0 => "NONE",
        PKCS7 = 1 => "PKCS #7 wrapped X.509",
        PGP = 2 => "PGP",
        DNS_SIGNED_KEY = 3 => "DNS Signed Key",
        X509_SIGNATURE = 4 => "X.509 Certificate - Signature",
        X509_KEY_EXCHANGE = 5 => "X.509 Certificate - Key Exchange",
        KERBEROS = 6 => "Kerberos Tokens",
        CRL = 7 => "Certificate Revocation List",
        ARL = 8 => "Authority Revocation List",
        SPKI = 9 => "SPKI Certificate",
        X509_ATTRIBUTE = 10 => "X.509 Certificate - Attribute",
        RAW_RSA_KEY = 11 => "Raw RSA Key",
        HASH_AND_URL_X509 = 12 => "Hash and URL of X.509 certificate",
        HASH_AND_URL_BUNDLE = 13 => "Hash and URL of X.509 bundle",
    }
}

codepoint! {
    /// Phase 1 transform identifier (RFC 2407 §4.4.2).
    pub struct IsakmpTransformId(u8) {
        KEY_IKE = 1 => "KEY_IKE",
    }
}

codepoint! {
    /// Phase 1 SA attribute class (RFC 2409 Appendix A).
    pub struct IkeAttributeType(u16) {
        ENCRYPTION_ALGORITHM = 1 => "Encryption Algorithm",
        HASH_ALGORITHM = 2 => "Hash Algorithm",
        AUTHENTICATION_METHOD = 3 => "Authentication Method",
        GROUP_DESCRIPTION = 4 => "Group Description",
        GROUP_TYPE = 5 => "Group Type",
        GROUP_PRIME = 6 => "Group Prime/Irreducible Polynomial",
        GROUP_GENERATOR_ONE = 7 => "Group Generator One",
        GROUP_GENERATOR_TWO = 8 => "Group Generator Two",
        GROUP_CURVE_A = 9 => "Group Curve A",
        GROUP_CURVE_B = 10 => "Group Curve B",
        LIFE_TYPE = 11 => "Life Type",
        LIFE_DURATION = 12 => "Life Duration",
        PRF = 13 => "PRF",
        KEY_LENGTH = 14 => "Key Length",
        FIELD_SIZE = 15 => "Field Size",
        GROUP_ORDER = 16 => "Group Order",
    }
}

codepoint! {
    /// Phase 2 (IPsec DOI) SA attribute class (RFC 2407 §4.5).
    pub struct IpsecAttributeType(u16) {
        SA_LIFE_TYPE = 1 => "SA Life Type",
        SA_LIFE_DURATION = 2 => "SA Life Duration",
        GROUP_DESCRIPTION = 3 => "Group Description",
        ENCAPSULATION_MODE = 4 => "Encapsulation Mode",
        AUTHENTICATION_ALGORITHM = 5 => "Authentication Algorithm",
        KEY_LENGTH = 6 => "Key Length",
        KEY_ROUNDS = 7 => "Key Rounds",
        COMPRESS_DICTIONARY_SIZE = 8 => "Compress Dictionary Size",
        COMPRESS_PRIVATE_ALGORITHM = 9 => "Compress Private Algorithm",
    }
}

codepoint! {
    /// Phase 1 encryption algorithm (RFC 2409 Appendix A, RFC 3602).
    pub struct EncryptionAlgorithm(u16) {
        DES_CBC = 1 => "DES-CBC",
        IDEA_CBC = 2 => "IDEA-CBC",
        BLOWFISH_CBC = 3 => "Blowfish-CBC",
        RC5_CBC = 4 => "RC5-R16-B64-CBC",
        DES3_CBC = 5 => "3DES-CBC",
        CAST_CBC = 6 => "CAST-CBC",
        AES_CBC = 7 => "AES-CBC",
    }
}

codepoint! {
    /// Phase 1 hash algorithm (RFC 2409 Appendix A, RFC 4868).
    pub struct HashAlgorithm(u16) {
        MD5 = 1 => "MD5",
        SHA1 = 2 => "SHA",
        TIGER = 3 => "Tiger",
        SHA2_256 = 4 => "SHA2-256",
        SHA2_384 = 5 => "SHA2-384",
        SHA2_512 = 6 => "SHA2-512",
    }
}

codepoint! {
    /// Phase 1 authentication method (RFC 2409 Appendix A, RFC 4754, XAUTH draft).
    pub struct AuthMethod(u16) {
        PRE_SHARED_KEY = 1 => "pre-shared key",
        DSS_SIGNATURES = 2 => "DSS signatures",
        RSA_SIGNATURES = 3 => "RSA signatures",
        RSA_ENCRYPTION = 4 => "Encryption with RSA",
        RSA_REVISED_ENCRYPTION = 5 => "Revised encryption with RSA",
        ECDSA_SHA256_P256 = 9 => "ECDSA with SHA-256 on the P-256 curve",
        ECDSA_SHA384_P384 = 10 => "ECDSA with SHA-384 on the P-384 curve",
        ECDSA_SHA512_P521 = 11 => "ECDSA with SHA-512 on the P-521 curve",
        XAUTH_INIT_PRE_SHARED = 65001 => "XAUTHInitPreShared",
        XAUTH_RESP_PRE_SHARED = 65002 => "XAUTHRespPreShared",
        XAUTH_INIT_RSA = 65005 => "XAUTHInitRSA",
        XAUTH_RESP_RSA = 65006 => "XAUTHRespRSA",
    }
}

codepoint! {
    /// Diffie-Hellman group (RFC 2409 §6, RFC 3526, RFC 5903, RFC 5114; IANA "Group Description").
    pub struct GroupDescription(u16) {
        MODP_768 = 1 => "MODP-768 (group 1)",
        MODP_1024 = 2 => "MODP-1024 (group 2)",
        EC2N_155 = 3 => "EC2N-155 (group 3)",
        EC2N_185 = 4 => "EC2N-185 (group 4)",
        MODP_1536 = 5 => "MODP-1536 (group 5)",
        MODP_2048 = 14 => "MODP-2048 (group 14)",
        MODP_3072 = 15 => "MODP-3072 (group 15)",
        MODP_4096 = 16 => "MODP-4096 (group 16)",
        MODP_6144 = 17 => "MODP-6144 (group 17)",
        MODP_8192 = 18 => "MODP-8192 (group 18)",
        ECP_256 = 19 => "ECP-256 (group 19)",
        ECP_384 = 20 => "ECP-384 (group 20)",
        ECP_521 = 21 => "ECP-521 (group 21)",
        MODP_1024_160 = 22 => "MODP-1024 with 160-bit subgroup (group 22)",
        MODP_2048_224 = 23 => "MODP-2048 with 224-bit subgroup (group 23)",
        MODP_2048_256 = 24 => "MODP-2048 with 256-bit subgroup (group 24)",
    }
}

codepoint! {
    /// SA life type (RFC 2409 Appendix A and RFC 2407 §4.5 use the same values).
    pub struct LifeType(u16) {
        SECONDS = 1 => "seconds",
        KILOBYTES = 2 => "kilobytes",
    }
}

codepoint! {
    /// Phase 2 encapsulation mode (RFC 2407 §4.5, RFC 3947 §5.2 and the NAT-T drafts).
    pub struct EncapsulationMode(u16) {
        TUNNEL = 1 => "Tunnel",
        TRANSPORT = 2 => "Transport",
        UDP_TUNNEL = 3 => "UDP-Encapsulated-Tunnel",
        UDP_TRANSPORT = 4 => "UDP-Encapsulated-Transport",
        UDP_TUNNEL_DRAFT = 61443 => "UDP-Encapsulated-Tunnel (draft)",
        UDP_TRANSPORT_DRAFT = 61444 => "UDP-Encapsulated-Transport (draft)",
    }
}
