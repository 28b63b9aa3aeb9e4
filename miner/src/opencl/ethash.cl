// Ethash on the device: dataset items from the light cache, and hashimoto over a DAG
// in device memory. Constants are named as in the Rust implementation
// (otedama_sharechain::ethash); keccak.cl is prepended.

#define FNV_PRIME 0x01000193u
#define FNV(a, b) (((a) * FNV_PRIME) ^ (b))
#define ACCESSES 64
// Words of a report: nonce (low, high), then the 8-word mix hash.
#define REPORT_WORDS 10

// Dataset items `first + gid`: the cache item at the index, its first word xored with
// the index, Keccak-512; `parents` FNV mixes of pseudo-randomly chosen cache items
// (Ethash 256, KawPow 512); Keccak-512. Item `first + gid` goes to out[(first + gid -
// base) * 16], so a whole DAG (base 0) and a few loose items use the same kernel.
__kernel void ethash_dag(__global const uint *cache, uint cache_items, uint parents,
                         uint first, uint base, __global uint *out) {
    uint index = first + (uint)get_global_id(0);
    uint mix[16];
    __global const uint *own = cache + (ulong)(index % cache_items) * 16;
    for (int k = 0; k < 16; k++) mix[k] = own[k];
    mix[0] ^= index;
    keccak512_item(mix);
    for (uint j = 0; j < parents; j++) {
        uint parent = FNV(index ^ j, mix[j % 16]) % cache_items;
        __global const uint *p = cache + (ulong)parent * 16;
        for (int k = 0; k < 16; k++) mix[k] = FNV(mix[k], p[k]);
    }
    keccak512_item(mix);
    __global uint *dst = out + (ulong)(index - base) * 16;
    for (int k = 0; k < 16; k++) dst[k] = mix[k];
}

// Hashimoto for nonce `start + gid` over a DAG of `dataset_items` 64-byte items.
// job[0..8]: the header hash (little-endian words); job[8..16]: the boundary, bytes in
// the same layout, compared big-endian. out[0] counts the reports; report i is
// out[1 + i * REPORT_WORDS ..], written only while i < cap.
__kernel void ethash_search(__global const uint *dag, uint dataset_items,
                            __global const uint *job, ulong start, uint count,
                            __global uint *out, uint cap) {
    if (get_global_id(0) >= count) return;
    ulong nonce = start + get_global_id(0);

    // s = keccak512(header_hash || nonce_le): one 72-byte block, padding at bytes 40, 71.
    ulong st[25];
    for (int i = 0; i < 4; i++) st[i] = (ulong)job[2 * i] | ((ulong)job[2 * i + 1] << 32);
    st[4] = nonce;
    st[5] = 0x01;
    for (int i = 6; i < 25; i++) st[i] = 0;
    st[8] = 0x8000000000000000UL;
    keccak_f1600(st);
    uint s[16];
    for (int i = 0; i < 8; i++) {
        s[2 * i] = (uint)st[i];
        s[2 * i + 1] = (uint)(st[i] >> 32);
    }

    // The 128-byte mix (s twice), FNV-mixed with 64 pages of two items.
    uint mix[32];
    for (int k = 0; k < 32; k++) mix[k] = s[k % 16];
    uint pages = dataset_items / 2;
    for (uint i = 0; i < ACCESSES; i++) {
        uint p = FNV(i ^ s[0], mix[i % 32]) % pages * 2;
        __global const uint *page = dag + (ulong)p * 16;
        for (int k = 0; k < 32; k++) mix[k] = FNV(mix[k], page[k]);
    }

    // The mix hash: each four words FNV-folded into one.
    uint cmix[8];
    for (int k = 0; k < 8; k++) {
        cmix[k] = FNV(FNV(FNV(mix[4 * k], mix[4 * k + 1]), mix[4 * k + 2]), mix[4 * k + 3]);
    }

    // final = keccak256(s || mix hash): one 136-byte block, padding at bytes 96, 135.
    for (int i = 0; i < 8; i++) st[i] = (ulong)s[2 * i] | ((ulong)s[2 * i + 1] << 32);
    for (int i = 0; i < 4; i++) st[8 + i] = (ulong)cmix[2 * i] | ((ulong)cmix[2 * i + 1] << 32);
    st[12] = 0x01;
    for (int i = 13; i < 25; i++) st[i] = 0;
    st[16] = 0x8000000000000000UL;
    keccak_f1600(st);
    uint result[8];
    for (int i = 0; i < 4; i++) {
        result[2 * i] = (uint)st[i];
        result[2 * i + 1] = (uint)(st[i] >> 32);
    }

    if (hash_at_most(result, job + 8)) {
        uint slot = atomic_inc(out);
        if (slot < cap) {
            __global uint *r = out + 1 + slot * REPORT_WORDS;
            r[0] = (uint)nonce;
            r[1] = (uint)(nonce >> 32);
            for (int k = 0; k < 8; k++) r[2 + k] = cmix[k];
        }
    }
}
