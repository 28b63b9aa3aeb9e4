// KawPow (ProgPoW 0.9.4, Ravencoin's parameters) on CUDA devices: the CUDA C twin of the
// OpenCL kawpow.cl, one thread per nonce. keccak.cuh, the CUDA dialect of the generated
// code and the period's program (kawpow_program, kawpow_merge_item) are prepended.

#define FNV_PRIME 0x01000193u
#define FNV_OFFSET 0x811c9dc5u
#define FNV1A(u, v) (((u) ^ (v)) * FNV_PRIME)
#define ROUNDS 64
// Words of a 256-byte dataset item (four 64-byte DAG items).
#define ITEM_WORDS 64

// `rAVENCOINKAWPOW`, one letter a word: the padding of both Keccak-f[800] inputs.
static __device__ const u32 RAVENCOIN_KAWPOW[15] = {
    0x72, 0x41, 0x56, 0x45, 0x4e, 0x43, 0x4f, 0x49, 0x4e, 0x4b, 0x41, 0x57, 0x50, 0x4f, 0x57,
};

struct kiss99_t {
    u32 z, w, jsr, jcong;
};

// Marsaglia's KISS99.
__device__ u32 kiss99(kiss99_t &k) {
    k.z = 36969u * (k.z & 0xffff) + (k.z >> 16);
    k.w = 18000u * (k.w & 0xffff) + (k.w >> 16);
    k.jcong = 69069u * k.jcong + 1234567u;
    k.jsr ^= k.jsr << 17;
    k.jsr ^= k.jsr >> 13;
    k.jsr ^= k.jsr << 5;
    return (((k.z << 16) + k.w) ^ k.jcong) + k.jsr;
}

// Hashes nonce `start + i`, i < count, over a DAG of 64-byte items, `items_2048`
// 256-byte items. job[0..8]: the header hash; job[8..16]: the boundary (big-endian).
extern "C" __global__ void kawpow_search(const u32 *__restrict__ dag, u32 items_2048,
                                         const u32 *__restrict__ job, u64 start, u32 count,
                                         u32 *__restrict__ out, u32 cap) {
    // The 16 KiB L1 cache: the dataset's first words, loaded by the whole block.
    __shared__ u32 l1[KAWPOW_L1_WORDS];
    for (u32 i = threadIdx.x; i < KAWPOW_L1_WORDS; i += blockDim.x) l1[i] = dag[i];
    __syncthreads();

    u32 gid = blockIdx.x * blockDim.x + threadIdx.x;
    if (gid >= count) return;
    u64 nonce = start + gid;

    // Seed: Keccak-f[800] of the header words, the nonce and the padding.
    u32 st[25];
    for (int i = 0; i < 8; i++) st[i] = job[i];
    st[8] = (u32)nonce;
    st[9] = (u32)(nonce >> 32);
    for (int i = 0; i < 15; i++) st[10 + i] = RAVENCOIN_KAWPOW[i];
    keccak_f800(st);
    u32 seed[8];
    for (int i = 0; i < 8; i++) seed[i] = st[i];

    // Each lane's 32 registers from a KISS99 stream seeded by the seed and the lane.
    u32 mix[KAWPOW_LANES][KAWPOW_REGS];
    u32 z = FNV1A(FNV_OFFSET, seed[0]);
    u32 w = FNV1A(z, seed[1]);
    for (u32 l = 0; l < KAWPOW_LANES; l++) {
        kiss99_t k;
        k.z = z;
        k.w = w;
        k.jsr = FNV1A(w, l);
        k.jcong = FNV1A(k.jsr, l);
        for (int i = 0; i < KAWPOW_REGS; i++) mix[l][i] = kiss99(k);
    }

    // 64 rounds: the period's program, then the merge of a 256-byte dataset item
    // picked by register 0 of lane r % LANES.
    for (u32 r = 0; r < ROUNDS; r++) {
        u32 index = mix[r % KAWPOW_LANES][0] % items_2048;
        const u32 *item = dag + (u64)index * ITEM_WORDS;
        kawpow_program(mix, l1);
        kawpow_merge_item(mix, item, r);
    }

    // The mix hash: each lane FNV-1a folded, the lanes folded into 8 words.
    u32 digest[8];
    for (int i = 0; i < 8; i++) digest[i] = FNV_OFFSET;
    for (u32 l = 0; l < KAWPOW_LANES; l++) {
        u32 h = FNV_OFFSET;
        for (int i = 0; i < KAWPOW_REGS; i++) h = FNV1A(h, mix[l][i]);
        digest[l % 8] = FNV1A(digest[l % 8], h);
    }

    // Final: Keccak-f[800] of the seed, the mix hash and the padding's first 9 words.
    for (int i = 0; i < 8; i++) st[i] = seed[i];
    for (int i = 0; i < 8; i++) st[8 + i] = digest[i];
    for (int i = 0; i < 9; i++) st[16 + i] = RAVENCOIN_KAWPOW[i];
    keccak_f800(st);

    if (hash_at_most(st, job + 8)) report_mix(out, cap, nonce, digest);
}
