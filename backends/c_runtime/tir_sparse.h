/*
 * tir_sparse.h -- the csr kernels of the sparse dialect (dialects/sparse.py), called by the C target for
 * lib.csr_mm, lib.csr_row_ids, lib.csr_transpose and lib.csr_dense_pattern (backends/c.py).
 *
 * A csr pattern is `indices` (the column of each stored value) and `indptr` (where each row's values
 * start; rows + 1 entries), both int64; a csc matrix is the csr pattern of its transpose. Every buffer is a
 * tir_buf of any strides (in elements); outputs are fresh and written whole. Each helper first checks the
 * pattern as the reference interpreter does (indptr starts at 0, never decreases, ends at the number of
 * values; every index in range) and returns tir_fail(...) with `where` (the op and its place) otherwise.
 *
 *   tir_csr_mm_<f32|f64>(ctx, where, data, indices, indptr, B, ncols, O)  O = csr x dense B (ncols rows):
 *       rows split over ctx->nthreads threads, each row's values accumulated into its row of O
 *   tir_csr_row_ids(ctx, where, indices, indptr, O)              O[p] = the row of stored value p
 *   tir_csr_transpose(ctx, where, indices, indptr, ncols, perm, TI, TP)
 *       the pattern (TI, TP) of the transpose (a counting sort) and the position in data of each of its values
 *   tir_csr_dense_pattern_<f32|f64>(ctx, where, X, nnz, I, P)    the pattern of X's nnz nonzeros, row by row
 */
#ifndef TIR_SPARSE_H
#define TIR_SPARSE_H

#include <stdint.h>

#define TIR__I64(B, k) (((int64_t*)(B)->data)[(k) * (B)->strides[0]])

static int tir__csr_check(tir_ctx* ctx, const char* where, const tir_buf* Ind, const tir_buf* Ptr, int64_t nnz,
                          int64_t minor) {
    int64_t n = Ptr->shape[0];
    if (Ind->shape[0] != nnz || n < 1 || TIR__I64(Ptr, 0) != 0 || TIR__I64(Ptr, n - 1) != nnz)
        return tir_fail(ctx, "%s indptr does not describe %lld stored values (it must start at 0, never decrease "
                        "and end at the number of indices and values)", where, (long long)nnz);
    for (int64_t i = 1; i < n; ++i)
        if (TIR__I64(Ptr, i) < TIR__I64(Ptr, i - 1))
            return tir_fail(ctx, "%s indptr does not describe %lld stored values (it must start at 0, never "
                            "decrease and end at the number of indices and values)", where, (long long)nnz);
    for (int64_t p = 0; p < nnz; ++p)
        if (TIR__I64(Ind, p) < 0 || TIR__I64(Ind, p) >= minor)
            return tir_fail(ctx, "%s an index is out of range [0, %lld)", where, (long long)minor);
    return 0;
}

#define TIR__CSR_MM(T, N)                                                                                    \
    __attribute__((unused)) static int tir_csr_mm_##N(tir_ctx* ctx, const char* where, const tir_buf* D,    \
                                                      const tir_buf* Ind, const tir_buf* Ptr, const tir_buf* B,  \
                                                      int64_t ncols, const tir_buf* O) {                     \
        if (B->shape[0] != ncols)                                                                            \
            return tir_fail(ctx, "%s contraction dims %lld and %lld do not match", where, (long long)ncols,  \
                            (long long)B->shape[0]);                                                         \
        if (tir__csr_check(ctx, where, Ind, Ptr, D->shape[0], ncols)) return -1;                                 \
        const int64_t rows = Ptr->shape[0] - 1, n = B->shape[1], ds = D->strides[0];                           \
        const int64_t b0 = B->strides[0], b1 = B->strides[1], o0 = O->strides[0], o1 = O->strides[1];        \
        const T* d = (const T*)D->data;                                                                      \
        int nt = (D->shape[0] + rows) * (n > 0 ? n : 1) >= TIR_PARALLEL_MIN ? ctx->nthreads : 1;             \
        _Pragma("omp parallel for num_threads(nt) schedule(dynamic, 64) if (nt > 1)")                        \
        for (int64_t i = 0; i < rows; ++i) {                                                                 \
            T* o = (T*)O->data + i * o0;                                                                     \
            for (int64_t j = 0; j < n; ++j) o[j * o1] = 0;                                                   \
            for (int64_t p = TIR__I64(Ptr, i); p < TIR__I64(Ptr, i + 1); ++p) {                                  \
                const T v = d[p * ds];                                                                       \
                const T* b = (const T*)B->data + TIR__I64(Ind, p) * b0;                                        \
                if (o1 == 1 && b1 == 1)                                                                      \
                    for (int64_t j = 0; j < n; ++j) o[j] += v * b[j];                                        \
                else                                                                                         \
                    for (int64_t j = 0; j < n; ++j) o[j * o1] += v * b[j * b1];                              \
            }                                                                                                \
        }                                                                                                    \
        return 0;                                                                                            \
    }
TIR__CSR_MM(float, f32)
TIR__CSR_MM(double, f64)

__attribute__((unused)) static int tir_csr_row_ids(tir_ctx* ctx, const char* where, const tir_buf* Ind,
                                                   const tir_buf* Ptr, const tir_buf* O) {
    if (tir__csr_check(ctx, where, Ind, Ptr, Ind->shape[0], INT64_MAX)) return -1;
    for (int64_t i = 0; i + 1 < Ptr->shape[0]; ++i)
        for (int64_t p = TIR__I64(Ptr, i); p < TIR__I64(Ptr, i + 1); ++p) TIR__I64(O, p) = i;
    return 0;
}

__attribute__((unused)) static int tir_csr_transpose(tir_ctx* ctx, const char* where, const tir_buf* Ind,
                                                     const tir_buf* Ptr, int64_t ncols, const tir_buf* perm,
                                                     const tir_buf* TI, const tir_buf* TP) {
    if (tir__csr_check(ctx, where, Ind, Ptr, Ind->shape[0], ncols)) return -1;
    int64_t* next = (int64_t*)tir_alloc(ctx, (size_t)(ncols + 1) * sizeof(int64_t));
    if (!next) return -1;
    for (int64_t c = 0; c <= ncols; ++c) next[c] = 0;
    for (int64_t p = 0; p < Ind->shape[0]; ++p) next[TIR__I64(Ind, p) + 1] += 1;
    for (int64_t c = 0; c < ncols; ++c) next[c + 1] += next[c];
    for (int64_t c = 0; c <= ncols; ++c) TIR__I64(TP, c) = next[c];
    for (int64_t i = 0; i + 1 < Ptr->shape[0]; ++i)  /* rows in order: each column's values keep row order */
        for (int64_t p = TIR__I64(Ptr, i); p < TIR__I64(Ptr, i + 1); ++p) {
            int64_t q = next[TIR__I64(Ind, p)]++;
            TIR__I64(perm, q) = p;
            TIR__I64(TI, q) = i;
        }
    tir_free(ctx, next);
    return 0;
}

#define TIR__CSR_DENSE_PATTERN(T, N)                                                                         \
    __attribute__((unused)) static int tir_csr_dense_pattern_##N(tir_ctx* ctx, const char* where,            \
                                                                 const tir_buf* X, int64_t nnz,              \
                                                                 const tir_buf* Ind, const tir_buf* Ptr) {       \
        int64_t k = 0;                                                                                       \
        TIR__I64(Ptr, 0) = 0;                                                                                  \
        for (int64_t i = 0; i < X->shape[0]; ++i) {                                                          \
            const T* x = (const T*)X->data + i * X->strides[0];                                              \
            for (int64_t j = 0; j < X->shape[1]; ++j)                                                        \
                if (x[j * X->strides[1]] != 0) {                                                             \
                    if (k == nnz) return tir_fail(ctx, "%s the matrix has more than %lld nonzeros", where,  \
                                                  (long long)nnz);                                           \
                    TIR__I64(Ind, k++) = j;                                                                    \
                }                                                                                            \
            TIR__I64(Ptr, i + 1) = k;                                                                          \
        }                                                                                                    \
        if (k != nnz) return tir_fail(ctx, "%s the matrix has %lld nonzeros, not %lld", where, (long long)k, \
                                      (long long)nnz);                                                       \
        return 0;                                                                                            \
    }
TIR__CSR_DENSE_PATTERN(float, f32)
TIR__CSR_DENSE_PATTERN(double, f64)

#endif
