// Keccak permutations of the DAG-based kernels (Ethash, KawPow), with the original
// Keccak padding (0x01), written from the Keccak reference (FIPS 202's permutation).
// Lanes are little-endian: state word k of f1600 holds message bytes 8k..8k+8.

// Iota's round constants; Keccak-f[800] uses the low 32 bits of the first 22.
__constant ulong KECCAK_RC[24] = {
    0x0000000000000001UL, 0x0000000000008082UL, 0x800000000000808aUL, 0x8000000080008000UL,
    0x000000000000808bUL, 0x0000000080000001UL, 0x8000000080008081UL, 0x8000000000008009UL,
    0x000000000000008aUL, 0x0000000000000088UL, 0x0000000080008009UL, 0x000000008000000aUL,
    0x000000008000808bUL, 0x800000000000008bUL, 0x8000000000008089UL, 0x8000000000008003UL,
    0x8000000000008002UL, 0x8000000000000080UL, 0x000000000000800aUL, 0x800000008000000aUL,
    0x8000000080008081UL, 0x8000000000008080UL, 0x0000000080000001UL, 0x8000000080008008UL,
};
// Rho's rotation of the lane pi moves to position KECCAK_PI[i], in the order pi visits
// the lanes starting from lane 1.
__constant uint KECCAK_RHO[24] = {
    1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
};
__constant uint KECCAK_PI[24] = {
    10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
};

// Keccak-f[1600]: 24 rounds of theta, rho and pi, chi, iota.
void keccak_f1600(ulong st[25]) {
    for (int round = 0; round < 24; round++) {
        ulong c[5];
        for (int x = 0; x < 5; x++) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
        for (int x = 0; x < 5; x++) {
            ulong d = c[(x + 4) % 5] ^ rotate(c[(x + 1) % 5], (ulong)1);
            for (int y = 0; y < 25; y += 5) st[y + x] ^= d;
        }
        ulong t = st[1];
        for (int i = 0; i < 24; i++) {
            uint j = KECCAK_PI[i];
            ulong next = st[j];
            st[j] = rotate(t, (ulong)KECCAK_RHO[i]);
            t = next;
        }
        for (int y = 0; y < 25; y += 5) {
            ulong row[5];
            for (int x = 0; x < 5; x++) row[x] = st[y + x];
            for (int x = 0; x < 5; x++) st[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
        }
        st[0] ^= KECCAK_RC[round];
    }
}

// Keccak-f[800]: the same steps on 32-bit lanes, 22 rounds, rotations modulo 32.
void keccak_f800(uint st[25]) {
    for (int round = 0; round < 22; round++) {
        uint c[5];
        for (int x = 0; x < 5; x++) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
        for (int x = 0; x < 5; x++) {
            uint d = c[(x + 4) % 5] ^ rotate(c[(x + 1) % 5], 1u);
            for (int y = 0; y < 25; y += 5) st[y + x] ^= d;
        }
        uint t = st[1];
        for (int i = 0; i < 24; i++) {
            uint j = KECCAK_PI[i];
            uint next = st[j];
            st[j] = rotate(t, KECCAK_RHO[i] % 32u);
            t = next;
        }
        for (int y = 0; y < 25; y += 5) {
            uint row[5];
            for (int x = 0; x < 5; x++) row[x] = st[y + x];
            for (int x = 0; x < 5; x++) st[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
        }
        st[0] ^= (uint)KECCAK_RC[round];
    }
}

// Keccak-512 of one 64-byte item (16 little-endian words), in place: one block of the
// 72-byte rate, padded with 0x01 at byte 64 and 0x80 at byte 71.
void keccak512_item(uint w[16]) {
    ulong st[25];
    for (int i = 0; i < 8; i++) st[i] = (ulong)w[2 * i] | ((ulong)w[2 * i + 1] << 32);
    st[8] = 0x8000000000000001UL;
    for (int i = 9; i < 25; i++) st[i] = 0;
    keccak_f1600(st);
    for (int i = 0; i < 8; i++) {
        w[2 * i] = (uint)st[i];
        w[2 * i + 1] = (uint)(st[i] >> 32);
    }
}

// Whether the 32 bytes of `h` (little-endian words) read big-endian are at most those
// of `boundary` (the same layout): the comparison of a final hash with its boundary.
bool hash_at_most(const uint h[8], __global const uint *boundary) {
    for (int i = 0; i < 32; i++) {
        uint a = (h[i / 4] >> (8 * (i % 4))) & 0xff;
        uint b = (boundary[i / 4] >> (8 * (i % 4))) & 0xff;
        if (a != b) return a < b;
    }
    return true;
}
