//! Original Keccak (the pre-SHA-3 padding, `0x01`), as Ethash and KawPow use it, over the
//! `keccak` crate's permutations.

/// Keccak with a capacity of `2 * OUT` bytes, output `OUT` bytes: Keccak-256 for 32,
/// Keccak-512 for 64.
fn keccak<const OUT: usize>(input: &[u8]) -> [u8; OUT] {
    let rate = 200 - 2 * OUT;
    let mut state = [0u64; 25];
    let mut blocks = input.chunks_exact(rate);
    for block in &mut blocks {
        absorb(&mut state, block);
        keccak::f1600(&mut state);
    }
    let rest = blocks.remainder();
    let mut last = [0u8; 200];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] ^= 0x01;
    last[rate - 1] ^= 0x80;
    absorb(&mut state, &last[..rate]);
    keccak::f1600(&mut state);
    let mut out = [0u8; OUT];
    for (chunk, lane) in out.chunks_mut(8).zip(state.iter()) {
        chunk.copy_from_slice(&lane.to_le_bytes()[..chunk.len()]);
    }
    out
}

fn absorb(state: &mut [u64; 25], block: &[u8]) {
    for (lane, bytes) in state.iter_mut().zip(block.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        *lane ^= u64::from_le_bytes(b);
    }
}

/// Keccak-256.
pub fn keccak256(input: &[u8]) -> [u8; 32] {
    keccak::<32>(input)
}

/// Keccak-512.
pub fn keccak512(input: &[u8]) -> [u8; 64] {
    keccak::<64>(input)
}

/// The Keccak-f[800] permutation (22 rounds), on 25 32-bit lanes.
pub fn f800(state: &mut [u32; 25]) {
    keccak::f800(state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // Keccak-256 and -512 of the empty string, and Keccak-256 of a two-block input.
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex::encode(keccak512(b"")),
            "0eab42de4c3ceb9235fc91acffe746b29c29a8c366b7c60e4e67c466f36a4304\
             c00fa9caf9d87976ba469bcbe06713b435f091ef2769fb160cdab33d3670680e"
        );
        let long = [0x61u8; 200];
        assert_eq!(keccak256(&long), tiny(&long));
    }

    fn tiny(input: &[u8]) -> [u8; 32] {
        use tiny_keccak::Hasher;
        let mut k = tiny_keccak::Keccak::v256();
        k.update(input);
        let mut out = [0u8; 32];
        k.finalize(&mut out);
        out
    }
}
