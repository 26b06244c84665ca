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
 *
 * Signed integer add/sub/mul/neg wrap around as in numpy: the renderer computes them in the unsigned
 * type of the same width (no -fwrapv needed), so they never reach this file.
 */
#ifndef TIR_OPS_H
#define TIR_OPS_H

#include <math.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define TIR_OPS_INLINE static inline __attribute__((always_inline, unused))
#else
#define TIR_OPS_INLINE static inline
#endif

/* ---- integer floor division / remainder / power (T: type, U: unsigned type, N: name suffix) ---- */
#define TIR__SIGNED_INT_OPS(T, U, N, TMIN)                                                                   \
    TIR_OPS_INLINE T tir_floordiv_##N(T a, T b) {                                                           \
        if (b == 0) return 0;                                                                                \
        if (b == -1) return (T)(0 - (U)a); /* MIN // -1 wraps, as numpy */                                   \
        T q = (T)(a / b);                                                                                    \
        return (T)(((a % b) != 0 && ((a < 0) != (b < 0))) ? q - 1 : q);                                      \
    }                                                                                                        \
    TIR_OPS_INLINE T tir_mod_##N(T a, T b) {                                                                \
        if (b == 0 || b == -1) return 0;                                                                     \
        T r = (T)(a % b);                                                                                    \
        return (T)((r != 0 && ((r < 0) != (b < 0))) ? r + b : r);                                            \
    }                                                                                                        \
    TIR_OPS_INLINE T tir_pow_##N(T a, T b) {                                                                \
        if (b < 0) return (T)(a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0);                                \
        U r = 1, x = (U)a;                                                                                   \
        for (T e = b; e; e >>= 1) {                                                                          \
            if (e & 1) r *= x;                                                                               \
            x *= x;                                                                                          \
        }                                                                                                    \
        return (T)r;                                                                                         \
    }

#define TIR__UNSIGNED_INT_OPS(T, N)                                                                          \
    TIR_OPS_INLINE T tir_floordiv_##N(T a, T b) { return (T)(b == 0 ? 0 : a / b); }                         \
    TIR_OPS_INLINE T tir_mod_##N(T a, T b) { return (T)(b == 0 ? 0 : a % b); }                              \
    TIR_OPS_INLINE T tir_pow_##N(T a, T b) {                                                                \
        uint64_t r = 1, x = a;                                                                               \
        for (T e = b; e; e >>= 1) {                                                                          \
            if (e & 1) r *= x;                                                                               \
            x *= x;                                                                                          \
        }                                                                                                    \
        return (T)r;                                                                                         \
    }

TIR__SIGNED_INT_OPS(int8_t, uint32_t, i8, INT8_MIN)
TIR__SIGNED_INT_OPS(int16_t, uint32_t, i16, INT16_MIN)
TIR__SIGNED_INT_OPS(int32_t, uint32_t, i32, INT32_MIN)
TIR__SIGNED_INT_OPS(int64_t, uint64_t, i64, INT64_MIN)
TIR__UNSIGNED_INT_OPS(uint8_t, ui8)
TIR__UNSIGNED_INT_OPS(uint16_t, ui16)
TIR__UNSIGNED_INT_OPS(uint32_t, ui32)
TIR__UNSIGNED_INT_OPS(uint64_t, ui64)

/* ---- float helpers (F: float type, N: suffix f32/f64, FL/CP/FM/AB: floor, copysign, fmod, fabs) ---- */
#define TIR__FLOAT_OPS(F, N, FL, CP, FM, AB)                                                                \
    /* np.maximum / np.minimum: NaN in either operand wins; on ties the second operand (as numpy). */      \
    TIR_OPS_INLINE F tir_max_##N(F a, F b) { return (a > b || a != a) ? a : b; }                            \
    TIR_OPS_INLINE F tir_min_##N(F a, F b) { return (a < b || a != a) ? a : b; }                            \
    TIR_OPS_INLINE F tir_sign_##N(F x) { return x > 0 ? (F)1 : x < 0 ? (F)-1 : x == 0 ? (F)0 : x; }         \
    /* numpy's npy_divmod: the remainder takes the divisor's sign; floor of the exact quotient. */        \
    TIR_OPS_INLINE F tir_floordiv_##N(F a, F b) {                                                           \
        if (b == 0) return a / b;                                                                            \
        F mod = FM(a, b);                                                                                    \
        F div = (a - mod) / b;                                                                               \
        if (mod != 0 && ((b < 0) != (mod < 0))) div -= (F)1;                                                 \
        if (div != 0) {                                                                                      \
            F fl = FL(div);                                                                                  \
            return div - fl > (F)0.5 ? fl + (F)1 : fl;                                                       \
        }                                                                                                    \
        return CP((F)0, a / b);                                                                              \
    }                                                                                                        \
    TIR_OPS_INLINE F tir_mod_##N(F a, F b) {                                                                \
        F mod = FM(a, b);                                                                                    \
        if (b == 0) return mod;                                                                              \
        if (mod != 0) return ((b < 0) != (mod < 0)) ? mod + b : mod;                                         \
        return CP((F)0, b);                                                                                  \
    }                                                                                                        \
    /* Blocked float sums (backends/cstyle.py render_for): *sum + *comp tracks the exact sum of the block   \
     * sums added (Neumaier); the finish drops a compensation that inf/NaN made NaN (the sum says it). */   \
    TIR_OPS_INLINE void tir_sum_step_##N(F* sum, F* comp, F x) {                                            \
        F t = *sum + x;                                                                                      \
        *comp += (AB(*sum) >= AB(x)) ? (*sum - t) + x : (x - t) + *sum;                                      \
        *sum = t;                                                                                            \
    }                                                                                                        \
    TIR_OPS_INLINE F tir_sum_finish_##N(F sum, F comp) { return comp - comp == 0 ? sum + comp : sum; }

TIR__FLOAT_OPS(float, f32, floorf, copysignf, fmodf, fabsf)
TIR__FLOAT_OPS(double, f64, floor, copysign, fmod, fabs)


/* ---- BLAS calls of lib.gemm / gemv / gemm_batch on buffers of any strides (host code; needs tir_runtime.h) ----
 * A buffer BLAS cannot take as is (tir_blas_layout) is copied to a contiguous temporary; an output that
 * is not row-major with unit column stride is computed in a temporary and copied back. With beta == 0
 * BLAS ignores the output's old contents (NaN included); with an empty inner dim C = beta * C here.
 * `where` starts every message (the op's location and name). */
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
        if (sy != 1) {                                                                                       \
            yw = (T*)tir_alloc(ctx, (size_t)m * sizeof(T));                                                  \
            if (!yw) return -1;                                                                              \
            for (int64_t i = 0; i < m; ++i) yw[i] = y[i * sy];                                               \
        }                                                                                                    \
        for (int64_t i = 0; i < m; ++i) yw[i] = beta == 0 ? (T)0 : (k == 0 ? beta * yw[i] : yw[i]);          \
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
                 beta == 0 ? (T)0 : beta, yw, 1);                                                            \
        }                                                                                                    \
        if (yw != y) {                                                                                       \
            for (int64_t i = 0; i < m; ++i) y[i * sy] = yw[i];                                               \
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

#endif /* TIR_OPS_H */
