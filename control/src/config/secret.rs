//! Secrets in the config: manual SA keys (hex) and pre-shared keys. Both are wiped from memory on drop, print no
//! bytes in `Debug`, compare in constant time, and never appear in an error message.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Key bytes written in hex, e.g. a manual SA's `cipher_key`.
#[derive(Clone)]
pub struct HexKey(Zeroizing<Vec<u8>>);

impl HexKey {
    pub fn new(bytes: Vec<u8>) -> HexKey {
        HexKey(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Decodes hex digits (either case, optional `0x`); the error never quotes the input, which is a key.
    pub fn from_hex(text: &str) -> Result<HexKey, String> {
        let digits = text.strip_prefix("0x").unwrap_or(text).as_bytes();
        if digits.len() % 2 != 0 {
            return Err(format!("not a hex key: odd number of hex digits ({})", digits.len()));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(digits.len() / 2));
        for pair in digits.chunks_exact(2) {
            match (hex_val(pair[0]), hex_val(pair[1])) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err("not a hex key: only the digits 0-9 and a-f are allowed".to_owned()),
            }
        }
        Ok(HexKey(out))
    }

    fn to_hex(&self) -> Zeroizing<String> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = Zeroizing::new(String::with_capacity(self.0.len() * 2));
        for b in self.0.iter() {
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 15)]));
        }
        s
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for HexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexKey(<{} bytes redacted>)", self.0.len())
    }
}

impl PartialEq for HexKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for HexKey {}

impl Serialize for HexKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for HexKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = HexKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key as a string of hex digits")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<HexKey, E> {
                HexKey::from_hex(s).map_err(E::custom)
            }

            fn visit_string<E: de::Error>(self, mut s: String) -> Result<HexKey, E> {
                let key = HexKey::from_hex(&s).map_err(E::custom);
                s.zeroize();
                key
            }
        }
        deserializer.deserialize_string(V)
    }
}

/// A pre-shared key (`crypto isakmp key`), kept as the operator wrote it.
#[derive(Clone)]
pub struct Psk(Zeroizing<String>);

impl Psk {
    pub fn new(text: String) -> Psk {
        Psk(Zeroizing::new(text))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

impl PartialEq for Psk {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl Eq for Psk {}

impl Serialize for Psk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Psk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Psk;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a pre-shared key string")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Psk, E> {
                Ok(Psk::new(s.to_owned()))
            }

            fn visit_string<E: de::Error>(self, s: String) -> Result<Psk, E> {
                Ok(Psk::new(s))
            }
        }
        deserializer.deserialize_string(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys_decode_and_hide() {
        let k = HexKey::from_hex("0x00FFa1").unwrap();
        assert_eq!(k.as_bytes(), &[0x00, 0xff, 0xa1]);
        assert_eq!(&*k.to_hex(), "00ffa1");
        assert_eq!(format!("{k:?}"), "HexKey(<3 bytes redacted>)");
        let e = HexKey::from_hex("abc").unwrap_err();
        assert!(e.contains("odd") && !e.contains("abc"), "{e}");
        let e = HexKey::from_hex("zz11").unwrap_err();
        assert!(!e.contains("zz"), "{e}");
        assert_eq!(k, HexKey::new(vec![0, 0xff, 0xa1]));
        assert_ne!(k, HexKey::new(vec![0, 0xff]));
    }

    #[test]
    fn psk_debug_is_redacted() {
        let p = Psk::new("example-only-secret".into());
        let shown = format!("{p:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(p, Psk::new("example-only-secret".into()));
    }
}
