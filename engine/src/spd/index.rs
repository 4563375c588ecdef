//! Tuple-space search over an SPD, so that lookup costs a few hash probes however many entries there are (one
//! protect entry per SA makes SPDs of a million entries).
//!
//! Entries are grouped by *shape*: address family, source and destination prefix lengths, and which of protocol,
//! source port and destination port they fix to one value. Within a shape, a packet's key masked to the shape
//! names the entries that can match it, so one probe per shape finds the first of them. A port range that is
//! neither one value nor everything (or any other oddity) is treated as "any" in the shape and the entry is
//! checked in full, in a short list beside the probe's answer. The answer is the smallest entry index over all
//! shapes; shapes are kept in the order of their first entry, so the search stops at the first shape that cannot
//! beat the best match found so far (in the common SPD, that is after one or two probes).
//!
//! A second set of tables answers the same question with the ports OPAQUE (fragments, RFC 4301 §7): shapes of
//! addresses and protocol only, each key holding its first entry and its first protect entry.
//!
//! Built once off the packet path; lookup only reads and allocates nothing.
use super::{PolicyAction, SpdEntry};
use crate::selector::{FlowKey, IpPrefix};
use core::hash::Hash;
use core::net::IpAddr;
use core::ops::RangeInclusive;
use rustc_hash::FxHashMap;

const NONE: u32 = u32::MAX;

/// Masks over `rest` ([`rest`]): protocol, source port, destination port.
const PROTO_BITS: u64 = 0xff << 32;
const SPORT_BITS: u64 = 0xffff << 16;
const DPORT_BITS: u64 = 0xffff;

/// Protocol and ports packed in one word, so a shape masks them as it masks addresses.
fn rest(protocol: u8, sport: u16, dport: u16) -> u64 {
    (u64::from(protocol) << 32) | (u64::from(sport) << 16) | u64::from(dport)
}

/// A prefix length's mask over an address held in a u128 (IPv4 in the low 32 bits).
fn mask(len: u8, bits: u8) -> u128 {
    let len = len.min(bits);
    let full = if bits == 32 { u128::from(u32::MAX) } else { u128::MAX };
    if len == 0 {
        0
    } else {
        (full << (bits - len)) & full
    }
}

/// The address as a u128 and its width, or `None` across families.
fn addr(a: IpAddr) -> (u128, u8) {
    match a {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// How a selector constrains one port. Equality with the exact `RangeInclusive` values keeps anything unusual
/// (an empty or exhausted range) on the full check.
fn port_rule(r: &RangeInclusive<u16>) -> Option<Option<u16>> {
    if *r == (0..=u16::MAX) {
        Some(None)
    } else if *r == (*r.start()..=*r.start()) {
        Some(Some(*r.start()))
    } else {
        None
    }
}

/// A hash key for one family: IPv4 packs in two words, IPv6 in two u128s and a word.
trait Key: Copy + Eq + Hash {
    fn pack(src: u128, dst: u128, rest: u64) -> Self;
}

impl Key for (u64, u64) {
    #[inline]
    fn pack(src: u128, dst: u128, rest: u64) -> Self {
        (((src as u64) << 32) | dst as u64, rest)
    }
}

impl Key for (u128, u128, u64) {
    #[inline]
    fn pack(src: u128, dst: u128, rest: u64) -> Self {
        (src, dst, rest)
    }
}

/// Open addressing with linear probing, key and value in one slot, at most half full: a hit costs one cache line.
/// (hashbrown keeps its control bytes apart from its slots: two cache misses per probe in a table of a million
/// keys, measured as the two hot spots of the lookup.)
#[derive(Debug, Clone)]
struct FlatMap<K, V> {
    slots: Box<[Option<(K, V)>]>,
    /// 64 less log2 of the slot count: the slot is the top bits of the mixed hash.
    shift: u32,
}

impl<K, V> Default for FlatMap<K, V> {
    fn default() -> Self {
        Self { slots: Box::new([None]), shift: 64 }
    }
}

impl<K: Key, V> FlatMap<K, V> {
    fn new(map: FxHashMap<K, V>) -> Self {
        let len = (map.len() * 2).next_power_of_two().max(2);
        let mut slots: Box<[Option<(K, V)>]> = (0..len).map(|_| None).collect();
        let shift = 64 - len.trailing_zeros();
        let mask = len - 1;
        for (k, v) in map {
            let mut i = Self::slot(&k, shift);
            while slots[i].is_some() {
                i = (i + 1) & mask;
            }
            slots[i] = Some((k, v));
        }
        Self { slots, shift }
    }

    /// FxHash, then a Fibonacci multiply whose top bits pick the slot (FxHash alone leaves structured keys, such as
    /// consecutive hosts and ports, in runs that linear probing would lengthen).
    #[inline]
    fn slot(k: &K, shift: u32) -> usize {
        let h = core::hash::BuildHasher::hash_one(&rustc_hash::FxBuildHasher, k);
        (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
    }

    /// Reads the slot a search for `k` starts at and the one after (for warming caches ahead of a burst): bit 0
    /// and bit 1 say whether they are occupied.
    #[inline]
    fn touch(&self, k: &K) -> u64 {
        let i = if self.shift >= 64 { 0 } else { Self::slot(k, self.shift) };
        // The probe often goes on to the next slot (the table is up to half full), which may be on the next line.
        let next = (i + 1) & (self.slots.len() - 1);
        let occupied = |i: usize| self.slots.get(i).map_or(0, |s| u64::from(s.is_some()));
        occupied(i) | occupied(next) << 1
    }

    #[inline]
    fn get(&self, k: &K) -> Option<&V> {
        let mask = self.slots.len() - 1;
        let mut i = if self.shift >= 64 { 0 } else { Self::slot(k, self.shift) };
        // Never full, so an empty slot ends every search.
        loop {
            match &self.slots[i] {
                None => return None,
                Some((sk, v)) if sk == k => return Some(v),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Shape<K, V> {
    /// The smallest entry index in the shape.
    first: u32,
    src_mask: u128,
    dst_mask: u128,
    rest_mask: u64,
    map: FlatMap<K, V>,
    /// Entries that also need a full check (real port ranges), ascending, by key.
    ranged: FxHashMap<K, Box<[u32]>>,
}

impl<K: Key, V> Shape<K, V> {
    #[inline]
    fn key(&self, src: u128, dst: u128, rest: u64) -> K {
        K::pack(src & self.src_mask, dst & self.dst_mask, rest & self.rest_mask)
    }
}

/// The shapes of one family, sorted by their first entry.
#[derive(Debug, Clone)]
struct Family<K, V> {
    shapes: Vec<Shape<K, V>>,
}

/// Builds one family's shapes from (entry index, prefixes, rest mask, rest, needs a full check, value update).
struct Builder<K, V> {
    shapes: Vec<Shape<K, V>>,
    by_shape: FxHashMap<(u8, u8, u64), usize>,
    maps: Vec<FxHashMap<K, V>>,
    ranged: Vec<FxHashMap<K, Vec<u32>>>,
}

impl<K: Key, V> Builder<K, V> {
    fn new() -> Self {
        Self { shapes: Vec::new(), by_shape: FxHashMap::default(), maps: Vec::new(), ranged: Vec::new() }
    }

    /// Adds entry `i` (entries come in ascending order); `merge` folds it into the value under its key.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        i: u32,
        src: IpPrefix,
        dst: IpPrefix,
        rest_mask: u64,
        rest: u64,
        full_check: bool,
        merge: impl FnOnce(Option<&mut V>) -> Option<V>,
    ) {
        let ((s, bits), (d, _)) = (addr(src.addr), addr(dst.addr));
        let (sl, dl) = (src.len.min(bits), dst.len.min(bits));
        let n = *self.by_shape.entry((sl, dl, rest_mask)).or_insert_with(|| {
            self.shapes.push(Shape {
                first: i,
                src_mask: mask(sl, bits),
                dst_mask: mask(dl, bits),
                rest_mask,
                map: FlatMap::default(),
                ranged: FxHashMap::default(),
            });
            self.maps.push(FxHashMap::default());
            self.ranged.push(FxHashMap::default());
            self.shapes.len() - 1
        });
        let k = self.shapes[n].key(s, d, rest);
        let map = &mut self.maps[n];
        let existing = map.get_mut(&k);
        if full_check {
            // An exact entry already under this key comes first and shadows it.
            if existing.is_none() {
                self.ranged[n].entry(k).or_default().push(i);
            }
        } else if let Some(v) = merge(existing) {
            map.insert(k, v);
        }
    }

    fn finish(self) -> Family<K, V> {
        let mut shapes = self.shapes;
        for ((shape, map), ranged) in shapes.iter_mut().zip(self.maps).zip(self.ranged) {
            shape.map = FlatMap::new(map);
            shape.ranged = ranged.into_iter().map(|(k, v)| (k, v.into_boxed_slice())).collect();
        }
        shapes.sort_by_key(|s| s.first);
        Family { shapes }
    }
}

/// The index of one SPD.
#[derive(Clone)]
pub(super) struct Index {
    /// Per key, the first entry and its action (kept here so a match reads no entry: at a million entries that
    /// would be one more cache miss per packet).
    v4: Family<(u64, u64), (u32, PolicyAction)>,
    v6: Family<(u128, u128, u64), (u32, PolicyAction)>,
    /// Ports OPAQUE: per key, the first entry and the first protect entry.
    opaque_v4: Family<(u64, u64), [u32; 2]>,
    opaque_v6: Family<(u128, u128, u64), [u32; 2]>,
    /// Entries whose source and destination prefixes are of different families: they only match keys of the same
    /// odd kind, never a packet's, and are searched in order.
    mixed: Box<[u32]>,
}

impl core::fmt::Debug for Index {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Index")
            .field("v4_shapes", &self.v4.shapes.len())
            .field("v6_shapes", &self.v6.shapes.len())
            .field("mixed", &self.mixed.len())
            .finish()
    }
}

impl Index {
    pub(super) fn new(entries: &[SpdEntry]) -> Self {
        let (mut v4, mut v6) = (Builder::new(), Builder::new());
        let (mut o4, mut o6) = (Builder::new(), Builder::new());
        let mut mixed = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let i = i as u32;
            let sel = &e.selector;
            let v4_family = match (sel.src.addr, sel.dst.addr) {
                (IpAddr::V4(_), IpAddr::V4(_)) => true,
                (IpAddr::V6(_), IpAddr::V6(_)) => false,
                _ => {
                    mixed.push(i);
                    continue;
                }
            };
            let (proto_mask, proto) = sel.protocol.map_or((0, 0), |p| (PROTO_BITS, p.0));
            let (sport, dport) = (port_rule(&sel.src_ports), port_rule(&sel.dst_ports));
            let full_check = sport.is_none() || dport.is_none();
            let (sport, dport) = (sport.flatten(), dport.flatten());
            let rest_mask = proto_mask | sport.map_or(0, |_| SPORT_BITS) | dport.map_or(0, |_| DPORT_BITS);
            let r = rest(proto, sport.unwrap_or(0), dport.unwrap_or(0));
            let first = |v: Option<&mut (u32, PolicyAction)>| if v.is_some() { None } else { Some((i, e.action)) };
            let protect = matches!(e.action, PolicyAction::Protect(_));
            let opaque = |v: Option<&mut [u32; 2]>| match v {
                None => Some([i, if protect { i } else { NONE }]),
                Some(v) => {
                    if protect && v[1] == NONE {
                        v[1] = i;
                    }
                    None
                }
            };
            let (s, d) = (sel.src, sel.dst);
            if v4_family {
                v4.add(i, s, d, rest_mask, r, full_check, first);
                o4.add(i, s, d, proto_mask, r, false, opaque);
            } else {
                v6.add(i, s, d, rest_mask, r, full_check, first);
                o6.add(i, s, d, proto_mask, r, false, opaque);
            }
        }
        Self {
            v4: v4.finish(),
            v6: v6.finish(),
            opaque_v4: o4.finish(),
            opaque_v6: o6.finish(),
            mixed: mixed.into_boxed_slice(),
        }
    }

    /// The position and action of the first entry matching `key` (ports included).
    #[inline]
    pub(super) fn first_match(&self, entries: &[SpdEntry], key: &FlowKey) -> Option<(usize, PolicyAction)> {
        let r = rest(key.protocol.0, key.src_port, key.dst_port);
        let found = match (key.src, key.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                search(&self.v4, entries, key, u32::from(s).into(), u32::from(d).into(), r)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => search(&self.v6, entries, key, s.into(), d.into(), r),
            _ => {
                let i = self.mixed.iter().map(|&i| i as usize).find(|&i| entries[i].selector.matches(key))?;
                return Some((i, entries[i].action));
            }
        };
        (found.0 != NONE).then_some((found.0 as usize, found.1))
    }

    /// With the ports OPAQUE: the position of the first entry whose addresses and protocol match `key`, if
    /// `protect_only` the first such protect entry.
    /// Reads the slots the search for `key` probes first (the first shape's), so that a burst's probes can miss
    /// the cache together before the searches proper ([`crate::datapath::Datapath::warm`]).
    pub(super) fn touch(&self, key: &FlowKey) -> u64 {
        let r = rest(key.protocol.0, key.src_port, key.dst_port);
        match (&key.src, &key.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self
                .v4
                .shapes
                .first()
                .map_or(0, |sh| sh.map.touch(&sh.key(u32::from(*s).into(), u32::from(*d).into(), r))),
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                self.v6.shapes.first().map_or(0, |sh| sh.map.touch(&sh.key((*s).into(), (*d).into(), r)))
            }
            _ => 0,
        }
    }

    pub(super) fn first_match_opaque(&self, entries: &[SpdEntry], key: &FlowKey, protect_only: bool) -> Option<usize> {
        let r = rest(key.protocol.0, 0, 0);
        let which = usize::from(protect_only);
        let found = match (key.src, key.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                search_opaque(&self.opaque_v4, which, u32::from(s).into(), u32::from(d).into(), r)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => search_opaque(&self.opaque_v6, which, s.into(), d.into(), r),
            _ => {
                return self.mixed.iter().map(|&i| i as usize).find(|&i| {
                    let e = &entries[i];
                    (!protect_only || matches!(e.action, PolicyAction::Protect(_)))
                        && e.selector.matches_ignoring_ports(key)
                })
            }
        };
        (found != NONE).then_some(found as usize)
    }
}

#[inline]
fn search<K: Key>(
    f: &Family<K, (u32, PolicyAction)>,
    entries: &[SpdEntry],
    key: &FlowKey,
    s: u128,
    d: u128,
    r: u64,
) -> (u32, PolicyAction) {
    let (mut best, mut action) = (NONE, PolicyAction::Discard);
    for shape in &f.shapes {
        if shape.first >= best {
            break;
        }
        let k = shape.key(s, d, r);
        if let Some(&(i, a)) = shape.map.get(&k) {
            if i < best {
                (best, action) = (i, a);
            }
        }
        if !shape.ranged.is_empty() {
            if let Some(list) = shape.ranged.get(&k) {
                // Ascending: the first that matches is the shape's answer, and none past `best` can win.
                if let Some(&i) =
                    list.iter().take_while(|&&i| i < best).find(|&&i| entries[i as usize].selector.matches(key))
                {
                    (best, action) = (i, entries[i as usize].action);
                }
            }
        }
    }
    (best, action)
}

fn search_opaque<K: Key>(f: &Family<K, [u32; 2]>, which: usize, s: u128, d: u128, r: u64) -> u32 {
    let mut best = NONE;
    for shape in &f.shapes {
        if shape.first >= best {
            break;
        }
        if let Some(v) = shape.map.get(&shape.key(s, d, r)) {
            best = best.min(v[which]);
        }
    }
    best
}
