/*
 * tir_random.h -- the Philox-4x32-10 counter-based generator of the `random` dialect (dialects/random.py).
 *
 * tir_philox_word(key, stream, pos, i) is word i of the stream (key, stream) that starts at block pos:
 * word i % 4 of philox4x32_10(counter = (lo(pos + i / 4), hi(pos + i / 4), lo(stream), hi(stream)),
 * key = (lo(key), hi(key))) (Salmon et al., SC 2011; Random123's philox4x32_10, whose known-answer vectors
 * tests/test_random.py checks). The generated code calls it once per word of each element, so a draw is an
 * elementwise loop: branch-free, 32x32->64-bit products only, so it vectorizes. The mapping of words to
 * floats (and its rationale) is in dialects/random.py; an OpenCL or CUDA target copies this function as is.
 */
#ifndef TIR_RANDOM_H
#define TIR_RANDOM_H

#include <stdint.h>

static inline __attribute__((always_inline, unused))
uint32_t tir_philox_word(uint64_t key, uint64_t stream, uint64_t pos, uint64_t i) {
    uint64_t block = pos + (i >> 2);
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        c1 = (uint32_t)p1;
        c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c3 = (uint32_t)p0;
    }
    uint32_t j = (uint32_t)(i & 3);
    return j == 0 ? c0 : j == 1 ? c1 : j == 2 ? c2 : c3;
}

#endif
