// KawPow (ProgPoW 0.9.4, Ravencoin's parameters) on the device: one work item hashes one
// nonce, its 16 lanes in turn. keccak.cl, the OpenCL dialect of the generated code and
// the period's program (kawpow_program, kawpow_merge_item) are prepended. Constants are
// named as in otedama_sharechain::ethash::kawpow.

#define FNV_PRIME 0x01000193u
#define FNV_OFFSET 0x811c9dc5u
#define FNV1A(u, v) (((u) ^ (v)) * FNV_PRIME)
#define ROUNDS 64
// Words of a 256-byte dataset item (four 64-byte DAG items).
#define ITEM_WORDS 64
// Words of a report: nonce (low, high), then the 8-word mix hash.
#define REPORT_WORDS 10

// `rAVENCOINKAWPOW`, one letter a word: the padding of both Keccak-f[800] inputs.
__constant uint RAVENCOIN_KAWPOW[15] = {
    0x72, 0x41, 0x56, 0x45, 0x4e, 0x43, 0x4f, 0x49, 0x4e, 0x4b, 0x41, 0x57, 0x50, 0x4f, 0x57,
};

typedef struct {
    uint z, w, jsr, jcong;
} kiss99_t;

// Marsaglia's KISS99.
uint kiss99(kiss99_t *k) {
    k->z = 36969u * (k->z & 0xffff) + (k->z >> 16);
    k->w = 18000u * (k->w & 0xffff) + (k->w >> 16);
    k->jcong = 69069u * k->jcong + 1234567u;
    k->jsr ^= k->jsr << 17;
    k->jsr ^= k->jsr >> 13;
    k->jsr ^= k->jsr << 5;
    return (((k->z << 16) + k->w) ^ k->jcong) + k->jsr;
}

// Hashes nonce `start + gid` for gid below `count` over a DAG of 64-byte items,
// `items_2048` 256-byte items. job[0..8]: the header hash (little-endian words);
// job[8..16]: the boundary, bytes in the same layout, compared big-endian. Reports as in
// ethash_search. The global size is `count` rounded up to the work-group size.
__kernel void kawpow_search(__global const uint *dag, uint items_2048,
                            __global const uint *job, ulong start, uint count,
                            __global uint *out, uint cap) {
    // The 16 KiB L1 cache: the dataset's first words, loaded by the whole work group
    // (the work items past `count` too, before they leave).
    __local uint l1[KAWPOW_L1_WORDS];
    for (uint i = get_local_id(0); i < KAWPOW_L1_WORDS; i += get_local_size(0)) l1[i] = dag[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    if (get_global_id(0) >= count) return;

    ulong nonce = start + get_global_id(0);

    // Seed: Keccak-f[800] of the header words, the nonce and the padding.
    uint st[25];
    for (int i = 0; i < 8; i++) st[i] = job[i];
    st[8] = (uint)nonce;
    st[9] = (uint)(nonce >> 32);
    for (int i = 0; i < 15; i++) st[10 + i] = RAVENCOIN_KAWPOW[i];
    keccak_f800(st);
    uint seed[8];
    for (int i = 0; i < 8; i++) seed[i] = st[i];

    // Each lane's 32 registers from a KISS99 stream seeded by the seed and the lane.
    uint mix[KAWPOW_LANES][KAWPOW_REGS];
    uint z = FNV1A(FNV_OFFSET, seed[0]);
    uint w = FNV1A(z, seed[1]);
    for (uint l = 0; l < KAWPOW_LANES; l++) {
        kiss99_t k;
        k.z = z;
        k.w = w;
        k.jsr = FNV1A(w, l);
        k.jcong = FNV1A(k.jsr, l);
        for (int i = 0; i < KAWPOW_REGS; i++) mix[l][i] = kiss99(&k);
    }

    // 64 rounds: the period's program, then the merge of a 256-byte dataset item
    // picked by register 0 of lane r % LANES.
    for (uint r = 0; r < ROUNDS; r++) {
        uint index = mix[r % KAWPOW_LANES][0] % items_2048;
        __global const uint *item = dag + (ulong)index * ITEM_WORDS;
        kawpow_program(mix, l1);
        kawpow_merge_item(mix, item, r);
    }

    // The mix hash: each lane FNV-1a folded, the lanes folded into 8 words.
    uint digest[8];
    for (int i = 0; i < 8; i++) digest[i] = FNV_OFFSET;
    for (uint l = 0; l < KAWPOW_LANES; l++) {
        uint h = FNV_OFFSET;
        for (int i = 0; i < KAWPOW_REGS; i++) h = FNV1A(h, mix[l][i]);
        digest[l % 8] = FNV1A(digest[l % 8], h);
    }

    // Final: Keccak-f[800] of the seed, the mix hash and the padding's first 9 words.
    for (int i = 0; i < 8; i++) st[i] = seed[i];
    for (int i = 0; i < 8; i++) st[8 + i] = digest[i];
    for (int i = 0; i < 9; i++) st[16 + i] = RAVENCOIN_KAWPOW[i];
    keccak_f800(st);

    if (hash_at_most(st, job + 8)) {
        uint slot = atomic_inc(out);
        if (slot < cap) {
            __global uint *rep = out + 1 + slot * REPORT_WORDS;
            rep[0] = (uint)nonce;
            rep[1] = (uint)(nonce >> 32);
            for (int i = 0; i < 8; i++) rep[2 + i] = digest[i];
        }
    }
}
