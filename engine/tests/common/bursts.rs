//! Bursts of ESP jobs for the crypto backend tests: packets with varied plaintext lengths, and seal/open calls that
//! return each job's verdict.
use engine::crypto::{EspCrypto, EspJob};
use engine::DropReason;

pub fn key(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// ESP packets SPI | seq | IV room | plaintext | ICV room with varied plaintext lengths; and the plaintexts.
pub fn packets(c: &dyn EspCrypto, n: usize, seq0: u32) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut pkts = Vec::new();
    let mut plains = Vec::new();
    for i in 0..n {
        let len = (((i * 37) % 1400) + 2).div_ceil(c.pad_align()) * c.pad_align();
        let plain: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
        let mut p = vec![0x00, 0x00, 0x12, 0x34];
        p.extend_from_slice(&(seq0.wrapping_add(i as u32)).to_be_bytes());
        p.extend(vec![0; c.iv_len()]);
        p.extend_from_slice(&plain);
        p.extend(vec![0; c.icv_len()]);
        pkts.push(p);
        plains.push(plain);
    }
    (pkts, plains)
}

pub fn seal(c: &dyn EspCrypto, pkts: &mut [Vec<u8>], seq_hi: u32, esn: bool) -> Vec<Result<(), DropReason>> {
    let mut jobs: Vec<EspJob> = pkts.iter_mut().map(|p| EspJob::new(p, seq_hi, esn)).collect();
    c.seal_burst(&mut jobs);
    jobs.iter().map(|j| j.status).collect()
}

pub fn open(c: &dyn EspCrypto, pkts: &mut [Vec<u8>], seq_hi: u32, esn: bool) -> Vec<Result<(), DropReason>> {
    let mut jobs: Vec<EspJob> = pkts.iter_mut().map(|p| EspJob::new(p, seq_hi, esn)).collect();
    c.open_burst(&mut jobs);
    jobs.iter().map(|j| j.status).collect()
}

pub fn plain_of<'a>(c: &dyn EspCrypto, p: &'a [u8]) -> &'a [u8] {
    &p[8 + c.iv_len()..p.len() - c.icv_len()]
}
