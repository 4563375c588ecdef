//! Security Association Database for inbound lookup by SPI.
//!
//! Inbound SPIs are chosen by this gateway, so the SPI alone identifies an inbound SA (RFC 4301 §4.1: "the SPI
//! alone"); the table is keyed by it. Layout: an open-addressing hash table of `(spi, slot)` pairs with linear
//! probing at most half full, plus a slab of SAs. Lookups hash, probe a few adjacent 8-byte entries and index the
//! slab: O(1), no allocation, no lock. Capacity is fixed at construction (1,000,000 SAs take 16 MiB of index);
//! inserts and removes happen on the control side, which then publishes the table to the lcore that owns it.

use crate::wire::Spi;

/// Why an SA could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SadError {
    #[error("SPI {0} is already in the SAD")]
    Duplicate(Spi),
    #[error("the SAD is full ({0} SAs)")]
    Full(usize),
    #[error("SPI {0} is reserved")]
    Reserved(Spi),
}

#[derive(Clone, Copy, Default)]
struct Entry {
    /// 0 marks an empty entry (SPI 0 is never valid).
    spi: u32,
    slot: u32,
}

/// A fixed-capacity SPI -> SA map.
pub struct Sad<T> {
    index: Box<[Entry]>,
    mask: usize,
    sas: Vec<Option<T>>,
    free: Vec<u32>,
    capacity: usize,
    len: usize,
}

/// Spreads SPIs (often sequential) over the table: a multiplicative hash (Knuth), high bits used.
#[inline]
fn hash(spi: u32, mask: usize) -> usize {
    (u64::from(spi).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & mask
}

impl<T> Sad<T> {
    /// A SAD for up to `capacity` SAs; all memory is allocated here.
    pub fn with_capacity(capacity: usize) -> Self {
        let size = (capacity.max(1) * 2).next_power_of_two();
        let mut sas = Vec::with_capacity(capacity);
        sas.resize_with(capacity, || None);
        Self {
            index: vec![Entry::default(); size].into_boxed_slice(),
            mask: size - 1,
            sas,
            free: (0..capacity as u32).rev().collect(),
            capacity,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn find(&self, spi: u32) -> Option<usize> {
        let mut i = hash(spi, self.mask);
        loop {
            let e = self.index[i];
            if e.spi == spi {
                return Some(i);
            }
            if e.spi == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Reads the index entry a lookup of `spi` starts at (for warming caches ahead of a burst).
    #[inline]
    pub fn touch(&self, spi: Spi) -> u64 {
        u64::from(self.index[hash(spi.0, self.mask)].slot)
    }

    /// The SA for `spi`.
    #[inline]
    pub fn get(&self, spi: Spi) -> Option<&T> {
        if spi.0 == 0 {
            return None;
        }
        let i = self.find(spi.0)?;
        self.sas[self.index[i].slot as usize].as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, spi: Spi) -> Option<&mut T> {
        if spi.0 == 0 {
            return None;
        }
        let i = self.find(spi.0)?;
        self.sas[self.index[i].slot as usize].as_mut()
    }

    pub fn insert(&mut self, spi: Spi, sa: T) -> Result<(), SadError> {
        if spi.0 == 0 {
            return Err(SadError::Reserved(spi));
        }
        if self.find(spi.0).is_some() {
            return Err(SadError::Duplicate(spi));
        }
        let slot = self.free.pop().ok_or(SadError::Full(self.capacity))?;
        self.sas[slot as usize] = Some(sa);
        let mut i = hash(spi.0, self.mask);
        while self.index[i].spi != 0 {
            i = (i + 1) & self.mask;
        }
        self.index[i] = Entry { spi: spi.0, slot };
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the SA; the probe chain is repaired by shifting back later entries (no tombstones, so
    /// lookups stay short however many SAs come and go).
    pub fn remove(&mut self, spi: Spi) -> Option<T> {
        let mut hole = self.find(spi.0).filter(|_| spi.0 != 0)?;
        let slot = self.index[hole].slot;
        let sa = self.sas[slot as usize].take();
        self.free.push(slot);
        self.len -= 1;
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let e = self.index[j];
            if e.spi == 0 {
                break;
            }
            let home = hash(e.spi, self.mask);
            // Move e into the hole if its home is not cyclically within (hole, j].
            let within = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !within {
                self.index[hole] = e;
                hole = j;
            }
        }
        self.index[hole] = Entry::default();
        sa
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insert_get_remove() {
        let mut s = Sad::with_capacity(4);
        assert_eq!(s.insert(Spi(0), 1), Err(SadError::Reserved(Spi(0))));
        for k in 1..=4u32 {
            s.insert(Spi(k * 1000), k).unwrap();
        }
        assert_eq!(s.insert(Spi(1000), 9), Err(SadError::Duplicate(Spi(1000))));
        assert_eq!(s.insert(Spi(5000), 5), Err(SadError::Full(4)));
        assert_eq!(s.get(Spi(3000)), Some(&3));
        *s.get_mut(Spi(3000)).unwrap() = 33;
        assert_eq!(s.remove(Spi(3000)), Some(33));
        assert_eq!(s.get(Spi(3000)), None);
        s.insert(Spi(5000), 5).unwrap();
        assert_eq!(s.len(), 4);
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 1u32..64), 1..400)) {
            let mut s = Sad::with_capacity(64);
            let mut m = std::collections::HashMap::new();
            for (ins, k) in ops {
                if ins {
                    let r = s.insert(Spi(k), k);
                    prop_assert_eq!(r.is_ok(), m.insert(k, k).is_none());
                } else {
                    prop_assert_eq!(s.remove(Spi(k)), m.remove(&k));
                }
                for k in 1u32..64 {
                    prop_assert_eq!(s.get(Spi(k)), m.get(&k));
                }
            }
        }
    }
}
