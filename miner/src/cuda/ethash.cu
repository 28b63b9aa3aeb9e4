// Ethash on CUDA devices: the CUDA C twin of the OpenCL ethash.cl (dataset items from
// the light cache, hashimoto over the DAG). keccak.cuh is prepended; constants are
// named as in otedama_sharechain::ethash.

#define FNV_PRIME 0x01000193u
#define FNV(a, b) (((a) * FNV_PRIME) ^ (b))
#define ACCESSES 64

// Dataset items `first + i` for i < count, into out[(first + i - base) * 16]: the cache
// item at the index, its first word xored with the index, Keccak-512; `parents` FNV
// mixes of pseudo-randomly chosen cache items (Ethash 256, KawPow 512); Keccak-512.
extern "C" __global__ void ethash_dag(const u32 *__restrict__ cache, u32 cache_items, u32 parents,
                                      u32 first, u32 count, u32 base, u32 *__restrict__ out) {
    u32 gid = blockIdx.x * blockDim.x + threadIdx.x;
    if (gid >= count) return;
    u32 index = first + gid;
    u32 mix[16];
    const u32 *own = cache + (u64)(index % cache_items) * 16;
#pragma unroll
    for (int k = 0; k < 16; k++) mix[k] = own[k];
    mix[0] ^= index;
    keccak512_item(mix);
    for (u32 j = 0; j < parents; j++) {
        u32 parent = FNV(index ^ j, mix[j % 16]) % cache_items;
        const u32 *p = cache + (u64)parent * 16;
#pragma unroll
        for (int k = 0; k < 16; k++) mix[k] = FNV(mix[k], __ldg(&p[k]));
    }
    keccak512_item(mix);
    u32 *dst = out + (u64)(index - base) * 16;
#pragma unroll
    for (int k = 0; k < 16; k++) dst[k] = mix[k];
}

// Hashimoto for nonce `start + i`, i < count, over a DAG of `dataset_items` 64-byte
// items. job[0..8]: the header hash; job[8..16]: the boundary (compared big-endian).
extern "C" __global__ void ethash_search(const u32 *__restrict__ dag, u32 dataset_items,
                                         const u32 *__restrict__ job, u64 start, u32 count,
                                         u32 *__restrict__ out, u32 cap) {
    u32 gid = blockIdx.x * blockDim.x + threadIdx.x;
    if (gid >= count) return;
    u64 nonce = start + gid;

    // s = keccak512(header_hash || nonce_le): one 72-byte block, padding at bytes 40, 71.
    u64 st[25];
#pragma unroll
    for (int i = 0; i < 4; i++) st[i] = (u64)job[2 * i] | ((u64)job[2 * i + 1] << 32);
    st[4] = nonce;
    st[5] = 0x01;
#pragma unroll
    for (int i = 6; i < 25; i++) st[i] = 0;
    st[8] = 0x8000000000000000ULL;
    keccak_f1600(st);
    u32 s[16];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        s[2 * i] = (u32)st[i];
        s[2 * i + 1] = (u32)(st[i] >> 32);
    }

    // The 128-byte mix (s twice), FNV-mixed with 64 pages of two items.
    u32 mix[32];
#pragma unroll
    for (int k = 0; k < 32; k++) mix[k] = s[k % 16];
    u32 pages = dataset_items / 2;
    for (u32 i = 0; i < ACCESSES; i++) {
        u32 p = FNV(i ^ s[0], mix[i % 32]) % pages * 2;
        const u32 *page = dag + (u64)p * 16;
#pragma unroll
        for (int k = 0; k < 32; k++) mix[k] = FNV(mix[k], __ldg(&page[k]));
    }

    // The mix hash: each four words FNV-folded into one.
    u32 cmix[8];
#pragma unroll
    for (int k = 0; k < 8; k++) {
        cmix[k] = FNV(FNV(FNV(mix[4 * k], mix[4 * k + 1]), mix[4 * k + 2]), mix[4 * k + 3]);
    }

    // final = keccak256(s || mix hash): one 136-byte block, padding at bytes 96, 135.
#pragma unroll
    for (int i = 0; i < 8; i++) st[i] = (u64)s[2 * i] | ((u64)s[2 * i + 1] << 32);
#pragma unroll
    for (int i = 0; i < 4; i++) st[8 + i] = (u64)cmix[2 * i] | ((u64)cmix[2 * i + 1] << 32);
    st[12] = 0x01;
#pragma unroll
    for (int i = 13; i < 25; i++) st[i] = 0;
    st[16] = 0x8000000000000000ULL;
    keccak_f1600(st);
    u32 result[8];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        result[2 * i] = (u32)st[i];
        result[2 * i + 1] = (u32)(st[i] >> 32);
    }

    if (hash_at_most(result, job + 8)) report_mix(out, cap, nonce, cmix);
}
