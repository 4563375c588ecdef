//! Shared pieces of the fuzz targets: a cursor that turns fuzz bytes into decisions, the fixed SAs and tables the
//! targets run against, and packet builders (also used by the seed generator in `examples/gen_seeds.rs`).
#![forbid(unsafe_code)]

pub mod esp;
pub mod ike;
pub mod net;

/// Reads decisions from the fuzz input; once it runs out every read yields zero/empty, so any input is a valid
/// program and libFuzzer's mutations stay meaningful.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.data.split_first() else { return 0 };
        self.data = rest;
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A chunk prefixed by a 2-byte big-endian length (clamped to what is left).
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.bytes(n)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }
}

/// Writes a u16 length prefix then `b` (the inverse of [`Input::chunk`]), for seed files.
pub fn push_chunk(out: &mut Vec<u8>, b: &[u8]) {
    let n = u16::try_from(b.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&b[..usize::from(n)]);
}
