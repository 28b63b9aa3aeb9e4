// Scrypt (N=1024, r=1, p=1; password = salt = the 80-byte header): one work item per nonce.
// job[0..19]: header words 0..18 (big-endian); job[19]: the 32 most significant bits of
// the target. scratch: 1024 * 32 words (128 KiB) per work item of one enqueue.

#define SCRYPT_N 1024

#define SR(a, b) rotate((uint)(a), (uint)(b))

static void salsa20_8(uint *b) {
    uint x[16];
    for (int i = 0; i < 16; i++) x[i] = b[i];
    for (int i = 0; i < 8; i += 2) {
        x[4] ^= SR(x[0] + x[12], 7);   x[8] ^= SR(x[4] + x[0], 9);
        x[12] ^= SR(x[8] + x[4], 13);  x[0] ^= SR(x[12] + x[8], 18);
        x[9] ^= SR(x[5] + x[1], 7);    x[13] ^= SR(x[9] + x[5], 9);
        x[1] ^= SR(x[13] + x[9], 13);  x[5] ^= SR(x[1] + x[13], 18);
        x[14] ^= SR(x[10] + x[6], 7);  x[2] ^= SR(x[14] + x[10], 9);
        x[6] ^= SR(x[2] + x[14], 13);  x[10] ^= SR(x[6] + x[2], 18);
        x[3] ^= SR(x[15] + x[11], 7);  x[7] ^= SR(x[3] + x[15], 9);
        x[11] ^= SR(x[7] + x[3], 13);  x[15] ^= SR(x[11] + x[7], 18);
        x[1] ^= SR(x[0] + x[3], 7);    x[2] ^= SR(x[1] + x[0], 9);
        x[3] ^= SR(x[2] + x[1], 13);   x[0] ^= SR(x[3] + x[2], 18);
        x[6] ^= SR(x[5] + x[4], 7);    x[7] ^= SR(x[6] + x[5], 9);
        x[4] ^= SR(x[7] + x[6], 13);   x[5] ^= SR(x[4] + x[7], 18);
        x[11] ^= SR(x[10] + x[9], 7);  x[8] ^= SR(x[11] + x[10], 9);
        x[9] ^= SR(x[8] + x[11], 13);  x[10] ^= SR(x[9] + x[8], 18);
        x[12] ^= SR(x[15] + x[14], 7); x[13] ^= SR(x[12] + x[15], 9);
        x[14] ^= SR(x[13] + x[12], 13); x[15] ^= SR(x[14] + x[13], 18);
    }
    for (int i = 0; i < 16; i++) b[i] += x[i];
}

// BlockMix with r = 1 over X[0..32].
static void block_mix(uint *x) {
    uint y[16];
    for (int i = 0; i < 16; i++) y[i] = x[i] ^ x[16 + i];
    salsa20_8(y);
    for (int i = 0; i < 16; i++) x[i] = y[i];
    for (int i = 0; i < 16; i++) y[i] ^= x[16 + i];
    salsa20_8(y);
    for (int i = 0; i < 16; i++) x[16 + i] = y[i];
}

__kernel void scrypt_scan(__global const uint *job, uint base, __global uint *out, uint cap,
                          __global uint *scratch) {
    uint gid = (uint)get_global_id(0);
    uint nonce = base + gid;
    uint hdr[20];
    for (int i = 0; i < 19; i++) hdr[i] = job[i];
    hdr[19] = BSWAP32(nonce);

    uint block[16];
    uint key[8];
    uint istate[8], ostate[8], st[8];

    // HMAC key: the header is longer than a block, so the key is SHA-256(header).
    sha256_init(key);
    for (int i = 0; i < 16; i++) block[i] = hdr[i];
    sha256_block(key, block);
    for (int i = 0; i < 4; i++) block[i] = hdr[16 + i];
    block[4] = 0x80000000u;
    for (int i = 5; i < 15; i++) block[i] = 0;
    block[15] = 640;
    sha256_block(key, block);

    sha256_init(istate);
    for (int i = 0; i < 8; i++) block[i] = key[i] ^ 0x36363636u;
    for (int i = 8; i < 16; i++) block[i] = 0x36363636u;
    sha256_block(istate, block);
    sha256_init(ostate);
    for (int i = 0; i < 8; i++) block[i] = key[i] ^ 0x5c5c5c5cu;
    for (int i = 8; i < 16; i++) block[i] = 0x5c5c5c5cu;
    sha256_block(ostate, block);

    // PBKDF2(header, header, 1, 128): X as little-endian words.
    uint x[32];
    for (uint blk = 0; blk < 4; blk++) {
        for (int i = 0; i < 8; i++) st[i] = istate[i];
        for (int i = 0; i < 16; i++) block[i] = hdr[i];
        sha256_block(st, block);
        for (int i = 0; i < 4; i++) block[i] = hdr[16 + i];
        block[4] = blk + 1;
        block[5] = 0x80000000u;
        for (int i = 6; i < 15; i++) block[i] = 0;
        block[15] = (64 + 84) * 8;
        sha256_block(st, block);
        for (int i = 0; i < 8; i++) block[i] = st[i];
        block[8] = 0x80000000u;
        for (int i = 9; i < 15; i++) block[i] = 0;
        block[15] = (64 + 32) * 8;
        for (int i = 0; i < 8; i++) st[i] = ostate[i];
        sha256_block(st, block);
        for (int i = 0; i < 8; i++) x[blk * 8 + i] = BSWAP32(st[i]);
    }

    // ROMix.
    __global uint *v = scratch + (ulong)gid * (SCRYPT_N * 32);
    for (int i = 0; i < SCRYPT_N; i++) {
        for (int k = 0; k < 32; k++) v[i * 32 + k] = x[k];
        block_mix(x);
    }
    for (int i = 0; i < SCRYPT_N; i++) {
        uint j = x[16] & (SCRYPT_N - 1);
        for (int k = 0; k < 32; k++) x[k] ^= v[j * 32 + k];
        block_mix(x);
    }

    // PBKDF2(header, X, 1, 32).
    for (int i = 0; i < 8; i++) st[i] = istate[i];
    for (int i = 0; i < 16; i++) block[i] = BSWAP32(x[i]);
    sha256_block(st, block);
    for (int i = 0; i < 16; i++) block[i] = BSWAP32(x[16 + i]);
    sha256_block(st, block);
    block[0] = 1;
    block[1] = 0x80000000u;
    for (int i = 2; i < 15; i++) block[i] = 0;
    block[15] = (64 + 128 + 4) * 8;
    sha256_block(st, block);
    for (int i = 0; i < 8; i++) block[i] = st[i];
    block[8] = 0x80000000u;
    for (int i = 9; i < 15; i++) block[i] = 0;
    block[15] = (64 + 32) * 8;
    for (int i = 0; i < 8; i++) st[i] = ostate[i];
    sha256_block(st, block);

    if (BSWAP32(st[7]) <= job[19]) report(out, cap, nonce);
}
