/* tir_linalg.h: the LAPACK calls of the lib dialect's linear algebra ops (dialects/lib.py LapackOp, from the
 * tensor ops of dialects/linalg.py) on buffers of any strides, host code.
 *
 *   #define TIR_USE_BLAS 1
 *   #include "tir_runtime.h"
 *   #include "tir_linalg.h"
 *
 *   tir_solve_<N>(ctx, where, A, B, X)        X = A^-1 B (B a vector or a matrix; gesv)
 *   tir_inv_<N>(ctx, where, A, Y)             gesv of the identity, as numpy
 *   tir_det_<N>(ctx, where, A, D)             from getrf's LU (0-d D)
 *   tir_slogdet_<N>(ctx, where, A, S, L)      sign and log|det| (0 and -inf for a singular A)
 *   tir_cholesky_<N>(ctx, where, A, C)        lower C with A = C C^T from A's lower triangle (potrf)
 *   tir_eigh_<N>(ctx, where, A, W, V)         ascending eigenvalues, vectors as columns (syevd, lower triangle)
 *   tir_eigvalsh_<N>(ctx, where, A, W)        the eigenvalues only
 *   tir_qr_<N>(ctx, where, A, Q, R)           reduced QR (geqrf, orgqr)
 *   tir_svd_<N>(ctx, where, A, S)             singular values (gesdd)
 *   tir_svd_uv_<N>(ctx, where, A, U, S, VT)   and the reduced U, V^T
 *
 * <N> is f32 or f64. LAPACK overwrites its operands: each input is copied into a column-major temporary (so
 * LAPACKE, called with LAPACK_COL_MAJOR, transposes nothing), and the results are copied out into the output
 * buffers, whatever their strides. The sizes were checked before the call (mem.check: square matrices, rows
 * of B). Each returns 0, or -1 after tir_fail with `where` (the op's location and the tensor op's name) and
 * the words of dialects/linalg.py: "singular matrix", "matrix is not positive definite", "... did not
 * converge". LAPACK here has 32-bit integers (scipy-openblas32): larger matrices are refused. */
#ifndef TIR_LINALG_H
#define TIR_LINALG_H
#if defined(TIR_RUNTIME_H) && defined(TIR_USE_BLAS)
#include <lapacke.h> /* scipy-openblas32's LAPACKE: symbols carry the scipy_ prefix */
#include <math.h>

/* sizes LAPACK's 32-bit integers hold, its leading dimensions at least 1 */
static int tir__la_sizes(tir_ctx* ctx, const char* where, int64_t m, int64_t n) {
    if (m > TIR_BLASINT_MAX || n > TIR_BLASINT_MAX || m * n > TIR_BLASINT_MAX)
        return tir_fail(ctx, "%s matrix too large for 32-bit LAPACK", where);
    return 0;
}
static inline lapack_int tir__la_ld(int64_t rows) { return (lapack_int)(rows > 1 ? rows : 1); }

/* element (i, j) of a 2-d buffer; element i of a 1-d one (a column) and the element of a 0-d one */
static inline int64_t tir__la_at(const tir_buf* x, int64_t i, int64_t j) {
    return (x->ndim > 0 ? i * x->strides[0] : 0) + (x->ndim > 1 ? j * x->strides[1] : 0);
}

static int tir__la_fail(tir_ctx* ctx, const char* where, const char* routine, lapack_int info, const char* what) {
    if (info < 0) /* a wrong argument: a bug of this file */
        return tir_fail(ctx, "%s LAPACK %s: argument %d is illegal", where, routine, (int)-info);
    return tir_fail(ctx, "%s %s", where, what);
}

#define TIR__LINALG(T, N, P)                                                                                     \
    /* a rows x cols column-major copy of x (a tir_alloc block; rows * cols >= 1 elements) */                   \
    static T* tir__la_load_##N(tir_ctx* ctx, const tir_buf* x, int64_t rows, int64_t cols) {                   \
        T* p = (T*)tir_alloc(ctx, (size_t)(rows * cols > 0 ? rows * cols : 1) * sizeof(T));                    \
        if (!p) return NULL;                                                                                     \
        const T* d = (const T*)x->data;                                                                          \
        for (int64_t j = 0; j < cols; ++j)                                                                       \
            for (int64_t i = 0; i < rows; ++i) p[i + j * rows] = d[tir__la_at(x, i, j)];                         \
        return p;                                                                                                \
    }                                                                                                            \
    /* y = the column-major p (leading dimension ld); with `part` 1 its upper triangle (0 below), 2 its lower */ \
    static void tir__la_store_##N(const T* p, int64_t ld, const tir_buf* y, int part) {                        \
        int64_t rows = y->ndim > 0 ? y->shape[0] : 1, cols = y->ndim > 1 ? y->shape[1] : 1;                    \
        T* d = (T*)y->data;                                                                                      \
        for (int64_t i = 0; i < rows; ++i)                                                                       \
            for (int64_t j = 0; j < cols; ++j)                                                                   \
                d[tir__la_at(y, i, j)] = (part == 1 && i > j) || (part == 2 && i < j) ? (T)0 : p[i + j * ld];   \
    }                                                                                                            \
    /* the LU factors of the n x n A (getrf) in *lu and *piv; info > 0: a zero pivot (singular) */              \
    static int tir__la_lu_##N(tir_ctx* ctx, const char* where, const tir_buf* A, T** lu, lapack_int** piv,     \
                              lapack_int* info) {                                                                \
        int64_t n = A->shape[0];                                                                                 \
        if (tir__la_sizes(ctx, where, n, n)) return -1;                                                          \
        *lu = tir__la_load_##N(ctx, A, n, n);                                                                    \
        *piv = (lapack_int*)tir_alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof(lapack_int));                       \
        if (!*lu || !*piv) return -1;                                                                            \
        *info = n ? scipy_LAPACKE_##P##getrf(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, *lu, tir__la_ld(n), \
                                             *piv) : 0;                                                          \
        return *info < 0 ? tir__la_fail(ctx, where, #P "getrf", *info, "") : 0;                                \
    }                                                                                                            \
    __attribute__((unused)) static int tir_solve_##N(tir_ctx* ctx, const char* where, const tir_buf* A,        \
                                                     const tir_buf* B, const tir_buf* X) {                      \
        int64_t n = A->shape[0], k = B->ndim == 2 ? B->shape[1] : 1;                                            \
        if (tir__la_sizes(ctx, where, n, n) || tir__la_sizes(ctx, where, n, k)) return -1;                      \
        if (n == 0 || k == 0) return 0;                                                                          \
        T *a = tir__la_load_##N(ctx, A, n, n), *b = tir__la_load_##N(ctx, B, n, k);                             \
        lapack_int* piv = (lapack_int*)tir_alloc(ctx, (size_t)n * sizeof(lapack_int));                          \
        if (!a || !b || !piv) return -1;                                                                         \
        lapack_int info = scipy_LAPACKE_##P##gesv(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)k, a,             \
                                                  (lapack_int)n, piv, b, (lapack_int)n);                         \
        if (info) return tir__la_fail(ctx, where, #P "gesv", info, "singular matrix");                          \
        tir__la_store_##N(b, n, X, 0);                                                                           \
        return 0;                                                                                                \
    }                                                                                                            \
    /* as numpy: gesv of the identity (OpenBLAS's getri is slower) */                                        \
    __attribute__((unused)) static int tir_inv_##N(tir_ctx* ctx, const char* where, const tir_buf* A,          \
                                                   const tir_buf* Y) {                                          \
        int64_t n = A->shape[0];                                                                                 \
        if (tir__la_sizes(ctx, where, n, n)) return -1;                                                          \
        if (n == 0) return 0;                                                                                    \
        T *a = tir__la_load_##N(ctx, A, n, n), *y = (T*)tir_alloc(ctx, (size_t)(n * n) * sizeof(T));            \
        lapack_int* piv = (lapack_int*)tir_alloc(ctx, (size_t)n * sizeof(lapack_int));                          \
        if (!a || !y || !piv) return -1;                                                                         \
        for (int64_t k = 0; k < n * n; ++k) y[k] = k % (n + 1) == 0 ? (T)1 : (T)0;                               \
        lapack_int info = scipy_LAPACKE_##P##gesv(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, a,             \
                                                  (lapack_int)n, piv, y, (lapack_int)n);                         \
        if (info) return tir__la_fail(ctx, where, #P "gesv", info, "singular matrix");                          \
        tir__la_store_##N(y, n, Y, 0);                                                                           \
        return 0;                                                                                                \
    }                                                                                                            \
    __attribute__((unused)) static int tir_det_##N(tir_ctx* ctx, const char* where, const tir_buf* A,          \
                                                   const tir_buf* D) {                                          \
        T* lu;                                                                                                   \
        lapack_int *piv, info;                                                                                   \
        int64_t n = A->shape[0];                                                                                 \
        if (tir__la_lu_##N(ctx, where, A, &lu, &piv, &info)) return -1;                                          \
        T det = 1; /* a zero pivot makes it 0 */                                                                 \
        for (int64_t i = 0; i < n; ++i) det *= piv[i] != i + 1 ? -lu[i + i * n] : lu[i + i * n];                \
        *(T*)D->data = det;                                                                                      \
        return 0;                                                                                                \
    }                                                                                                            \
    __attribute__((unused)) static int tir_slogdet_##N(tir_ctx* ctx, const char* where, const tir_buf* A,      \
                                                       const tir_buf* S, const tir_buf* L) {                    \
        T* lu;                                                                                                   \
        lapack_int *piv, info;                                                                                   \
        int64_t n = A->shape[0];                                                                                 \
        if (tir__la_lu_##N(ctx, where, A, &lu, &piv, &info)) return -1;                                          \
        T sign = 1, logdet = 0;                                                                                  \
        for (int64_t i = 0; i < n && sign != 0; ++i) {                                                           \
            T u = lu[i + i * n];                                                                                 \
            if (u == 0) sign = 0, logdet = -(T)INFINITY;                                                         \
            else sign *= (u < 0) != (piv[i] != i + 1) ? -1 : 1, logdet += (T)log(fabs((double)u));              \
        }                                                                                                        \
        *(T*)S->data = sign;                                                                                     \
        *(T*)L->data = logdet;                                                                                   \
        return 0;                                                                                                \
    }                                                                                                            \
    __attribute__((unused)) static int tir_cholesky_##N(tir_ctx* ctx, const char* where, const tir_buf* A,     \
                                                        const tir_buf* C) {                                     \
        int64_t n = A->shape[0];                                                                                 \
        if (tir__la_sizes(ctx, where, n, n)) return -1;                                                          \
        if (n == 0) return 0;                                                                                    \
        T* a = tir__la_load_##N(ctx, A, n, n);                                                                   \
        if (!a) return -1;                                                                                       \
        lapack_int info = scipy_LAPACKE_##P##potrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, a, (lapack_int)n);      \
        if (info) return tir__la_fail(ctx, where, #P "potrf", info, "matrix is not positive definite");         \
        tir__la_store_##N(a, n, C, 2);                                                                           \
        return 0;                                                                                                \
    }                                                                                                            \
    /* syevd of A into W, with the vectors into V when it is given */                                         \
    static int tir__eigh_##N(tir_ctx* ctx, const char* where, const tir_buf* A, const tir_buf* W,              \
                             const tir_buf* V) {                                                                \
        int64_t n = A->shape[0];                                                                                 \
        if (tir__la_sizes(ctx, where, n, n)) return -1;                                                          \
        if (n == 0) return 0;                                                                                    \
        T *a = tir__la_load_##N(ctx, A, n, n), *w = (T*)tir_alloc(ctx, (size_t)n * sizeof(T));                  \
        if (!a || !w) return -1;                                                                                 \
        lapack_int info = scipy_LAPACKE_##P##syevd(LAPACK_COL_MAJOR, V ? 'V' : 'N', 'L', (lapack_int)n, a,       \
                                                   (lapack_int)n, w);                                            \
        if (info) return tir__la_fail(ctx, where, #P "syevd", info, "eigenvalues did not converge");            \
        tir__la_store_##N(w, n, W, 0);                                                                           \
        if (V) tir__la_store_##N(a, n, V, 0);                                                                    \
        return 0;                                                                                                \
    }                                                                                                            \
    __attribute__((unused)) static int tir_eigh_##N(tir_ctx* ctx, const char* where, const tir_buf* A,         \
                                                    const tir_buf* W, const tir_buf* V) {                       \
        return tir__eigh_##N(ctx, where, A, W, V);                                                               \
    }                                                                                                            \
    __attribute__((unused)) static int tir_eigvalsh_##N(tir_ctx* ctx, const char* where, const tir_buf* A,     \
                                                        const tir_buf* W) {                                     \
        return tir__eigh_##N(ctx, where, A, W, NULL);                                                            \
    }                                                                                                            \
    __attribute__((unused)) static int tir_qr_##N(tir_ctx* ctx, const char* where, const tir_buf* A,           \
                                                  const tir_buf* Q, const tir_buf* R) {                         \
        int64_t m = A->shape[0], n = A->shape[1], k = m < n ? m : n;                                            \
        if (tir__la_sizes(ctx, where, m, n)) return -1;                                                          \
        if (k == 0) return 0;                                                                                    \
        T *a = tir__la_load_##N(ctx, A, m, n), *tau = (T*)tir_alloc(ctx, (size_t)k * sizeof(T));                \
        if (!a || !tau) return -1;                                                                               \
        lapack_int info = scipy_LAPACKE_##P##geqrf(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, a,            \
                                                   (lapack_int)m, tau);                                          \
        if (info) return tir__la_fail(ctx, where, #P "geqrf", info, "");                                        \
        tir__la_store_##N(a, m, R, 1); /* R: the first k rows of the upper triangle */                          \
        info = scipy_LAPACKE_##P##orgqr(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)k, (lapack_int)k, a,        \
                                        (lapack_int)m, tau);                                                     \
        if (info) return tir__la_fail(ctx, where, #P "orgqr", info, "");                                        \
        tir__la_store_##N(a, m, Q, 0);                                                                           \
        return 0;                                                                                                \
    }                                                                                                            \
    /* gesdd of A into S, with U and VT (the reduced ones) when both are given */                               \
    static int tir__svd_##N(tir_ctx* ctx, const char* where, const tir_buf* A, const tir_buf* U,               \
                            const tir_buf* S, const tir_buf* VT) {                                              \
        int64_t m = A->shape[0], n = A->shape[1], k = m < n ? m : n;                                            \
        if (tir__la_sizes(ctx, where, m, n)) return -1;                                                          \
        if (k == 0) return 0;                                                                                    \
        T *a = tir__la_load_##N(ctx, A, m, n), *s = (T*)tir_alloc(ctx, (size_t)k * sizeof(T));                  \
        T *u = U ? (T*)tir_alloc(ctx, (size_t)(m * k) * sizeof(T)) : NULL;                                      \
        T *vt = U ? (T*)tir_alloc(ctx, (size_t)(k * n) * sizeof(T)) : NULL;                                     \
        if (!a || !s || (U && (!u || !vt))) return -1;                                                           \
        lapack_int info = scipy_LAPACKE_##P##gesdd(LAPACK_COL_MAJOR, U ? 'S' : 'N', (lapack_int)m, (lapack_int)n, \
                                                   a, (lapack_int)m, s, u, (lapack_int)m, vt, (lapack_int)k);    \
        if (info) return tir__la_fail(ctx, where, #P "gesdd", info, "SVD did not converge");                    \
        tir__la_store_##N(s, k, S, 0);                                                                           \
        if (U) {                                                                                                 \
            tir__la_store_##N(u, m, U, 0);                                                                       \
            tir__la_store_##N(vt, k, VT, 0);                                                                     \
        }                                                                                                        \
        return 0;                                                                                                \
    }                                                                                                            \
    __attribute__((unused)) static int tir_svd_##N(tir_ctx* ctx, const char* where, const tir_buf* A,          \
                                                   const tir_buf* S) {                                          \
        return tir__svd_##N(ctx, where, A, NULL, S, NULL);                                                       \
    }                                                                                                            \
    __attribute__((unused)) static int tir_svd_uv_##N(tir_ctx* ctx, const char* where, const tir_buf* A,       \
                                                      const tir_buf* U, const tir_buf* S, const tir_buf* VT) {  \
        return tir__svd_##N(ctx, where, A, U, S, VT);                                                            \
    }
TIR__LINALG(float, f32, s)
TIR__LINALG(double, f64, d)
#undef TIR__LINALG

#endif /* TIR_RUNTIME_H && TIR_USE_BLAS */
#endif /* TIR_LINALG_H */
