//! A small deterministic mutator: the same seed gives the same inputs on every machine, so a
//! crash found by `agora bench fuzz` or the test suite replays exactly.

/// xorshift64*: fast, and good enough to pick mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// An input derived from one of `seeds` by one to four mutations: bit flips, byte changes,
/// cuts, splices of another seed, length fields set to extremes, or random bytes. Valid
/// inputs mutated a little reach deep code that random bytes never would.
pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds
        .get(rng.below(seeds.len()))
        .cloned()
        .unwrap_or_default();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next_u64() as u8;
            }
            2 => data.truncate(rng.below(data.len() + 1)),
            3 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let at = rng.below(data.len() + 1);
                let from = rng.below(other.len() + 1);
                data.splice(at..at, other[from..].iter().copied());
            }
            4 if data.len() >= 4 => {
                let i = rng.below(data.len() - 3);
                let v = [0u32, 1, u32::MAX, 0x8000_0000][rng.below(4)];
                data[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => data = (0..rng.below(256)).map(|_| rng.next_u64() as u8).collect(),
        }
    }
    data
}
