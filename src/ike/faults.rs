//! A fault shim on the IKE path, for chaos tests where the kernel has no netem: with `ESPGATE_IKE_FAULTS` set (e.g.
//! `drop=0.2,duplicate=0.1,reorder=0.1,seed=7`), IKE datagrams in both directions are dropped, duplicated or held
//! back behind the next one with these probabilities. Off (and free) unless the variable is set; `espgate run`
//! logs a warning when it is on.
use std::time::{Duration, Instant};

/// A datagram held back for reordering goes anyway after this long.
const HOLD: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    pub drop: f64,
    pub duplicate: f64,
    pub reorder: f64,
    state: u64,
}

impl Faults {
    /// Parses `drop=P,duplicate=P,reorder=P,seed=N` (any subset; probabilities in 0..=1).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut f = Faults { drop: 0.0, duplicate: 0.0, reorder: 0.0, state: 0x9e37_79b9_7f4a_7c15 };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("{part:?}: expected key=value"))?;
            if k == "seed" {
                let seed: u64 = v.parse().map_err(|_| format!("seed {v:?} is not a number"))?;
                f.state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                continue;
            }
            let p: f64 = v.parse().map_err(|_| format!("{k} {v:?} is not a number"))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{k} {p} is not a probability"));
            }
            match k {
                "drop" => f.drop = p,
                "duplicate" => f.duplicate = p,
                "reorder" => f.reorder = p,
                other => return Err(format!("unknown fault {other:?} (drop, duplicate, reorder, seed)")),
            }
        }
        Ok(f)
    }

    /// The same probabilities with another random sequence (the two directions fail independently).
    pub fn reseeded(mut self, salt: u64) -> Self {
        self.state = (self.state ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        self
    }

    /// xorshift64*: reproducible from the seed, good enough for test faults.
    fn roll(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One direction of the IKE path through the shim.
pub struct Shim {
    faults: Faults,
    held: Option<(Instant, Vec<u8>)>,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

impl Shim {
    pub fn new(faults: Faults) -> Self {
        Self { faults, held: None, dropped: 0, duplicated: 0, reordered: 0 }
    }

    /// What goes on for datagram `d` (in order): none, one, two, or the held one too.
    pub fn pass(&mut self, now: Instant, d: Vec<u8>) -> Vec<Vec<u8>> {
        let mut out = self.release(now);
        if self.faults.roll() < self.faults.drop {
            self.dropped += 1;
            return out;
        }
        if self.held.is_none() && self.faults.roll() < self.faults.reorder {
            self.reordered += 1;
            self.held = Some((now, d));
            return out;
        }
        if self.faults.roll() < self.faults.duplicate {
            self.duplicated += 1;
            out.push(d.clone());
        }
        out.push(d);
        // The held datagram goes after a later one: that is the reordering.
        if let Some((_, h)) = self.held.take() {
            out.push(h);
        }
        out
    }

    /// The held datagram, once it waited long enough.
    pub fn release(&mut self, now: Instant) -> Vec<Vec<u8>> {
        match &self.held {
            Some((t, _)) if now.duration_since(*t) >= HOLD => {
                self.held.take().map(|(_, d)| vec![d]).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let f = Faults::parse("drop=0.2, duplicate=0.1,reorder=0.5,seed=3").unwrap();
        assert_eq!((f.drop, f.duplicate, f.reorder), (0.2, 0.1, 0.5));
        assert!(Faults::parse("drop=2").is_err());
        assert!(Faults::parse("loss=0.1").is_err());
        assert!(Faults::parse("drop").is_err());
        assert_eq!(Faults::parse("").unwrap().drop, 0.0);
    }

    #[test]
    fn faults_happen_at_their_rates_and_nothing_is_invented() {
        let mut s = Shim::new(Faults::parse("drop=0.2,duplicate=0.1,reorder=0.1,seed=1").unwrap());
        let t = Instant::now();
        let mut got = Vec::new();
        for i in 0..10_000u32 {
            got.extend(s.pass(t, i.to_be_bytes().to_vec()));
        }
        got.extend(s.release(t + HOLD));
        let n = got.len() as u64;
        assert_eq!(n, 10_000 - s.dropped + s.duplicated);
        assert!((1700..2300).contains(&s.dropped), "{}", s.dropped);
        assert!((600..1100).contains(&s.duplicated), "{}", s.duplicated);
        assert!(s.reordered > 300, "{}", s.reordered);
        // Some datagram came after a later one.
        let seq: Vec<u32> = got.iter().map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]])).collect();
        assert!(seq.windows(2).any(|w| w[0] > w[1]));
        // No faults: everything passes in order.
        let mut clean = Shim::new(Faults::parse("").unwrap());
        let out: Vec<Vec<u8>> = (0..100u8).flat_map(|i| clean.pass(t, vec![i])).collect();
        assert_eq!(out, (0..100u8).map(|i| vec![i]).collect::<Vec<_>>());
    }
}
