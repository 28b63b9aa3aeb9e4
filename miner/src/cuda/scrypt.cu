// Scrypt (N = 1024, r = 1, p = 1; password = salt = the 80-byte header): one thread per
// nonce.
// job[0..19]: header words 0..18 (big-endian); job[19]: the 32 most significant bits of
// the target. Thread i of a launch hashes nonce base + i, for i < count <= slots.
// scratch: `slots` scratchpads of N 128-byte blocks, interleaved so that the threads of
// a warp touch neighbouring 16-byte words: word k (0..8) of block i of thread t is the
// uint4 at (i * 8 + k) * slots + t.

#define SCRYPT_N 1024

#define ROTL(x, n) __funnelshift_l((x), (x), (n))

// One quarter-round step of Salsa20: x[a] ^= (x[b] + x[c]) <<< n.
#define QR(a, b, c, n) x[a] ^= ROTL(x[b] + x[c], n)

// Salsa20/8 core: b += 8 rounds of Salsa20 over b.
__device__ __forceinline__ void salsa20_8(u32 b[16]) {
    u32 x[16];
#pragma unroll
    for (int i = 0; i < 16; i++) x[i] = b[i];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        // Columns.
        QR(4, 0, 12, 7);   QR(8, 4, 0, 9);    QR(12, 8, 4, 13);  QR(0, 12, 8, 18);
        QR(9, 5, 1, 7);    QR(13, 9, 5, 9);   QR(1, 13, 9, 13);  QR(5, 1, 13, 18);
        QR(14, 10, 6, 7);  QR(2, 14, 10, 9);  QR(6, 2, 14, 13);  QR(10, 6, 2, 18);
        QR(3, 15, 11, 7);  QR(7, 3, 15, 9);   QR(11, 7, 3, 13);  QR(15, 11, 7, 18);
        // Rows.
        QR(1, 0, 3, 7);    QR(2, 1, 0, 9);    QR(3, 2, 1, 13);   QR(0, 3, 2, 18);
        QR(6, 5, 4, 7);    QR(7, 6, 5, 9);    QR(4, 7, 6, 13);   QR(5, 4, 7, 18);
        QR(11, 10, 9, 7);  QR(8, 11, 10, 9);  QR(9, 8, 11, 13);  QR(10, 9, 8, 18);
        QR(12, 15, 14, 7); QR(13, 12, 15, 9); QR(14, 13, 12, 13); QR(15, 14, 13, 18);
    }
#pragma unroll
    for (int i = 0; i < 16; i++) b[i] += x[i];
}

// BlockMix with r = 1 over the two 64-byte halves of x: B0 = S(B0 ^ B1), B1 = S(B1 ^ B0).
__device__ __forceinline__ void block_mix(u32 x[32]) {
#pragma unroll
    for (int i = 0; i < 16; i++) x[i] ^= x[16 + i];
    salsa20_8(x);
#pragma unroll
    for (int i = 0; i < 16; i++) x[16 + i] ^= x[i];
    salsa20_8(x + 16);
}

// The outer hash of HMAC-SHA256: SHA-256 of (key ^ opad, the inner digest), from
// `ostate`, the state after the key block.
__device__ __forceinline__ void hmac_outer(u32 st[8], const u32 ostate[8], const u32 inner[8]) {
    u32 block[16];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        st[i] = ostate[i];
        block[i] = inner[i];
    }
    block[8] = 0x80000000u;
#pragma unroll
    for (int i = 9; i < 15; i++) block[i] = 0;
    block[15] = (64 + 32) * 8;
    sha256_transform(st, block);
}

extern "C" __global__ void __launch_bounds__(128)
scrypt_scan(const u32 *__restrict__ job, u32 base, u32 count, u32 *__restrict__ out, u32 cap,
            uint4 *__restrict__ scratch, u32 slots) {
    u32 gid = blockIdx.x * blockDim.x + threadIdx.x;
    if (gid >= count || gid >= slots) return;
    u32 nonce = base + gid;

    u32 hdr[20];
#pragma unroll
    for (int i = 0; i < 19; i++) hdr[i] = __ldg(&job[i]);
    hdr[19] = BSWAP32(nonce);

    u32 block[16];
    u32 key[8], istate[8], ostate[8], st[8], head[8];

    // HMAC-SHA256 keyed with the header: an 80-byte key is longer than a block, so the
    // key is SHA-256(header).
    sha256_init(key);
#pragma unroll
    for (int i = 0; i < 16; i++) block[i] = hdr[i];
    sha256_transform(key, block);
#pragma unroll
    for (int i = 0; i < 4; i++) block[i] = hdr[16 + i];
    block[4] = 0x80000000u;
#pragma unroll
    for (int i = 5; i < 15; i++) block[i] = 0;
    block[15] = 80 * 8;
    sha256_transform(key, block);

    // States after the key blocks (key ^ ipad, key ^ opad).
    sha256_init(istate);
#pragma unroll
    for (int i = 0; i < 16; i++) block[i] = (i < 8 ? key[i] : 0u) ^ 0x36363636u;
    sha256_transform(istate, block);
    sha256_init(ostate);
#pragma unroll
    for (int i = 0; i < 16; i++) block[i] = (i < 8 ? key[i] : 0u) ^ 0x5c5c5c5cu;
    sha256_transform(ostate, block);

    // PBKDF2(header, header, 1, 128) into X, as little-endian words. The first 64 salt
    // bytes are the same for the four output blocks: hash them once.
#pragma unroll
    for (int i = 0; i < 8; i++) head[i] = istate[i];
#pragma unroll
    for (int i = 0; i < 16; i++) block[i] = hdr[i];
    sha256_transform(head, block);
    u32 x[32];
#pragma unroll
    for (u32 blk = 0; blk < 4; blk++) {
#pragma unroll
        for (int i = 0; i < 8; i++) st[i] = head[i];
#pragma unroll
        for (int i = 0; i < 4; i++) block[i] = hdr[16 + i];
        block[4] = blk + 1;
        block[5] = 0x80000000u;
#pragma unroll
        for (int i = 6; i < 15; i++) block[i] = 0;
        block[15] = (64 + 80 + 4) * 8;
        sha256_transform(st, block);
        u32 inner[8];
#pragma unroll
        for (int i = 0; i < 8; i++) inner[i] = st[i];
        hmac_outer(st, ostate, inner);
#pragma unroll
        for (int i = 0; i < 8; i++) x[blk * 8 + i] = BSWAP32(st[i]);
    }

    // ROMix: fill the scratchpad, then N data-dependent reads.
    const size_t stride = slots;
    uint4 *v = scratch + gid;
    for (u32 i = 0; i < SCRYPT_N; i++) {
        uint4 *row = v + (size_t)i * 8 * stride;
#pragma unroll
        for (int k = 0; k < 8; k++)
            row[k * stride] = make_uint4(x[4 * k], x[4 * k + 1], x[4 * k + 2], x[4 * k + 3]);
        block_mix(x);
    }
    for (u32 i = 0; i < SCRYPT_N; i++) {
        u32 j = x[16] & (SCRYPT_N - 1);
        const uint4 *row = v + (size_t)j * 8 * stride;
#pragma unroll
        for (int k = 0; k < 8; k++) {
            uint4 t = row[k * stride];
            x[4 * k] ^= t.x;
            x[4 * k + 1] ^= t.y;
            x[4 * k + 2] ^= t.z;
            x[4 * k + 3] ^= t.w;
        }
        block_mix(x);
    }

    // PBKDF2(header, X, 1, 32): the salt is X (two blocks) then the block index 1.
#pragma unroll
    for (int i = 0; i < 8; i++) st[i] = istate[i];
#pragma unroll
    for (int i = 0; i < 16; i++) block[i] = BSWAP32(x[i]);
    sha256_transform(st, block);
#pragma unroll
    for (int i = 0; i < 16; i++) block[i] = BSWAP32(x[16 + i]);
    sha256_transform(st, block);
    block[0] = 1;
    block[1] = 0x80000000u;
#pragma unroll
    for (int i = 2; i < 15; i++) block[i] = 0;
    block[15] = (64 + 128 + 4) * 8;
    sha256_transform(st, block);
    u32 inner[8];
#pragma unroll
    for (int i = 0; i < 8; i++) inner[i] = st[i];
    hmac_outer(st, ostate, inner);

    if (BSWAP32(st[7]) <= __ldg(&job[19])) report(out, cap, nonce);
}
