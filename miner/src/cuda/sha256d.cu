// SHA256d: one thread per nonce.
// job[0..8]: SHA-256 state after the first 64 header bytes (the midstate, computed on
// the host); job[8..11]: header words 16..18 (big-endian: end of the merkle root, time,
// bits); job[11]: the 32 most significant bits of the target.
// Thread i of a launch hashes nonce base + i, for i < count. A nonce is reported when
// the hash's top word (bytes 28..32 read as little-endian) <= job[11]; the host
// re-checks it against the full target.

extern "C" __global__ void __launch_bounds__(256)
sha256d_scan(const u32 *__restrict__ job, u32 base, u32 count, u32 *__restrict__ out, u32 cap) {
    u32 gid = blockIdx.x * blockDim.x + threadIdx.x;
    if (gid >= count) return;
    u32 nonce = base + gid;

    // Second block of the header: its last 16 bytes, then padding and the length.
    u32 s[8], w[16];
#pragma unroll
    for (int i = 0; i < 8; i++) s[i] = __ldg(&job[i]);
    w[0] = __ldg(&job[8]);
    w[1] = __ldg(&job[9]);
    w[2] = __ldg(&job[10]);
    w[3] = BSWAP32(nonce);
    w[4] = 0x80000000u;
#pragma unroll
    for (int i = 5; i < 15; i++) w[i] = 0;
    w[15] = 80 * 8;
    sha256_transform(s, w);

    // SHA-256 of the 32-byte digest. Only the last state word is needed, so the
    // compiler drops the work that feeds the others.
#pragma unroll
    for (int i = 0; i < 8; i++) w[i] = s[i];
    w[8] = 0x80000000u;
#pragma unroll
    for (int i = 9; i < 15; i++) w[i] = 0;
    w[15] = 32 * 8;
    sha256_init(s);
    sha256_transform(s, w);

    if (BSWAP32(s[7]) <= __ldg(&job[11])) report(out, cap, nonce);
}
