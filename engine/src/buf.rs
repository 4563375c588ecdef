//! The packet buffer the transforms work on in place.
//!
//! A buffer is one contiguous byte array with a data window inside it: headroom before the window (where outer
//! headers are prepended) and tailroom after it (where padding, trailer and ICV are appended). A single-segment DPDK
//! mbuf has exactly this shape (`buf_addr`/`buf_len` with `data_off`/`data_len`), so the engine's mbuf wrapper
//! implements [`PacketBuf`] and the transforms never know which one they hold.

use crate::drop::DropReason;

/// A byte buffer with a data window, growable into headroom and tailroom.
pub trait PacketBuf {
    /// The whole buffer: headroom, data and tailroom.
    fn buffer(&self) -> &[u8];
    fn buffer_mut(&mut self) -> &mut [u8];
    /// Offset of the data window in [`buffer`](Self::buffer).
    fn data_offset(&self) -> usize;
    fn data_len(&self) -> usize;
    /// Moves the data window. Callers keep `offset + len <= buffer().len()`; the provided methods check it.
    fn set_data(&mut self, offset: usize, len: usize);

    fn data(&self) -> &[u8] {
        let (o, l) = (self.data_offset(), self.data_len());
        &self.buffer()[o..o + l]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        let (o, l) = (self.data_offset(), self.data_len());
        &mut self.buffer_mut()[o..o + l]
    }
    fn headroom(&self) -> usize {
        self.data_offset()
    }
    fn tailroom(&self) -> usize {
        self.buffer().len() - self.data_offset() - self.data_len()
    }
    /// Grows the data window by `n` bytes at the front.
    fn prepend(&mut self, n: usize) -> Result<(), DropReason> {
        if n > self.headroom() {
            return Err(DropReason::NoRoom);
        }
        let (o, l) = (self.data_offset(), self.data_len());
        self.set_data(o - n, l + n);
        Ok(())
    }
    /// Grows the data window by `n` bytes at the end.
    fn append(&mut self, n: usize) -> Result<(), DropReason> {
        if n > self.tailroom() {
            return Err(DropReason::NoRoom);
        }
        let (o, l) = (self.data_offset(), self.data_len());
        self.set_data(o, l + n);
        Ok(())
    }
    /// Removes `n` bytes from the front of the data window.
    fn adj(&mut self, n: usize) -> Result<(), DropReason> {
        let (o, l) = (self.data_offset(), self.data_len());
        if n > l {
            return Err(DropReason::Malformed);
        }
        self.set_data(o + n, l - n);
        Ok(())
    }
    /// Removes `n` bytes from the end of the data window.
    fn trim(&mut self, n: usize) -> Result<(), DropReason> {
        let (o, l) = (self.data_offset(), self.data_len());
        if n > l {
            return Err(DropReason::Malformed);
        }
        self.set_data(o, l - n);
        Ok(())
    }
}

/// A heap-backed [`PacketBuf`] for tests, tools and the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecBuf {
    buf: Vec<u8>,
    off: usize,
    len: usize,
}

impl VecBuf {
    /// Default headroom, like DPDK's `RTE_PKTMBUF_HEADROOM`.
    pub const HEADROOM: usize = 128;
    /// Enough tailroom for the largest padding, trailer and ICV.
    pub const TAILROOM: usize = 128;

    /// Copies `data` into a new buffer with the given headroom and tailroom.
    pub fn with_room(data: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut buf = vec![0u8; headroom + data.len() + tailroom];
        buf[headroom..headroom + data.len()].copy_from_slice(data);
        Self { buf, off: headroom, len: data.len() }
    }

    /// Copies `data` with the default room.
    pub fn new(data: &[u8]) -> Self {
        Self::with_room(data, Self::HEADROOM, Self::TAILROOM)
    }

    /// Replaces the data, keeping the buffer (no allocation if it fits).
    pub fn reset(&mut self, data: &[u8], headroom: usize) -> Result<(), DropReason> {
        if headroom + data.len() > self.buf.len() {
            return Err(DropReason::NoRoom);
        }
        self.buf[headroom..headroom + data.len()].copy_from_slice(data);
        self.off = headroom;
        self.len = data.len();
        Ok(())
    }
}

impl PacketBuf for VecBuf {
    fn buffer(&self) -> &[u8] {
        &self.buf
    }
    fn buffer_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
    fn data_offset(&self) -> usize {
        self.off
    }
    fn data_len(&self) -> usize {
        self.len
    }
    fn set_data(&mut self, offset: usize, len: usize) {
        debug_assert!(offset + len <= self.buf.len());
        self.off = offset;
        self.len = len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_accounting() {
        let mut b = VecBuf::with_room(&[1, 2, 3], 4, 2);
        assert_eq!((b.headroom(), b.tailroom()), (4, 2));
        b.prepend(4).unwrap();
        assert_eq!(b.prepend(1), Err(DropReason::NoRoom));
        b.append(2).unwrap();
        assert_eq!(b.append(1), Err(DropReason::NoRoom));
        assert_eq!(b.data(), &[0, 0, 0, 0, 1, 2, 3, 0, 0]);
        b.adj(4).unwrap();
        b.trim(2).unwrap();
        assert_eq!(b.data(), &[1, 2, 3]);
        assert_eq!(b.trim(4), Err(DropReason::Malformed));
    }
}
