// Keccak permutations of the DAG-based CUDA kernels (Ethash, KawPow), with the original
// Keccak padding (0x01): the CUDA C twin of the OpenCL keccak.cl. Lanes are
// little-endian: state word k of f1600 holds message bytes 8k..8k+8.

typedef unsigned int u32;
typedef unsigned long long u64;

#define ROTL64(x, n) (((x) << (n)) | ((x) >> ((64 - (n)) & 63)))
#define ROTL32(x, n) __funnelshift_l((u32)(x), (u32)(x), (u32)(n))

// Iota's round constants; Keccak-f[800] uses the low 32 bits of the first 22.
static __device__ const u64 KECCAK_RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};
// Rho's rotations in the order pi visits the lanes from lane 1, and where each goes.
static __device__ const u32 KECCAK_RHO[24] = {
    1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
};
static __device__ const u32 KECCAK_PI[24] = {
    10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
};

// Keccak-f[1600]: 24 rounds of theta, rho and pi, chi, iota.
__device__ void keccak_f1600(u64 st[25]) {
    for (int round = 0; round < 24; round++) {
        u64 c[5];
#pragma unroll
        for (int x = 0; x < 5; x++) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
#pragma unroll
        for (int x = 0; x < 5; x++) {
            u64 d = c[(x + 4) % 5] ^ ROTL64(c[(x + 1) % 5], 1);
#pragma unroll
            for (int y = 0; y < 25; y += 5) st[y + x] ^= d;
        }
        u64 t = st[1];
#pragma unroll
        for (int i = 0; i < 24; i++) {
            u32 j = KECCAK_PI[i];
            u64 next = st[j];
            st[j] = ROTL64(t, KECCAK_RHO[i]);
            t = next;
        }
#pragma unroll
        for (int y = 0; y < 25; y += 5) {
            u64 row[5];
#pragma unroll
            for (int x = 0; x < 5; x++) row[x] = st[y + x];
#pragma unroll
            for (int x = 0; x < 5; x++) st[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
        }
        st[0] ^= KECCAK_RC[round];
    }
}

// Keccak-f[800]: the same steps on 32-bit lanes, 22 rounds, rotations modulo 32.
__device__ void keccak_f800(u32 st[25]) {
    for (int round = 0; round < 22; round++) {
        u32 c[5];
#pragma unroll
        for (int x = 0; x < 5; x++) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
#pragma unroll
        for (int x = 0; x < 5; x++) {
            u32 d = c[(x + 4) % 5] ^ ROTL32(c[(x + 1) % 5], 1);
#pragma unroll
            for (int y = 0; y < 25; y += 5) st[y + x] ^= d;
        }
        u32 t = st[1];
#pragma unroll
        for (int i = 0; i < 24; i++) {
            u32 j = KECCAK_PI[i];
            u32 next = st[j];
            st[j] = ROTL32(t, KECCAK_RHO[i] % 32u);
            t = next;
        }
#pragma unroll
        for (int y = 0; y < 25; y += 5) {
            u32 row[5];
#pragma unroll
            for (int x = 0; x < 5; x++) row[x] = st[y + x];
#pragma unroll
            for (int x = 0; x < 5; x++) st[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
        }
        st[0] ^= (u32)KECCAK_RC[round];
    }
}

// Keccak-512 of one 64-byte item (16 little-endian words), in place: one block of the
// 72-byte rate, padded with 0x01 at byte 64 and 0x80 at byte 71.
__device__ void keccak512_item(u32 w[16]) {
    u64 st[25];
#pragma unroll
    for (int i = 0; i < 8; i++) st[i] = (u64)w[2 * i] | ((u64)w[2 * i + 1] << 32);
    st[8] = 0x8000000000000001ULL;
#pragma unroll
    for (int i = 9; i < 25; i++) st[i] = 0;
    keccak_f1600(st);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        w[2 * i] = (u32)st[i];
        w[2 * i + 1] = (u32)(st[i] >> 32);
    }
}

// Whether the 32 bytes of `h` (little-endian words) read big-endian are at most those
// of `boundary` (the same layout): the comparison of a final hash with its boundary.
__device__ bool hash_at_most(const u32 h[8], const u32 *boundary) {
    for (int i = 0; i < 32; i++) {
        u32 a = (h[i / 4] >> (8 * (i % 4))) & 0xff;
        u32 b = (boundary[i / 4] >> (8 * (i % 4))) & 0xff;
        if (a != b) return a < b;
    }
    return true;
}

// Appends a report (nonce, then the 8-word mix hash) while there is room; the counter
// out[0] counts every report, so the host sees an overflow.
__device__ void report_mix(u32 *out, u32 cap, u64 nonce, const u32 mix[8]) {
    u32 slot = atomicAdd(out, 1u);
    if (slot < cap) {
        u32 *r = out + 1 + slot * 10;
        r[0] = (u32)nonce;
        r[1] = (u32)(nonce >> 32);
        for (int k = 0; k < 8; k++) r[2 + k] = mix[k];
    }
}
