/*
 * tir_ops.h -- scalar helpers of generated C code whose numpy semantics C does not give directly.
 *
 * Included by every source the C-style renderer (backends/cstyle.py) writes, after tir_math.h.
 * Plain C99, `static inline`, no globals; the float helpers are branch-free selects so loops
 * that use them still vectorize.
 *
 *   integers   floor division and remainder as numpy: x // 0 == 0, x % 0 == 0 (numpy warns and gives 0),
 *              the remainder has the divisor's sign, MIN // -1 wraps to MIN (no SIGFPE);
 *              integer power by squaring (numpy raises on a negative exponent: the C renderer emits that check;
 *              the helper itself gives 0,
 *              except 1 ** -n == 1 and (-1) ** -n == +-1, the exact values).
 *   floats     floor division and remainder (numpy's npy_divmod: signed zeros, inf, nan as numpy),
 *              maximum/minimum that propagate NaN (np.maximum), sign with sign(nan) == nan and
 *              sign(-0.0) == 0.0.
 *   copies     tir_copy: mem.copy of any strides and element size on the host (merged dims, memcpy runs,
 *              tiled transposes, OpenMP); needs tir_runtime.h, like the BLAS wrappers below; tir_transpose
 *              (a tile); both only where the source defines TIR_USE_COPY (as TIR_USE_BLAS: less to parse).
 *
 * Signed integer add/sub/mul/neg wrap around as in numpy: the renderer computes them in the unsigned
 * type of the same width (no -fwrapv needed), so they never reach this file.
 */
#ifndef TIR_OPS_H
#define TIR_OPS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tir_scalar.h" /* the scalar helpers, shared with the OpenCL target */


#ifdef TIR_USE_COPY /* defined by sources that copy on the host or tile a kernel: the rest need not parse it */
/* ---- tile transposes: dst[a * da + b] = src[b * sb + a] for a < ea, b < eb (element strides) ----
 * tir_transpose stages a transposed operand's tile in elementwise kernels (backends/c.py) and copies the
 * tiles of tir_copy. On an AVX machine 4-byte elements go by 8x8 blocks in vector registers, about twice
 * as fast as element by element (measured on 4096x4096 floats); without AVX the vector extension's
 * shuffles would be lowered to slower code than the plain loop, which is what other machines and sizes get. */
#if defined(__AVX__) && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define TIR__TRANSPOSE_8X8 1
#endif
#endif

#ifdef TIR__TRANSPOSE_8X8
typedef uint32_t tir__u32x8 __attribute__((vector_size(32)));

/* dst[i * dn + j] = src[j * sn + i] for i, j < 8: pairs of rows interleaved, then pairs of pairs, then halves. */
TIR_OPS_INLINE void tir__transpose_8x8(uint32_t* dst, int64_t dn, const uint32_t* src, int64_t sn) {
    tir__u32x8 r[8], u[8], w[8];
    for (int i = 0; i < 8; ++i) memcpy(&r[i], src + i * sn, sizeof r[i]);
    for (int i = 0; i < 4; ++i) {
        u[2 * i] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        u[2 * i + 1] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
            w[4 * i + 2 * j] = __builtin_shufflevector(u[4 * i + j], u[4 * i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            w[4 * i + 2 * j + 1] =
                __builtin_shufflevector(u[4 * i + j], u[4 * i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int i = 0; i < 4; ++i) {
        tir__u32x8 lo = __builtin_shufflevector(w[i], w[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        tir__u32x8 hi = __builtin_shufflevector(w[i], w[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(dst + i * dn, &lo, sizeof lo);
        memcpy(dst + (i + 4) * dn, &hi, sizeof hi);
    }
}
#endif

/* The elements are moved as unsigned integers of their size, through types that may alias the callers' arrays
 * (a tile of doubles is written as uint64_t, then read as double): without may_alias, strict aliasing lets
 * -O3 read an inlined tile before writing it. */
typedef uint8_t __attribute__((may_alias)) tir__alias_1;
typedef uint16_t __attribute__((may_alias)) tir__alias_2;
typedef uint32_t __attribute__((may_alias)) tir__alias_4;
typedef uint64_t __attribute__((may_alias)) tir__alias_8;
#define TIR__TRANSPOSE(N)                                                                                    \
    static void tir__transpose_##N(tir__alias_##N* d, int64_t da, const tir__alias_##N* s, int64_t sb,       \
                                   int64_t ea, int64_t eb) {                                                 \
        for (int64_t b = 0; b < eb; ++b)                                                                     \
            for (int64_t a = 0; a < ea; ++a) d[a * da + b] = s[b * sb + a];                                  \
    }
TIR__TRANSPOSE(1)
TIR__TRANSPOSE(2)
TIR__TRANSPOSE(4)
TIR__TRANSPOSE(8)
#undef TIR__TRANSPOSE

__attribute__((unused)) static void tir_transpose(void* dst, int64_t da, const void* src, int64_t sb, int64_t ea,
                                                  int64_t eb, size_t itemsize) {
    switch (itemsize) {
    case 1: tir__transpose_1((tir__alias_1*)dst, da, (const tir__alias_1*)src, sb, ea, eb); return;
    case 2: tir__transpose_2((tir__alias_2*)dst, da, (const tir__alias_2*)src, sb, ea, eb); return;
    case 8: tir__transpose_8((tir__alias_8*)dst, da, (const tir__alias_8*)src, sb, ea, eb); return;
    case 4: {
        tir__alias_4* d = (tir__alias_4*)dst;
        const tir__alias_4* s = (const tir__alias_4*)src;
        int64_t ea8 = 0, eb8 = 0;
#ifdef TIR__TRANSPOSE_8X8
        ea8 = ea / 8 * 8;
        eb8 = eb / 8 * 8;
        for (int64_t b = 0; b < eb8; b += 8)
            for (int64_t a = 0; a < ea8; a += 8) tir__transpose_8x8(d + a * da + b, da, s + b * sb + a, sb);
#endif
        tir__transpose_4(d + ea8 * da, da, s + ea8, sb, ea - ea8, eb); /* the rows the blocks left */
        tir__transpose_4(d + eb8, da, s + eb8 * sb, sb, ea8, eb - eb8);  /* and the columns */
        return;
    }
    default:
        for (int64_t b = 0; b < eb; ++b)
            for (int64_t a = 0; a < ea; ++a)
                memcpy((char*)dst + (a * da + b) * (int64_t)itemsize,
                       (const char*)src + (b * sb + a) * (int64_t)itemsize, itemsize);
    }
}

/* ---- mem.copy: a strided N-d copy of any element size (host code; needs tir_runtime.h) ----
 * tir_copy(ctx, dst, src, rank, shape, dst_strides, src_strides, itemsize), strides in elements (negative
 * and zero ones too). The dims are put in the destination's order (largest stride first), size-1 dims
 * dropped and dims contiguous in both buffers merged; the innermost dim is then copied in runs (memcpy
 * where both sides have unit stride). When the source's unit-stride dim is another one (a transpose),
 * the copy walks 2-d tiles of those two dims, so both buffers are read and written in cache-line runs.
 * The tiles (or runs of at most TIR__COPY_RUN elements) are tasks split over ctx->nthreads threads when
 * the copy has TIR_PARALLEL_MIN elements or more. The buffers must not overlap. */
#if defined(TIR_RUNTIME_H)
#define TIR__COPY_MAX_DIMS 34 /* numpy's 32 dims (64 in numpy 2 but tensorir's ABI has 8) + 2 block dims */
#define TIR__COPY_RUN 65536   /* elements of a task when no dim is tiled */

/* One block: ea rows of eb elements; da/sa the row strides, db/sb the element strides (in elements). A tile
 * (ea > 1: a transpose; sa == 1) of 4-byte elements on an AVX machine is transposed in 8x8 register blocks,
 * reading 8 source runs at a time; else it goes through a small contiguous buffer: each of its eb source runs (up to
 * TIR__COPY_TILE_A elements) is read in one pass, then each destination row (one cache line) written in
 * one; walking both buffers at once instead would touch dozens of lines a power-of-two stride apart, which
 * share a few cache sets (a 4096-float row is 16 KB) and evict each other. Long source runs are what the
 * memory system reads fastest (measured: 256x16 float tiles beat 64x64 ones by about a third). */
typedef void (*tir__copy_block_fn)(char* dst, const char* src, int64_t ea, int64_t eb, int64_t da, int64_t sa,
                                   int64_t db, int64_t sb, size_t itemsize);

#define TIR__COPY_TILE_A 256 /* elements of a tile's source run; its destination rows are a cache line */
#ifdef TIR__TRANSPOSE_8X8 /* tiles of 4-byte elements go straight through registers (tir_transpose) */
#define TIR__TRANSPOSE_BY_BLOCKS(size) ((size) == 4)
#else
#define TIR__TRANSPOSE_BY_BLOCKS(size) 0
#endif
#define TIR__COPY_BLOCK(T, N)                                                                                \
    static void tir__copy_block_##N(char* dst, const char* src, int64_t ea, int64_t eb, int64_t da,          \
                                    int64_t sa, int64_t db, int64_t sb, size_t itemsize) {                   \
        (void)itemsize;                                                                                      \
        T* d = (T*)dst;                                                                                      \
        const T* s = (const T*)src;                                                                          \
        if (ea > 1 && TIR__TRANSPOSE_BY_BLOCKS(sizeof(T)) && sa == 1 && db == 1) {                          \
            tir_transpose(d, da, s, sb, ea, eb, sizeof(T));                                                  \
        } else if (ea > 1) {                                                                                 \
            T tmp[TIR__COPY_TILE_A * (64 / sizeof(T))];                                                      \
            for (int64_t b = 0; b < eb; ++b) {                                                               \
                T* t = tmp + b * TIR__COPY_TILE_A;                                                           \
                const T* sr = s + b * sb;                                                                    \
                if (sa == 1)                                                                                 \
                    for (int64_t a = 0; a < ea; ++a) t[a] = sr[a];                                           \
                else                                                                                         \
                    for (int64_t a = 0; a < ea; ++a) t[a] = sr[a * sa];                                      \
            }                                                                                                \
            for (int64_t a = 0; a < ea; ++a) {                                                               \
                T* dr = d + a * da;                                                                          \
                if (db == 1)                                                                                 \
                    for (int64_t b = 0; b < eb; ++b) dr[b] = tmp[b * TIR__COPY_TILE_A + a];                  \
                else                                                                                         \
                    for (int64_t b = 0; b < eb; ++b) dr[b * db] = tmp[b * TIR__COPY_TILE_A + a];             \
            }                                                                                                \
        } else if (db == 1 && sb == 1) {                                                                     \
            memcpy(d, s, (size_t)eb * sizeof(T));                                                            \
        } else {                                                                                             \
            for (int64_t b = 0; b < eb; ++b) d[b * db] = s[b * sb];                                          \
        }                                                                                                    \
    }
TIR__COPY_BLOCK(uint8_t, 1)
TIR__COPY_BLOCK(uint16_t, 2)
TIR__COPY_BLOCK(uint32_t, 4)
TIR__COPY_BLOCK(uint64_t, 8)
#undef TIR__COPY_BLOCK

static void tir__copy_block_any(char* dst, const char* src, int64_t ea, int64_t eb, int64_t da, int64_t sa,
                                int64_t db, int64_t sb, size_t itemsize) {
    int64_t w = (int64_t)itemsize;
    for (int64_t a = 0; a < ea; ++a)
        for (int64_t b = 0; b < eb; ++b) memcpy(dst + (a * da + b * db) * w, src + (a * sa + b * sb) * w, itemsize);
}

/* The copy as tasks: an odometer over `rank` dims (n, byte strides s and d); the last two are the block
 * dims, whose task index times the block size (ba, bb) starts a block of the dims (na/sa/da, nb/sb/db). */
typedef struct {
    int rank;
    int64_t n[TIR__COPY_MAX_DIMS], s[TIR__COPY_MAX_DIMS], d[TIR__COPY_MAX_DIMS];
    int64_t na, sa, da, ba, nb, sb, db, bb;
    size_t itemsize;
    tir__copy_block_fn block;
} tir__copy_plan;

static void tir__copy_tasks(const tir__copy_plan* p, char* dst, const char* src, int64_t lo, int64_t hi) {
    int64_t idx[TIR__COPY_MAX_DIMS];
    int64_t rem = lo, so = 0, dof = 0;
    int r = p->rank;
    for (int k = r - 1; k >= 0; --k) {
        idx[k] = rem % p->n[k];
        rem /= p->n[k];
        so += idx[k] * p->s[k];
        dof += idx[k] * p->d[k];
    }
    for (int64_t t = lo; t < hi; ++t) {
        int64_t ea = p->na - idx[r - 2] * p->ba, eb = p->nb - idx[r - 1] * p->bb;
        p->block(dst + dof, src + so, ea < p->ba ? ea : p->ba, eb < p->bb ? eb : p->bb, p->da, p->sa, p->db, p->sb,
                 p->itemsize);
        for (int k = r - 1; k >= 0; --k) { /* the odometer */
            so += p->s[k];
            dof += p->d[k];
            if (++idx[k] < p->n[k]) break;
            so -= p->n[k] * p->s[k];
            dof -= p->n[k] * p->d[k];
            idx[k] = 0;
        }
    }
}

__attribute__((unused)) static void tir_copy(tir_ctx* ctx, void* dst, const void* src, int rank, const int64_t* shape,
                                             const int64_t* dst_strides, const int64_t* src_strides, size_t itemsize) {
    int64_t n[TIR__COPY_MAX_DIMS], s[TIR__COPY_MAX_DIMS], d[TIR__COPY_MAX_DIMS];
    int64_t total = 1, soff = 0, doff = 0;
    int r = 0;
    for (int k = 0; k < rank; ++k) {
        if (shape[k] == 0) return;
        if (shape[k] == 1) continue;
        int64_t sk = src_strides[k], dk = dst_strides[k];
        if (dk < 0) { /* walk the destination forwards (the order of a copy is free) */
            soff += (shape[k] - 1) * sk;
            doff += (shape[k] - 1) * dk;
            sk = -sk;
            dk = -dk;
        }
        int j = r++; /* insertion by destination stride, largest first (stable) */
        for (; j > 0 && d[j - 1] < dk; --j) {
            n[j] = n[j - 1];
            s[j] = s[j - 1];
            d[j] = d[j - 1];
        }
        n[j] = shape[k];
        s[j] = sk;
        d[j] = dk;
        total *= shape[k];
    }
    int m = 0; /* merge dims contiguous in both buffers */
    for (int k = 0; k < r; ++k) {
        if (m > 0 && s[m - 1] == s[k] * n[k] && d[m - 1] == d[k] * n[k]) {
            n[m - 1] *= n[k];
            s[m - 1] = s[k];
            d[m - 1] = d[k];
            continue;
        }
        n[m] = n[k];
        s[m] = s[k];
        d[m] = d[k];
        ++m;
    }
    if (m == 0) { /* one element */
        n[0] = 1;
        s[0] = d[0] = 0;
        m = 1;
    }
    /* The block dims: the innermost dim b, and a = the source's unit-stride dim when b is not it (tiles). */
    int b = m - 1, a = -1;
    if (llabs(s[b]) != 1)
        for (int k = b - 1; k >= 0; --k)
            if (llabs(s[k]) == 1) {
                a = k;
                break;
            }
    if (a >= 0 && s[a] < 0) { /* the tile reads its source rows forwards */
        soff += (n[a] - 1) * s[a];
        doff += (n[a] - 1) * d[a];
        s[a] = -s[a];
        d[a] = -d[a];
    }
    int64_t w = (int64_t)itemsize;
    tir__copy_plan p;
    p.itemsize = itemsize;
    p.block = itemsize == 1 ? tir__copy_block_1 : itemsize == 2 ? tir__copy_block_2 : itemsize == 4 ? tir__copy_block_4
              : itemsize == 8 ? tir__copy_block_8 : tir__copy_block_any;
    p.rank = 0;
    for (int k = 0; k < m; ++k)
        if (k != a && k != b) {
            p.n[p.rank] = n[k];
            p.s[p.rank] = s[k] * w;
            p.d[p.rank] = d[k] * w;
            ++p.rank;
        }
    p.na = a >= 0 ? n[a] : 1;
    p.sa = a >= 0 ? s[a] : 0;
    p.da = a >= 0 ? d[a] : 0;
    p.ba = a >= 0 ? TIR__COPY_TILE_A : 1;
    p.nb = n[b];
    p.sb = s[b];
    p.db = d[b];
    p.bb = a < 0 ? TIR__COPY_RUN : w < 64 ? 64 / w : 1; /* a tile's destination rows: a cache line */
    int64_t blocks[2] = {(p.na + p.ba - 1) / p.ba, (p.nb + p.bb - 1) / p.bb};
    int64_t tasks = 1;
    for (int k = 0; k < 2; ++k) {
        p.n[p.rank] = blocks[k];
        p.s[p.rank] = (k ? p.sb * p.bb : p.sa * p.ba) * w;
        p.d[p.rank] = (k ? p.db * p.bb : p.da * p.ba) * w;
        ++p.rank;
    }
    for (int k = 0; k < p.rank; ++k) tasks *= p.n[k];
    char* out = (char*)dst + doff * w;
    const char* in = (const char*)src + soff * w;
#ifdef _OPENMP
    if (total >= TIR_PARALLEL_MIN && ctx->nthreads > 1 && tasks > 1) {
        /* Chunks of tasks handed out as threads get free: a thread that loses its core to another process
         * (a shared machine) then delays the copy by one chunk, not by its whole half. */
        int64_t chunks = tasks < 16 * (int64_t)ctx->nthreads ? tasks : 16 * (int64_t)ctx->nthreads;
#pragma omp parallel for num_threads(ctx->nthreads) schedule(dynamic, 1)
        for (int64_t c = 0; c < chunks; ++c) tir__copy_tasks(&p, out, in, tasks * c / chunks, tasks * (c + 1) / chunks);
        return;
    }
#endif
    (void)ctx;
    tir__copy_tasks(&p, out, in, 0, tasks);
}
#endif /* TIR_RUNTIME_H */
#endif /* TIR_USE_COPY */

/* ---- BLAS calls of lib.gemm / gemv / gemm_batch on buffers of any strides (host code; needs tir_runtime.h) ----
 * A buffer BLAS cannot take as is (tir_blas_layout) is copied to a contiguous temporary; an output that
 * is not row-major with unit column stride is computed in a temporary and copied back. With beta == 0
 * BLAS ignores the output's old contents (NaN included); with an empty inner dim C = beta * C here.
 * `where` starts every message (the op's location and name). */
/* ------------------------------------------------------------------------ */
/* sort / argsort along one axis (lib.sort)                                 */
/* ------------------------------------------------------------------------ */
/* tir_sort_<N>(ctx, where, X, O, axis, indices): each row of X along `axis` sorted into O (values, or with
 * `indices` the int64 positions), any strides, O not overlapping X. Each row is copied into a contiguous
 * (value, position) scratch and merge-sorted bottom-up: stable (equal values keep their order, as numpy's
 * kind="stable"), O(n log n), nan last (a nan is greater than everything; nans keep their order). Rows are
 * split over ctx->nthreads threads (each with its own scratch) when there are TIR_PARALLEL_MIN elements. */
#if defined(TIR_RUNTIME_H)
#define TIR__SORT(T, N)                                                                                      \
    static void tir__sort_rows_##N(const tir_buf* X, const tir_buf* O, int axis, int indices, int64_t r0,    \
                                   int64_t r1, char* scratch) {                                              \
        const int64_t n = X->shape[axis], xs = X->strides[axis], os = O->strides[axis];                      \
        int64_t *at = (int64_t*)scratch, *at2 = at + n;                                                      \
        T *v = (T*)(at2 + n), *v2 = v + n;                                                                   \
        for (int64_t r = r0; r < r1; ++r) {                                                                  \
            int64_t rest = r, xo = 0, oo = 0; /* the row's offsets: r over the other dims, the last fastest */ \
            for (int d = X->ndim - 1; d >= 0; --d) {                                                         \
                if (d == axis) continue;                                                                     \
                int64_t p = rest % X->shape[d];                                                              \
                rest /= X->shape[d];                                                                         \
                xo += p * X->strides[d];                                                                     \
                oo += p * O->strides[d];                                                                     \
            }                                                                                                \
            const T* x = (const T*)X->data + xo;                                                             \
            for (int64_t i = 0; i < n; ++i) {                                                                \
                v[i] = x[i * xs];                                                                            \
                at[i] = i;                                                                                   \
            }                                                                                                \
            for (int64_t w = 1; w < n; w *= 2) {                                                             \
                for (int64_t lo = 0; lo < n; lo += 2 * w) {                                                  \
                    int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;             \
                    int64_t i = lo, j = mid, k = lo;                                                         \
                    while (i < mid && j < hi) {                                                              \
                        /* the right run's element goes first only if strictly less (stability) */         \
                        T a = v[j], b = v[i];                                                                \
                        int right = a < b || (b != b && a == a);                                             \
                        v2[k] = right ? a : b;                                                               \
                        at2[k++] = right ? at[j++] : at[i++];                                                \
                    }                                                                                        \
                    for (; i < mid; ++i, ++k) v2[k] = v[i], at2[k] = at[i];                                  \
                    for (; j < hi; ++j, ++k) v2[k] = v[j], at2[k] = at[j];                                   \
                }                                                                                            \
                T* tv = v;                                                                                   \
                v = v2;                                                                                      \
                v2 = tv;                                                                                     \
                int64_t* ta = at;                                                                            \
                at = at2;                                                                                    \
                at2 = ta;                                                                                    \
            }                                                                                                \
            if (indices)                                                                                     \
                for (int64_t k = 0; k < n; ++k) ((int64_t*)O->data)[oo + k * os] = at[k];                   \
            else                                                                                             \
                for (int64_t k = 0; k < n; ++k) ((T*)O->data)[oo + k * os] = v[k];                          \
        }                                                                                                    \
    }                                                                                                        \
    __attribute__((unused)) static int tir_sort_##N(tir_ctx* ctx, const char* where, const tir_buf* X,       \
                                                    const tir_buf* O, int axis, int indices) {               \
        int64_t n = X->shape[axis], rows = 1;                                                                \
        for (int d = 0; d < X->ndim; ++d) {                                                                  \
            if (X->shape[d] != O->shape[d])                                                                  \
                return tir_fail(ctx, "%s output size %lld differs from the input's %lld in dim %d", where,   \
                                (long long)O->shape[d], (long long)X->shape[d], d);                          \
            if (d != axis) rows *= X->shape[d];                                                              \
        }                                                                                                    \
        if (n == 0 || rows == 0) return 0;                                                                   \
        int nt = ctx->nthreads > 1 && rows > 1 && rows * n >= TIR_PARALLEL_MIN                               \
                     ? (rows < ctx->nthreads ? (int)rows : ctx->nthreads) : 1;                               \
        size_t per = (2 * (size_t)n * (sizeof(int64_t) + sizeof(T)) + 63) / 64 * 64; /* one thread's scratch */ \
        char* scratch = (char*)tir_alloc(ctx, (size_t)nt * per);                                             \
        if (!scratch) return -1;                                                                             \
        _Pragma("omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)")                          \
        for (int t = 0; t < nt; ++t)                                                                         \
            tir__sort_rows_##N(X, O, axis, indices, rows * t / nt, rows * (t + 1) / nt, scratch + t * per);  \
        tir_free(ctx, scratch);                                                                              \
        return 0;                                                                                            \
    }
TIR__SORT(uint8_t, i1)
TIR__SORT(int8_t, i8)
TIR__SORT(int16_t, i16)
TIR__SORT(int32_t, i32)
TIR__SORT(int64_t, i64)
TIR__SORT(uint8_t, ui8)
TIR__SORT(uint16_t, ui16)
TIR__SORT(uint32_t, ui32)
TIR__SORT(uint64_t, ui64)
TIR__SORT(float, f32)
TIR__SORT(double, f64)
#undef TIR__SORT
#endif /* TIR_RUNTIME_H */

#if defined(TIR_RUNTIME_H) && defined(TIR_USE_BLAS)
/* The matrix of the last two dims of x (data: the first batch element's). */
static inline tir_buf tir__matrix(const tir_buf* x) {
    int r = x->ndim - 2;
    tir_buf m = {x->data, 2, {x->shape[r], x->shape[r + 1]}, {x->strides[r], x->strides[r + 1]}};
    return m;
}

/* Whether the rows of x's matrices continue across its first nb (batch) dims, as in a C-order stack:
 * then the batch is one matrix of (batch size x rows) rows with x's row stride. */
static inline int tir__rows_continue(const tir_buf* x, int nb) {
    for (int d = 0; d < nb; ++d)
        if (x->strides[d] != x->shape[d + 1] * x->strides[d + 1]) return 0;
    return 1;
}

/* lib.gemm_batch: C[i] = alpha A[i] B[i] + beta C[i] over the batch dims (all but the last two; stride 0 where
 * an operand is broadcast).  One B for all (stride 0 along every batch dim) and rows of A and C that continue
 * across the batch: one tir_gemm of all the rows.  Else, with at least as many products as threads and
 * layouts BLAS takes as they are, one cblas_?gemm_batch call, which runs whole products on the threads
 * (small products stay cheap: no threaded call per product); else a loop of tir_gemm (each product threaded
 * by OpenBLAS, copies where a layout needs them). */
#define TIR__GEMM_BATCH(T, N, GEMM_BATCH)                                                                   \
    __attribute__((unused)) static int tir_gemm_batch_##N(tir_ctx* ctx, const char* where, const tir_buf* A, \
                                                          const tir_buf* B, const tir_buf* C, T alpha, T beta) { \
        int nb = C->ndim - 2;                                                                                \
        int64_t count = 1;                                                                                   \
        for (int d = 0; d < nb; ++d) {                                                                       \
            if (A->shape[d] != C->shape[d] || B->shape[d] != C->shape[d])                                    \
                return tir_fail(ctx, "%s batch dimension %d has sizes %lld (A), %lld (B) and %lld (C) at run time", \
                                where, d, (long long)A->shape[d], (long long)B->shape[d], (long long)C->shape[d]); \
            count *= C->shape[d];                                                                            \
        }                                                                                                    \
        tir_buf a = tir__matrix(A), b = tir__matrix(B), c = tir__matrix(C);                                  \
        int64_t m = c.shape[0], n = c.shape[1], k = a.shape[1];                                              \
        if (a.shape[0] != m || b.shape[0] != k || b.shape[1] != n)                                           \
            return tir_fail(ctx, "%s A (%lld,%lld) @ B (%lld,%lld) does not fit C (%lld,%lld) at run time", where, \
                            (long long)a.shape[0], (long long)k, (long long)b.shape[0], (long long)b.shape[1],  \
                            (long long)m, (long long)n);                                                     \
        int one_b = 1;                                                                                       \
        for (int d = 0; d < nb; ++d) one_b &= B->strides[d] == 0;                                           \
        if (count > 1 && one_b && tir__rows_continue(A, nb) && tir__rows_continue(C, nb)) {                  \
            a.shape[0] = c.shape[0] = count * m;                                                             \
            return tir_gemm_##N(ctx, where, &a, &b, &c, 0, 0, alpha, beta);                                  \
        }                                                                                                    \
        int la = 0, lb = 0, lc = 0;                                                                          \
        int64_t lda = 0, ldb = 0, ldc = 0;                                                                   \
        int batched = count > 1 && count >= ctx->nthreads && count <= TIR_BLASINT_MAX && m > 0 && n > 0 &&  \
                      k > 0 && tir_blas_layout(&a, &la, &lda) && tir_blas_layout(&b, &lb, &ldb) &&            \
                      tir_blas_layout(&c, &lc, &ldc) && lc == 0;                                             \
        const T** ptrs = NULL; /* count A pointers, count B pointers, count C pointers */                    \
        if (batched && !(ptrs = (const T**)tir_alloc(ctx, 3 * (size_t)count * sizeof(T*)))) return -1;      \
        int64_t idx[TIR_MAX_DIMS] = {0}, oa = 0, ob = 0, oc = 0; /* the batch index and its offsets */       \
        for (int64_t i = 0; i < count; ++i) {                                                                \
            if (ptrs) {                                                                                      \
                ptrs[i] = (const T*)A->data + oa;                                                            \
                ptrs[count + i] = (const T*)B->data + ob;                                                    \
                ptrs[2 * count + i] = (const T*)C->data + oc;                                                \
            } else {                                                                                         \
                a.data = (char*)((const T*)A->data + oa);                                                    \
                b.data = (char*)((const T*)B->data + ob);                                                    \
                c.data = (char*)((T*)C->data + oc);                                                          \
                if (tir_gemm_##N(ctx, where, &a, &b, &c, 0, 0, alpha, beta)) return -1;                      \
            }                                                                                                \
            for (int d = nb - 1; d >= 0; --d) {                                                              \
                oa += A->strides[d], ob += B->strides[d], oc += C->strides[d];                               \
                if (++idx[d] < C->shape[d]) break;                                                           \
                oa -= A->strides[d] * idx[d], ob -= B->strides[d] * idx[d], oc -= C->strides[d] * idx[d];    \
                idx[d] = 0;                                                                                  \
            }                                                                                                \
        }                                                                                                    \
        if (ptrs) {                                                                                          \
            enum CBLAS_TRANSPOSE ta = la ? CblasTrans : CblasNoTrans, tb = lb ? CblasTrans : CblasNoTrans;   \
            blasint bm = (blasint)m, bn = (blasint)n, bk = (blasint)k, blda = (blasint)lda, bldb = (blasint)ldb, \
                    bldc = (blasint)ldc, size = (blasint)count;                                              \
            T zero = 0;                                                                                      \
            GEMM_BATCH(CblasRowMajor, &ta, &tb, &bm, &bn, &bk, &alpha, ptrs, &blda, ptrs + count, &bldb,     \
                       beta == 0 ? &zero : &beta, (T**)(ptrs + 2 * count), &bldc, 1, &size);                \
            tir_free(ctx, (void*)ptrs);                                                                      \
        }                                                                                                    \
        return 0;                                                                                            \
    }

#define TIR__BLAS_OPS(T, N, GEMM, GEMV)                                                                     \
    __attribute__((unused)) static int tir_gemm_##N(tir_ctx* ctx, const char* where, const tir_buf* A,       \
                                                    const tir_buf* B, const tir_buf* C, int ta, int tb,      \
                                                    T alpha, T beta) {                                       \
        int64_t m = C->shape[0], n = C->shape[1];                                                            \
        int64_t am = ta ? A->shape[1] : A->shape[0], ak = ta ? A->shape[0] : A->shape[1];                   \
        int64_t bk = tb ? B->shape[1] : B->shape[0], bn = tb ? B->shape[0] : B->shape[1];                   \
        if (am != m || bn != n || ak != bk)                                                                  \
            return tir_fail(ctx, "%s op(A) (%lld,%lld) @ op(B) (%lld,%lld) does not fit C (%lld,%lld) at run time", \
                            where, (long long)am, (long long)ak, (long long)bk, (long long)bn, (long long)m,  \
                            (long long)n);                                                                   \
        if (m > TIR_BLASINT_MAX || n > TIR_BLASINT_MAX || ak > TIR_BLASINT_MAX)                             \
            return tir_fail(ctx, "%s matrix too large for 32-bit BLAS", where);                              \
        if (m == 0 || n == 0) return 0;                                                                      \
        tir_buf tc;                                                                                          \
        const tir_buf* cw = C;                                                                               \
        int ct = 0;                                                                                          \
        int64_t ldc = 0;                                                                                     \
        if (!(tir_blas_layout(C, &ct, &ldc) && ct == 0)) {                                                   \
            if (tir_contiguous(ctx, C, sizeof(T), &tc)) return -1;                                           \
            cw = &tc;                                                                                        \
            ldc = n;                                                                                         \
        }                                                                                                    \
        T* c = (T*)cw->data;                                                                                 \
        if (ak == 0) /* no BLAS call: C = beta * C (0 when beta == 0, whatever C held) */                 \
            for (int64_t i = 0; i < m; ++i)                                                                  \
                for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0 ? (T)0 : beta * c[i * ldc + j];   \
        if (ak > 0) {                                                                                        \
            tir_buf tA, tB;                                                                                  \
            const tir_buf *aw = A, *bw = B;                                                                  \
            int la = 0, lb = 0;                                                                              \
            int64_t lda = 0, ldb = 0;                                                                        \
            if (!tir_blas_layout(A, &la, &lda)) {                                                            \
                if (tir_contiguous(ctx, A, sizeof(T), &tA)) return -1;                                       \
                aw = &tA;                                                                                    \
                la = 0;                                                                                      \
                lda = A->shape[1] > 1 ? A->shape[1] : 1;                                                     \
            }                                                                                                \
            if (!tir_blas_layout(B, &lb, &ldb)) {                                                            \
                if (tir_contiguous(ctx, B, sizeof(T), &tB)) return -1;                                       \
                bw = &tB;                                                                                    \
                lb = 0;                                                                                      \
                ldb = B->shape[1] > 1 ? B->shape[1] : 1;                                                     \
            }                                                                                                \
            GEMM(CblasRowMajor, (ta ^ la) ? CblasTrans : CblasNoTrans, (tb ^ lb) ? CblasTrans : CblasNoTrans, \
                 (blasint)m, (blasint)n, (blasint)ak, alpha, (const T*)aw->data, (blasint)lda,               \
                 (const T*)bw->data, (blasint)ldb, beta == 0 ? (T)0 : beta, c, (blasint)ldc);                \
        }                                                                                                    \
        if (cw != C) {                                                                                       \
            T* out = (T*)C->data;                                                                            \
            for (int64_t i = 0; i < m; ++i)                                                                  \
                for (int64_t j = 0; j < n; ++j) out[i * C->strides[0] + j * C->strides[1]] = c[i * ldc + j]; \
            tir_free(ctx, tc.data);                                                                          \
        }                                                                                                    \
        return 0;                                                                                            \
    }                                                                                                        \
    __attribute__((unused)) static int tir_gemv_##N(tir_ctx* ctx, const char* where, const tir_buf* A,       \
                                                    const tir_buf* X, const tir_buf* Y, int ta, T alpha,     \
                                                    T beta) {                                                \
        int64_t m = ta ? A->shape[1] : A->shape[0], k = ta ? A->shape[0] : A->shape[1];                     \
        int64_t nx = X->shape[0], ny = Y->shape[0];                                                          \
        if (k != nx || m != ny)                                                                              \
            return tir_fail(ctx, "%s op(A) (%lld,%lld) @ x (%lld,) does not fit y (%lld,) at run time", where, \
                            (long long)m, (long long)k, (long long)nx, (long long)ny);                       \
        if (m > TIR_BLASINT_MAX || k > TIR_BLASINT_MAX)                                                      \
            return tir_fail(ctx, "%s matrix too large for 32-bit BLAS", where);                              \
        if (m == 0) return 0;                                                                                \
        int64_t sy = m > 1 ? Y->strides[0] : 1;                                                              \
        T* y = (T*)Y->data;                                                                                  \
        T* yw = y;                                                                                           \
        /* With beta != 0 the product goes to a temporary, then y = product + beta y: OpenBLAS's gemv adds  \
         * the partial sums of row blocks into y one by one, each rounded at y's magnitude (an SGD update   \
         * w - lr X^T g: several times the error of the product added once). */                             \
        int apart = beta != 0 && k > 0;                                                                      \
        if (sy != 1 || apart) {                                                                              \
            yw = (T*)tir_alloc(ctx, (size_t)m * sizeof(T));                                                  \
            if (!yw) return -1;                                                                              \
            if (!apart)                                                                                      \
                for (int64_t i = 0; i < m; ++i) yw[i] = y[i * sy];                                           \
        }                                                                                                    \
        for (int64_t i = 0; i < m; ++i) yw[i] = beta == 0 || apart ? (T)0 : beta * yw[i];                    \
        if (k > 0) {                                                                                         \
            tir_buf tA, tX;                                                                                  \
            const tir_buf *aw = A, *xw = X;                                                                  \
            int la = 0;                                                                                      \
            int64_t lda = 0;                                                                                 \
            if (!tir_blas_layout(A, &la, &lda)) {                                                            \
                if (tir_contiguous(ctx, A, sizeof(T), &tA)) return -1;                                       \
                aw = &tA;                                                                                    \
                la = 0;                                                                                      \
                lda = A->shape[1] > 1 ? A->shape[1] : 1;                                                     \
            }                                                                                                \
            if (k > 1 && X->strides[0] != 1) {                                                               \
                if (tir_contiguous(ctx, X, sizeof(T), &tX)) return -1;                                       \
                xw = &tX;                                                                                    \
            }                                                                                                \
            GEMV(CblasRowMajor, (ta ^ la) ? CblasTrans : CblasNoTrans, (blasint)A->shape[la ? 1 : 0],        \
                 (blasint)A->shape[la ? 0 : 1], alpha, (const T*)aw->data, (blasint)lda, (const T*)xw->data, 1, \
                 (T)0, yw, 1);                                                                               \
        }                                                                                                    \
        if (yw != y) {                                                                                       \
            for (int64_t i = 0; i < m; ++i) y[i * sy] = apart ? yw[i] + beta * y[i * sy] : yw[i];            \
            tir_free(ctx, yw);                                                                               \
        }                                                                                                    \
        return 0;                                                                                            \
    }

TIR__BLAS_OPS(float, f32, tir_sgemm, tir_sgemv)
TIR__BLAS_OPS(double, f64, tir_dgemm, tir_dgemv)
TIR__GEMM_BATCH(float, f32, tir_sgemm_batch)
TIR__GEMM_BATCH(double, f64, tir_dgemm_batch)
#undef TIR__BLAS_OPS
#undef TIR__GEMM_BATCH
#endif /* TIR_RUNTIME_H && TIR_USE_BLAS */

#undef TIR__SIGNED_INT_OPS
#undef TIR__UNSIGNED_INT_OPS
#undef TIR__FLOAT_OPS

#include "tir_random.h" /* random.philox: the Philox-4x32-10 generator */

#endif /* TIR_OPS_H */
