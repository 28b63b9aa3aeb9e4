// SHA256d: one work item per nonce.
// job[0..8]: SHA-256 state after the first 64 header bytes (midstate);
// job[8..11]: header words 16..18 (big-endian: end of merkle root, time, bits);
// job[11]: the 32 most significant bits of the target.
// A nonce is reported when the hash's top word (bytes 28..32, little-endian) <= job[11].

__kernel void sha256d_scan(__global const uint *job, uint base, __global uint *out, uint cap) {
    uint nonce = base + (uint)get_global_id(0);
    uint state[8];
    uint block[16];
    for (int i = 0; i < 8; i++) state[i] = job[i];
    block[0] = job[8];
    block[1] = job[9];
    block[2] = job[10];
    block[3] = BSWAP32(nonce);
    block[4] = 0x80000000u;
    for (int i = 5; i < 15; i++) block[i] = 0;
    block[15] = 640;
    sha256_block(state, block);

    for (int i = 0; i < 8; i++) block[i] = state[i];
    block[8] = 0x80000000u;
    for (int i = 9; i < 15; i++) block[i] = 0;
    block[15] = 256;
    sha256_init(state);
    sha256_block(state, block);

    if (BSWAP32(state[7]) <= job[11]) report(out, cap, nonce);
}
