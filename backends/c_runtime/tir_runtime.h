/*
 * tir_runtime.h -- the runtime ABI of tensorir's C target.
 *
 * The `emit-c` pass turns one compiled user function into ONE C source file
 * that includes this header and is built (by runtime/ccompiler.py) into a
 * CPython extension module.  The module's `run(*arrays)` checks the
 * arguments in C, calls the generated entry point `tir_main` once (the whole
 * host plan: allocations, kernels, BLAS calls) and returns fresh numpy
 * arrays, so calling a compiled function is one foreign call.
 *
 * ========================================================================
 * ABI v1 -- what generated code writes
 * ========================================================================
 *
 *   #define TIR_USE_BLAS 1          (optional, before the include: cblas API)
 *   #include "tir_runtime.h"
 *
 *   static const tir_param tir_args[] = {      name, numpy type number, rank
 *       {"x", NPY_FLOAT32, 2},
 *       {"b", NPY_FLOAT32, 1},
 *   };
 *   static const tir_param tir_results[] = {   rank -1 = not checked
 *       {"y", NPY_FLOAT32, 2},
 *   };
 *   static int tir_main(tir_ctx* ctx, const tir_buf* args, tir_buf* results) {
 *       ...                                    return 0, or return tir_fail(...)
 *   }
 *   TIR_MODULE(tir_main, tir_args, tir_results)
 *
 * A function without arguments (or results) writes `= {}` (an empty table,
 * accepted by gcc and clang).  Do not define TIR_MODNAME: the compiler
 * driver passes -DTIR_MODNAME=<unique name> (the name of PyInit_<name>).
 *
 * Buffers.  `tir_buf` describes an n-d array: data, ndim, shape[ndim] and
 * strides[ndim] counted in ELEMENTS (not bytes); element (i, j) of a 2-d
 * float buffer is `((float*)b->data)[i*b->strides[0] + j*b->strides[1]]`.
 * Strides may be negative, zero, or anything (numpy views: transposed,
 * sliced, x[::2, ::-1], broadcast_to); along a dimension of extent <= 1 the
 * stride is meaningless (use tir_blas_layout/tir_is_contiguous, never infer
 * a leading dimension from it).  A 0-d buffer has ndim 0 and data points at
 * the element.  Arguments are inputs: never write through args[i].data
 * (they may alias each other and the user's arrays).  Shapes are run-time
 * values: one module serves every shape of the declared ranks.
 *
 * Arguments reach tir_main with the declared type number and rank, aligned
 * and in native byte order (run() copies the rare array that is not: byte
 * swapped, misaligned, or with a stride that is not a whole number of
 * elements), and converts an array of another bool/int/float dtype that
 * numpy casts safely (float32 data for a float64 parameter).  A 0-d
 * parameter also takes a scalar, converted in C without an array: a Python
 * bool or int its type holds exactly, a Python float for a float32/float64
 * parameter, a numpy scalar of a dtype an array could have (see
 * tir__scalar_arg); a parameter of rank n takes an n-deep list or tuple of
 * such Python numbers (tir__sequence_arg).  Anything else -- another dtype
 * or rank, another object -- makes run() raise TypeError without calling
 * tir_main; the Python wrapper (runtime/c_module.py) casts and retries,
 * using the module's `signature`, and the frontend applies its casting rule.
 * Static dims of the IR types and dynamic shape conditions (broadcasting,
 * matmul inner dims) are checked by the generated code, which reports them
 * with tir_fail.
 *
 * Calls available to tir_main (all from the thread that entered tir_main,
 * never inside an OpenMP parallel region, except tir_fail):
 *
 *   tir_buf* tir_result(tir_ctx* ctx, int k, int32_t ndim, const int64_t* shape)
 *       allocates result k as a fresh C-contiguous numpy array of the
 *       declared dtype and returns its view (also stored in results[k]).
 *       Each result exactly once; NULL on failure (the error is set: return
 *       nonzero at once).  The array is handed to the user as is: no copy.
 *   tir_buf* tir_result_tied(tir_ctx* ctx, int k, int a, int32_t ndim, const int64_t* shape)
 *       result k as argument a's own array, which the caller then writes in
 *       place, when that array can be it (tir__can_tie: exactly the declared
 *       dtype, this shape, C-contiguous, aligned, writeable, given as is and
 *       overlapping no other argument); else tir_result.  Only for a result
 *       the IR ties to argument a (func attribute tir.tied, passes/tied.py).
 *   void* tir_alloc(tir_ctx* ctx, size_t bytes)
 *       64-byte aligned temporary, freed automatically when tir_main
 *       returns (success or error).  NULL on failure (error set: MemoryError).
 *   void tir_free(tir_ctx* ctx, void* p)
 *       early release of a tir_alloc block (NULL is fine).
 *   int tir_fail(tir_ctx* ctx, const char* fmt, ...)
 *       printf-style message, returns -1; `return tir_fail(...)` from
 *       tir_main makes run() raise ValueError(message).  Messages start with
 *       the user's source location:
 *       "model.py:12: 'tensor.add' op operand shapes (3,) and (4,) do not broadcast at run time"
 *       Thread-safe (first message wins), so a parallel loop may call it,
 *       but must still finish its region; tir_main then checks
 *       tir_failed(ctx) and returns nonzero.
 *   int tir_failed(const tir_ctx* ctx)
 *   int64_t tir_numel(const tir_buf* b)
 *   int tir_is_contiguous(const tir_buf* b)       C order, element strides
 *   int tir_blas_layout(const tir_buf* b, int* trans, int64_t* ld)
 *       can 2-d b be passed to row-major cblas as is?  Sets trans (0/1) and
 *       ld; returns 0 when it cannot (then copy with tir_contiguous).
 *   int tir_contiguous(tir_ctx* ctx, const tir_buf* src, size_t itemsize, tir_buf* dst)
 *       dst = C-contiguous copy of src in a tir_alloc block; 0 or -1 (error set).
 *   tir_py_call / tir_extern_symbol (tir_extern.h, included after this header by a
 *       module that calls library functions: dialects/extern.py)
 *       a call back into a Python function (taking the GIL when tir_main runs
 *       without it, as tir_result does), and dlopen/dlsym of a C library.
 *   ctx->nthreads
 *       threads for parallel loops (config.threads, >= 1): write
 *       `#pragma omp parallel for num_threads(ctx->nthreads) if(n >= TIR_PARALLEL_MIN)`
 *       (waking the sleeping pool costs microseconds: keep small loops serial).
 *
 * BLAS (with TIR_USE_BLAS): scipy-openblas32's cblas, 32-bit `blasint`
 * (check sizes against TIR_BLASINT_MAX), symbols prefixed `scipy_`; use
 * tir_sgemm/tir_dgemm/tir_sgemv/tir_dgemv/tir_sgemm_batch/tir_dgemm_batch/
 * tir_sdot/tir_ddot/tir_saxpy/tir_daxpy (same arguments as cblas_*), or
 * tir_cblas(name) for any other.
 * Never call BLAS inside an OpenMP parallel region: threaded BLAS calls run
 * on the OpenMP team themselves (see "Threads" below), and a nested region
 * gets one thread, on which OpenBLAS's mutually waiting jobs would hang.
 *
 * Errors: run() raises ValueError (tir_fail), MemoryError (allocation
 * failures) or RuntimeError (ABI misuse: a result never produced or
 * produced twice, a nonzero return without a message).  Nothing leaks.
 *
 * ========================================================================
 * The module (what run() and Python see)
 * ========================================================================
 *
 *   mod.run(*arrays)         -> the result array, a tuple of them (several
 *                               results), or None (no results)
 *   mod.signature            -> ((("x", dtype('float32'), 2), ...), (("y", dtype('float32'), 2), ...))
 *   mod.abi_version          -> TIR_ABI_VERSION
 *   mod.set_num_threads(n)   threads of OpenMP loops and of OpenBLAS (n >= 1)
 *   mod.get_num_threads()
 *   mod.blas_threads_callback  address of the OpenBLAS threads callback that
 *                            runs jobs on libgomp's team (OpenMP builds)
 *
 * The GIL is released around tir_main when the arguments hold at least
 * TIR_GIL_RELEASE_MIN elements (tir_result re-acquires it to allocate);
 * small calls keep it, which is cheaper.
 *
 * Threads: ONE pool, libgomp's.  `loop.parallel` is `#pragma omp parallel
 * for num_threads(ctx->nthreads)`, and threaded BLAS calls run on the same
 * team: the module registers an OpenBLAS threads callback
 * (scipy_openblas_set_threads_callback_function) that executes OpenBLAS's
 * jobs in an OpenMP region instead of OpenBLAS's own pthreads, which stay
 * asleep.  runtime/c_module.py imports modules with
 * GOMP_SPINCOUNT=3000 and OPENBLAS_THREAD_TIMEOUT=4 (unless the user set
 * them), so idle workers spin a few tens of microseconds, then sleep instead
 * of spinning on the cores that numpy's own OpenBLAS pool needs (measured:
 * with two spinning pools a numpy matmul right after a tensorir matmul went
 * from 0.3 ms to 4-16 ms; with OMP_WAIT_POLICY=PASSIVE, sleeping at once,
 * each parallel region paid 70-140 us of wake-ups on a 2-core VM).
 * A wake-up still costs a few to tens of
 * microseconds per parallel region: keep loops below TIR_PARALLEL_MIN
 * (element count x a cost weight of your choosing) serial with `if(...)`.
 * numpy's OpenBLAS joins the pool too: every OpenMP module exports the
 * callback's address as `blas_threads_callback`, and runtime/c_module.py
 * installs it in numpy's OpenBLAS when numpy links one with the callback
 * (0.3.27+), so numpy's products also run on this team and numpy's pthreads
 * stay asleep (two pools on two cores made each side's BLAS wait for the
 * other's spinning threads: a tensorir gemm right after a numpy one took
 * 2-3x as long).
 * Define TIR_BLAS_OWN_THREADS before the include to let OpenBLAS use its own
 * pthread pool instead (not recommended; such a module exports no callback).
 *
 * ========================================================================
 * Reference example: y = x * 2 + b  (x: f32 rank 2, b: f32 rank 1)
 * ========================================================================
 *
 *   #include "tir_runtime.h"
 *
 *   static const tir_param tir_args[] = {{"x", NPY_FLOAT32, 2}, {"b", NPY_FLOAT32, 1}};
 *   static const tir_param tir_results[] = {{"y", NPY_FLOAT32, 2}};
 *
 *   static int tir_main(tir_ctx* ctx, const tir_buf* args, tir_buf* results) {
 *       const tir_buf* x = &args[0];
 *       const tir_buf* b = &args[1];
 *       int64_t n0 = x->shape[0], n1 = x->shape[1];
 *       if (b->shape[0] != n1 && b->shape[0] != 1)
 *           return tir_fail(ctx, "model.py:3: 'tensor.add' op operand shapes (%lld,%lld) and (%lld,) "
 *                           "do not broadcast at run time", (long long)n0, (long long)n1, (long long)b->shape[0]);
 *       int64_t bs = b->shape[0] == 1 ? 0 : b->strides[0];
 *       int64_t shape[2] = {n0, n1};
 *       tir_buf* y = tir_result(ctx, 0, 2, shape);
 *       if (!y) return -1;
 *       const float* xp = (const float*)x->data;
 *       const float* bp = (const float*)b->data;
 *       float* yp = (float*)y->data;
 *       int64_t xs0 = x->strides[0], xs1 = x->strides[1];
 *       #pragma omp parallel for num_threads(ctx->nthreads) if(n0 * n1 >= TIR_PARALLEL_MIN)
 *       for (int64_t i = 0; i < n0; ++i)
 *           for (int64_t j = 0; j < n1; ++j)
 *               yp[i * n1 + j] = xp[i * xs0 + j * xs1] * 2.0f + bp[j * bs];
 *       return 0;
 *   }
 *   TIR_MODULE(tir_main, tir_args, tir_results)
 *
 * Build flags: see tir_math.h (-O3 -march=native -fno-math-errno, never
 * -ffast-math) plus -fPIC -shared -fopenmp; runtime/ccompiler.py owns them.
 */
#ifndef TIR_RUNTIME_H
#define TIR_RUNTIME_H

/* The linkage of generated kernels: `static` in a module of one translation unit; the compiler driver
 * defines it empty when it builds the kernels in units of their own (runtime/ccompiler.py), where
 * -fvisibility=hidden keeps them out of the module's symbols. Kernels use no numpy API: only the host
 * unit imports it. */
#ifndef TIR_KERNEL
#define TIR_KERNEL static
#endif

#define PY_SSIZE_T_CLEAN
#include <Python.h> /* first: it sets feature macros for the libc headers */

/* One translation unit per module: the numpy API table is a static of this
 * file (no PY_ARRAY_UNIQUE_SYMBOL/NO_IMPORT_ARRAY needed), filled by
 * import_array() in the module init below. */
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#if NPY_ABI_VERSION < 0x02000000 /* numpy 1.x: no accessor, the field is public */
#define PyDataType_ELSIZE(descr) ((descr)->elsize)
#endif

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tir_math.h"

#ifdef TIR_USE_BLAS
#include <cblas.h> /* scipy-openblas32: symbols carry the scipy_ prefix */
#define tir_cblas(name) scipy_cblas_##name
#define tir_sgemm scipy_cblas_sgemm
#define tir_dgemm scipy_cblas_dgemm
#define tir_sgemv scipy_cblas_sgemv
#define tir_dgemv scipy_cblas_dgemv
#define tir_sgemm_batch scipy_cblas_sgemm_batch /* OpenBLAS >= 0.3.29 */
#define tir_dgemm_batch scipy_cblas_dgemm_batch
#define tir_sdot scipy_cblas_sdot
#define tir_ddot scipy_cblas_ddot
#define tir_saxpy scipy_cblas_saxpy
#define tir_daxpy scipy_cblas_daxpy
#define TIR_BLASINT_MAX INT32_MAX
#endif

#ifndef TIR_MODNAME
#error "TIR_MODNAME is not defined: build this file through tensorir.runtime.ccompiler, which passes -DTIR_MODNAME=..."
#endif

#define TIR_ABI_VERSION 1
#define TIR_MAX_DIMS 8
#define TIR_ALIGN 64
#ifndef TIR_PARALLEL_MIN
#define TIR_PARALLEL_MIN 131072 /* work (elements) below which a parallel loop should stay serial */
#endif
#ifndef TIR_GIL_RELEASE_MIN
#define TIR_GIL_RELEASE_MIN 65536 /* argument elements from which tir_main runs without the GIL */
#endif

#define TIR__CAT2(a, b) a##b
#define TIR__CAT(a, b) TIR__CAT2(a, b)
#define TIR__STR2(a) #a
#define TIR__STR(a) TIR__STR2(a)
#define TIR_COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* ------------------------------------------------------------------------ */
/* types                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    char* data;
    int32_t ndim;
    int64_t shape[TIR_MAX_DIMS];
    int64_t strides[TIR_MAX_DIMS]; /* in elements */
} tir_buf;

typedef struct {
    const char* name; /* for error messages and `signature` */
    int typenum;      /* NPY_FLOAT32, NPY_FLOAT64, NPY_INT64, NPY_BOOL, ... */
    int ndim;         /* rank; -1 (results only) = not checked */
} tir_param;

typedef struct tir_ctx tir_ctx;
typedef int (*tir_main_fn)(tir_ctx* ctx, const tir_buf* args, tir_buf* results);

typedef struct {
    tir_main_fn main;
    const tir_param* args;
    int nargs;
    const tir_param* results;
    int nresults;
} tir_spec;

enum { TIR_OK = 0, TIR_ERR_VALUE = 1, TIR_ERR_MEMORY = 2, TIR_ERR_INTERNAL = 3 };

/* Header in front of every tir_alloc block (padded to TIR_ALIGN): a doubly
 * linked list, so tir_free is O(1) and everything left is freed at exit. */
typedef struct tir__block {
    struct tir__block* prev;
    struct tir__block* next;
    size_t size; /* bytes of the whole block, header included */
} tir__block;

/* ------------------------------------------------------------------------ */
/* a pool of large blocks                                                   */
/* ------------------------------------------------------------------------ */
/* Large results and temporaries reuse recently freed blocks, whose pages are already mapped:
 * glibc returns big blocks to the OS, so each call would page-fault its buffers afresh (about 11 ms
 * per 40 MB here, a third of the W1 10M call). Blocks below TIR_POOL_MIN go to malloc as before. The
 * pool keeps at most TIR_POOL_SLOTS blocks and TIR_POOL_MAX_BYTES in all; a block is reused for a
 * request between half its size and its size. A mutex guards it: temporaries may be taken while
 * tir_main runs without the GIL. */
#ifndef TIR_POOL_MIN
#define TIR_POOL_MIN ((size_t)1 << 20)
#endif
#define TIR_POOL_SLOTS 8
#define TIR_POOL_MAX_BYTES ((size_t)256 << 20)

static struct {
    void* block[TIR_POOL_SLOTS];
    size_t size[TIR_POOL_SLOTS];
    size_t total;
    pthread_mutex_t lock;
} tir__pool = {{0}, {0}, 0, PTHREAD_MUTEX_INITIALIZER};

/* A block of at least `size` bytes (64-byte aligned), from the pool when one fits; *got = its size. */
static void* tir__pool_take(size_t size, size_t* got) {
    if (size >= TIR_POOL_MIN) {
        pthread_mutex_lock(&tir__pool.lock);
        int best = -1;
        for (int i = 0; i < TIR_POOL_SLOTS; ++i)
            if (tir__pool.block[i] && tir__pool.size[i] >= size && tir__pool.size[i] / 2 <= size &&
                (best < 0 || tir__pool.size[i] < tir__pool.size[best]))
                best = i;
        if (best >= 0) {
            void* p = tir__pool.block[best];
            *got = tir__pool.size[best];
            tir__pool.total -= *got;
            tir__pool.block[best] = NULL;
            pthread_mutex_unlock(&tir__pool.lock);
            return p;
        }
        pthread_mutex_unlock(&tir__pool.lock);
        size = (size + 65535) & ~(size_t)65535; /* round up: later, slightly larger requests fit too */
    }
    *got = size;
    return aligned_alloc(TIR_ALIGN, size);
}

/* Give a block back: kept for reuse when it is large and the pool has room, else freed. */
static void tir__pool_give(void* p, size_t size) {
    if (!p) return;
    if (size >= TIR_POOL_MIN) {
        pthread_mutex_lock(&tir__pool.lock);
        for (int i = 0; i < TIR_POOL_SLOTS; ++i)
            if (!tir__pool.block[i] && tir__pool.total + size <= TIR_POOL_MAX_BYTES) {
                tir__pool.block[i] = p;
                tir__pool.size[i] = size;
                tir__pool.total += size;
                pthread_mutex_unlock(&tir__pool.lock);
                return;
            }
        pthread_mutex_unlock(&tir__pool.lock);
    }
    free(p);
}

/* The data of a pooled result array goes back to the pool when numpy frees the array. */
static void tir__pool_capsule_free(PyObject* capsule) {
    tir__block* h = (tir__block*)PyCapsule_GetPointer(capsule, "tensorir.pool");
    if (h) tir__pool_give(h, h->size);
}

struct tir_ctx {
    int nthreads;            /* threads for parallel loops and BLAS (>= 1) */
    int failed;              /* TIR_OK or TIR_ERR_* (first failure wins) */
    const tir_spec* spec;
    PyObject* const* arg_objs;  /* [nargs], the arguments as given */
    PyObject* const* arg_owned; /* [nargs], the converted copy of an argument, or NULL */
    PyObject** result_objs;  /* [nresults], NULL until tir_result(k) */
    tir_buf* result_bufs;    /* [nresults], the `results` of tir_main */
    tir__block* temps;       /* live tir_alloc blocks */
    PyThreadState* tstate;   /* non-NULL while tir_main runs without the GIL */
    char msg[1024];
};

static int tir__nthreads = 1; /* set at module init and by set_num_threads */

/* ------------------------------------------------------------------------ */
/* errors                                                                   */
/* ------------------------------------------------------------------------ */

static int tir__vfail(tir_ctx* ctx, int kind, const char* fmt, va_list ap) {
    int expected = TIR_OK;
    if (__atomic_compare_exchange_n(&ctx->failed, &expected, kind, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    return -1;
}

__attribute__((format(printf, 3, 4), unused))
static int tir__fail_kind(tir_ctx* ctx, int kind, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tir__vfail(ctx, kind, fmt, ap);
    va_end(ap);
    return -1;
}

__attribute__((format(printf, 2, 3), unused))
static int tir_fail(tir_ctx* ctx, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tir__vfail(ctx, TIR_ERR_VALUE, fmt, ap);
    va_end(ap);
    return -1;
}

__attribute__((unused))
static inline int tir_failed(const tir_ctx* ctx) { return __atomic_load_n(&ctx->failed, __ATOMIC_ACQUIRE) != TIR_OK; }

/* ------------------------------------------------------------------------ */
/* temporaries                                                              */
/* ------------------------------------------------------------------------ */

__attribute__((unused, malloc, assume_aligned(TIR_ALIGN)))
static void* tir_alloc(tir_ctx* ctx, size_t bytes) {
    if (bytes > SIZE_MAX - 2 * TIR_ALIGN) {
        tir__fail_kind(ctx, TIR_ERR_MEMORY, "cannot allocate a temporary of %zu bytes", bytes);
        return NULL;
    }
    size_t total = TIR_ALIGN + ((bytes + TIR_ALIGN - 1) & ~(size_t)(TIR_ALIGN - 1));
    size_t got;
    tir__block* h = (tir__block*)tir__pool_take(total, &got);
    if (!h) {
        tir__fail_kind(ctx, TIR_ERR_MEMORY, "out of memory allocating a temporary of %zu bytes", bytes);
        return NULL;
    }
    h->size = got;
    h->prev = NULL;
    h->next = ctx->temps;
    if (ctx->temps) ctx->temps->prev = h;
    ctx->temps = h;
    return (char*)h + TIR_ALIGN;
}

__attribute__((unused))
static void tir_free(tir_ctx* ctx, void* p) {
    if (!p) return;
    tir__block* h = (tir__block*)((char*)p - TIR_ALIGN);
    if (h->prev) h->prev->next = h->next;
    else ctx->temps = h->next;
    if (h->next) h->next->prev = h->prev;
    tir__pool_give(h, h->size);
}

static void tir__free_all(tir_ctx* ctx) {
    tir__block* h = ctx->temps;
    while (h) {
        tir__block* next = h->next;
        tir__pool_give(h, h->size);
        h = next;
    }
    ctx->temps = NULL;
}

/* ------------------------------------------------------------------------ */
/* buffers                                                                  */
/* ------------------------------------------------------------------------ */

__attribute__((unused))
static inline int64_t tir_numel(const tir_buf* b) {
    int64_t n = 1;
    for (int d = 0; d < b->ndim; ++d) n *= b->shape[d];
    return n;
}

__attribute__((unused))
static int tir_is_contiguous(const tir_buf* b) {
    int64_t expect = 1;
    for (int d = b->ndim - 1; d >= 0; --d) {
        if (b->shape[d] == 0) return 1;
        if (b->shape[d] != 1 && b->strides[d] != expect) return 0;
        expect *= b->shape[d];
    }
    return 1;
}

/* Can the 2-d buffer b be passed to row-major cblas as is?  On success sets
 * *trans (0: pass CblasNoTrans with ld; 1: b is stored transposed, pass
 * CblasTrans with ld) and *ld (>= 1, <= INT32_MAX), and returns 1. */
__attribute__((unused))
static int tir_blas_layout(const tir_buf* b, int* trans, int64_t* ld) {
    int64_t r = b->shape[0], c = b->shape[1], s0 = b->strides[0], s1 = b->strides[1];
    int64_t rr = r > 1 ? r : 1, cc = c > 1 ? c : 1;
    if (r > INT32_MAX || c > INT32_MAX) return 0;
    if (c <= 1 || s1 == 1) {                 /* rows laid out with unit stride */
        int64_t l = r <= 1 ? cc : s0;
        if (l >= cc && l <= INT32_MAX) { *trans = 0; *ld = l; return 1; }
    }
    if (r <= 1 || s0 == 1) {                 /* columns laid out with unit stride */
        int64_t l = c <= 1 ? rr : s1;
        if (l >= rr && l <= INT32_MAX) { *trans = 1; *ld = l; return 1; }
    }
    return 0;
}

/* dst = a C-contiguous copy of src (any strides) in a tir_alloc block. */
__attribute__((unused))
static int tir_contiguous(tir_ctx* ctx, const tir_buf* src, size_t itemsize, tir_buf* dst) {
    int nd = src->ndim;
    int64_t n = tir_numel(src);
    char* out = (char*)tir_alloc(ctx, (size_t)n * itemsize);
    if (!out) return -1;
    dst->data = out;
    dst->ndim = nd;
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; --d) {
        dst->shape[d] = src->shape[d];
        dst->strides[d] = s;
        s *= src->shape[d];
    }
    if (n == 0) return 0;
    int64_t idx[TIR_MAX_DIMS] = {0};
    const char* in = src->data;
    int64_t inner = nd ? src->shape[nd - 1] : 1, istride = nd ? src->strides[nd - 1] * (int64_t)itemsize : 0;
    for (int64_t done = 0; done < n; done += inner) {
        const char* p = in;
        for (int64_t j = 0; j < inner; ++j, p += istride, out += itemsize) memcpy(out, p, itemsize);
        /* advance the outer index (odometer) */
        for (int d = nd - 2; d >= 0; --d) {
            in += src->strides[d] * (int64_t)itemsize;
            if (++idx[d] < src->shape[d]) break;
            in -= src->strides[d] * (int64_t)itemsize * src->shape[d];
            idx[d] = 0;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* results                                                                  */
/* ------------------------------------------------------------------------ */

__attribute__((unused))
/* A fresh C-contiguous array; large ones over a pool block (the array's base is a capsule that
 * returns the block), small ones from numpy. Needs the GIL. */
static PyObject* tir__pooled_array(int ndim, npy_intp* dims, int typenum) {
    PyArray_Descr* descr = PyArray_DescrFromType(typenum);
    if (!descr) return NULL;
    size_t bytes = (size_t)PyDataType_ELSIZE(descr);
    for (int d = 0; d < ndim; ++d) bytes *= (size_t)dims[d];
    if (bytes + TIR_ALIGN < TIR_POOL_MIN) {
        Py_DECREF(descr);
        return PyArray_EMPTY(ndim, dims, typenum, 0);
    }
    size_t got;
    tir__block* h = (tir__block*)tir__pool_take(TIR_ALIGN + bytes, &got);
    if (!h) {
        Py_DECREF(descr);
        return PyErr_NoMemory();
    }
    h->size = got;
    PyObject* capsule = PyCapsule_New(h, "tensorir.pool", tir__pool_capsule_free);
    if (!capsule) {
        tir__pool_give(h, got);
        Py_DECREF(descr);
        return NULL;
    }
    /* steals the reference to descr */
    PyObject* arr = PyArray_NewFromDescr(&PyArray_Type, descr, ndim, dims, NULL, (char*)h + TIR_ALIGN,
                                         NPY_ARRAY_CARRAY, NULL);
    if (!arr || PyArray_SetBaseObject((PyArrayObject*)arr, capsule) < 0) { /* SetBaseObject steals capsule */
        Py_XDECREF(arr);
        if (!arr) Py_DECREF(capsule);
        return NULL;
    }
    return arr;
}

/* results[k] describes the C-contiguous array arr of this shape. */
static tir_buf* tir__result_buf(tir_ctx* ctx, int k, PyObject* arr, int32_t ndim, const int64_t* shape) {
    tir_buf* b = &ctx->result_bufs[k];
    b->data = (char*)PyArray_DATA((PyArrayObject*)arr);
    b->ndim = ndim;
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; --d) {
        b->shape[d] = shape[d];
        b->strides[d] = s;
        s *= shape[d];
    }
    return b;
}

static tir_buf* tir_result(tir_ctx* ctx, int k, int32_t ndim, const int64_t* shape) {
    const tir_spec* spec = ctx->spec;
    if (k < 0 || k >= spec->nresults) {
        tir__fail_kind(ctx, TIR_ERR_INTERNAL, "tir_result: the function has no result %d", k);
        return NULL;
    }
    const tir_param* p = &spec->results[k];
    if (ctx->result_objs[k]) {
        tir__fail_kind(ctx, TIR_ERR_INTERNAL, "tir_result: result %d ('%s') allocated twice", k, p->name);
        return NULL;
    }
    if (ndim < 0 || ndim > TIR_MAX_DIMS || (p->ndim >= 0 && ndim != p->ndim)) {
        tir__fail_kind(ctx, TIR_ERR_INTERNAL, "tir_result: result %d ('%s') is declared rank %d, allocated with rank %d",
                       k, p->name, p->ndim, (int)ndim);
        return NULL;
    }
    npy_intp dims[TIR_MAX_DIMS];
    for (int d = 0; d < ndim; ++d) {
        if (shape[d] < 0) {
            tir__fail_kind(ctx, TIR_ERR_VALUE, "result '%s' would have a negative dimension (%lld)", p->name,
                           (long long)shape[d]);
            return NULL;
        }
        dims[d] = (npy_intp)shape[d];
    }
    if (ctx->tstate) PyEval_RestoreThread(ctx->tstate);
    PyObject* arr = tir__pooled_array(ndim, dims, p->typenum);
    if (!arr) {
        int kind = PyErr_ExceptionMatches(PyExc_MemoryError) ? TIR_ERR_MEMORY : TIR_ERR_VALUE;
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject* text = value ? PyObject_Str(value) : NULL;
        const char* s = text ? PyUnicode_AsUTF8(text) : NULL;
        tir__fail_kind(ctx, kind, "cannot allocate result '%s': %s", p->name, s ? s : "unknown error");
        PyErr_Clear();
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    if (ctx->tstate) ctx->tstate = PyEval_SaveThread();
    if (!arr) return NULL;
    ctx->result_objs[k] = arr;
    return tir__result_buf(ctx, k, arr, ndim, shape);
}

/* The bytes [*lo, *hi) that array a spans (any strides). */
static void tir__byte_range(PyArrayObject* a, const char** lo, const char** hi) {
    const char* base = PyArray_BYTES(a);
    npy_intp low = 0, high = PyArray_ITEMSIZE(a);
    for (int d = 0; d < PyArray_NDIM(a); ++d) {
        npy_intp n = PyArray_DIMS(a)[d], s = PyArray_STRIDES(a)[d];
        if (n == 0) {
            high = low;
            break;
        }
        if (s < 0) low += (n - 1) * s;
        else high += (n - 1) * s;
    }
    *lo = base + low;
    *hi = base + high;
}

/* Whether argument a's array may be written in place as result k of this shape (see tir_result_tied). */
static int tir__can_tie(tir_ctx* ctx, int k, int a, int32_t ndim, const int64_t* shape) {
    const tir_spec* spec = ctx->spec;
    if (a < 0 || a >= spec->nargs || ctx->arg_owned[a] || !PyArray_Check(ctx->arg_objs[a])) return 0;
    PyArrayObject* arr = (PyArrayObject*)ctx->arg_objs[a];
    if (!PyArray_EquivTypenums(PyArray_TYPE(arr), spec->results[k].typenum) || PyArray_NDIM(arr) != ndim ||
        !PyArray_ISCARRAY(arr) || !PyArray_ISNOTSWAPPED(arr))
        return 0; /* ISCARRAY: C-contiguous, aligned and writeable */
    for (int d = 0; d < ndim; ++d)
        if (PyArray_DIMS(arr)[d] != shape[d]) return 0;
    const char *lo, *hi;
    tir__byte_range(arr, &lo, &hi);
    for (int i = 0; i < spec->nargs; ++i) {
        /* a converted copy or a scalar argument is private storage; an array may share memory with a */
        if (i == a || ctx->arg_owned[i] || !PyArray_Check(ctx->arg_objs[i])) continue;
        const char *l, *h;
        tir__byte_range((PyArrayObject*)ctx->arg_objs[i], &l, &h);
        if (l < hi && lo < h) return 0;
    }
    return 1;
}

__attribute__((unused))
static tir_buf* tir_result_tied(tir_ctx* ctx, int k, int a, int32_t ndim, const int64_t* shape) {
    if (!tir__can_tie(ctx, k, a, ndim, shape) || ctx->result_objs[k]) return tir_result(ctx, k, ndim, shape);
    PyObject* arr = ctx->arg_objs[a];
    if (ctx->tstate) PyEval_RestoreThread(ctx->tstate);
    Py_INCREF(arr);
    if (ctx->tstate) ctx->tstate = PyEval_SaveThread();
    ctx->result_objs[k] = arr;
    return tir__result_buf(ctx, k, arr, ndim, shape);
}

/* ------------------------------------------------------------------------ */
/* run(*args)                                                               */
/* ------------------------------------------------------------------------ */

static const char* tir__dtype_name(int typenum, char* out, size_t n) {
    PyArray_Descr* d = PyArray_DescrFromType(typenum);
    if (d && (d->kind == 'b' || d->kind == 'i' || d->kind == 'u' || d->kind == 'f')) {
        /* numpy's name, without str(dtype) (Python code, microseconds: the fallback of a call pays it) */
        const char* base = d->kind == 'b' ? "bool" : d->kind == 'i' ? "int" : d->kind == 'u' ? "uint" : "float";
        if (d->kind == 'b') snprintf(out, n, "%s", base);
        else snprintf(out, n, "%s%d", base, (int)(8 * PyDataType_ELSIZE(d)));
        Py_DECREF(d);
        return out;
    }
    PyObject* s = d ? PyObject_Str((PyObject*)d) : NULL;
    const char* c = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(out, n, "%s", c ? c : "?");
    PyErr_Clear();
    Py_XDECREF(s);
    Py_XDECREF(d);
    return out;
}

static int tir__arg_type_error(const tir_param* p, int i, PyObject* o) {
    char want[64], got[64];
    tir__dtype_name(p->typenum, want, sizeof want);
    if (!PyArray_Check(o)) {
        PyErr_Format(PyExc_TypeError, "run(): argument %d ('%s') must be a numpy.ndarray of dtype %s and rank %d, "
                     "got %.200s", i, p->name, want, p->ndim, Py_TYPE(o)->tp_name);
    } else {
        PyArrayObject* a = (PyArrayObject*)o;
        tir__dtype_name(PyArray_TYPE(a), got, sizeof got);
        PyErr_Format(PyExc_TypeError, "run(): argument %d ('%s') must be a numpy.ndarray of dtype %s and rank %d, "
                     "got dtype %s and rank %d", i, p->name, want, p->ndim, got, PyArray_NDIM(a));
    }
    return -1;
}

/* Storage of a 0-d argument given as a Python or numpy scalar (the tir_buf's data points at it). */
typedef union {
    double f64;
    float f32;
    char bytes[8];
} tir__scalar;

/* A Python int (or bool) into one element of type typenum at out, when the type holds it exactly (an
 * int that a float type holds exactly only for |v| <= 2^mantissa here; larger ones are left to the
 * frontend). 1, or 0. */
static int tir__from_int(int typenum, long long v, char* out) {
#define TIR__INT_CASE(npy, ctype, lo, hi)  \
    case npy: {                            \
        if (v < (lo) || v > (hi)) return 0; \
        ctype c = (ctype)v;                \
        memcpy(out, &c, sizeof c);         \
        return 1;                          \
    }
    switch (typenum) {
        TIR__INT_CASE(NPY_BOOL, npy_bool, 0, 1)
        TIR__INT_CASE(NPY_INT8, int8_t, INT8_MIN, INT8_MAX)
        TIR__INT_CASE(NPY_INT16, int16_t, INT16_MIN, INT16_MAX)
        TIR__INT_CASE(NPY_INT32, int32_t, INT32_MIN, INT32_MAX)
        TIR__INT_CASE(NPY_INT64, int64_t, INT64_MIN, INT64_MAX)
        TIR__INT_CASE(NPY_UINT8, uint8_t, 0, UINT8_MAX)
        TIR__INT_CASE(NPY_UINT16, uint16_t, 0, UINT16_MAX)
        TIR__INT_CASE(NPY_UINT32, uint32_t, 0, UINT32_MAX)
        TIR__INT_CASE(NPY_UINT64, uint64_t, 0, INT64_MAX)
        TIR__INT_CASE(NPY_FLOAT32, float, -(1LL << 24), 1LL << 24)
        TIR__INT_CASE(NPY_FLOAT64, double, -(1LL << 53), 1LL << 53)
    default: return 0;
    }
#undef TIR__INT_CASE
}

/* A Python float into one element of type typenum at out: float32 (rounded: the frontend's casting rule
 * takes a Python float into any float type) or float64. 1, or 0 (other types: left to the frontend). */
static int tir__from_double(int typenum, double d, char* out) {
    if (typenum == NPY_FLOAT64) {
        memcpy(out, &d, sizeof d);
        return 1;
    }
    if (typenum == NPY_FLOAT32) {
        float f = (float)d;
        memcpy(out, &f, sizeof f);
        return 1;
    }
    return 0;
}

/* Whether numpy data of type `from` goes into a parameter of type typenum: the same type, or a bool,
 * integer or float type that numpy casts to it safely (float32 -> float64, int32 -> int64 or float64, ...). */
static int tir__castable(PyArray_Descr* from, int typenum) {
    if (PyArray_EquivTypenums(from->type_num, typenum)) return 1;
    if (from->kind != 'b' && from->kind != 'i' && from->kind != 'u' && from->kind != 'f') return 0;
    PyArray_Descr* want = PyArray_DescrFromType(typenum);
    int ok = want && PyArray_CanCastTypeTo(from, want, NPY_SAFE_CASTING);
    Py_XDECREF(want);
    return ok;
}

/* A 0-d argument given as a scalar, converted without making an array: a Python bool, int or float by
 * tir__from_int / tir__from_double, or a numpy scalar of a type that tir__castable takes.  1 when
 * converted; 0 otherwise (no exception set): the caller raises TypeError and the frontend applies its
 * full rule (frontend/function.py check_argument), of which this is the common, cheap part. */
static int tir__scalar_arg(int typenum, PyObject* o, tir__scalar* s) {
    if (PyFloat_CheckExact(o)) return tir__from_double(typenum, PyFloat_AS_DOUBLE(o), s->bytes);
    if (PyLong_CheckExact(o) || PyBool_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        return tir__from_int(typenum, v, s->bytes);
    }
    if (PyArray_IsScalar(o, Generic)) {
        PyArray_Descr* d = PyArray_DescrFromScalar(o);
        PyArray_Descr* want = d && tir__castable(d, typenum) ? PyArray_DescrFromType(typenum) : NULL;
        int ok = want && PyArray_CastScalarToCtype(o, s->bytes, want) == 0;
        Py_XDECREF(want);
        Py_XDECREF(d);
        if (!ok) PyErr_Clear();
        return ok;
    }
    return 0;
}

/* A list or tuple (nested for more dims) for a parameter of its rank: numpy's array of it, whose
 * elements (Python floats, ints or bools) convert one by one as tir__scalar_arg's do.  A new C-contiguous
 * array of the parameter's type, or NULL (no exception set) when numpy makes another dtype of it or an
 * element is left to the frontend. */
static PyObject* tir__sequence_arg(const tir_param* p, PyObject* o) {
    if (!PyList_Check(o) && !PyTuple_Check(o)) return NULL;
    PyArrayObject* raw = (PyArrayObject*)PyArray_FromAny(o, NULL, 0, 0, NPY_ARRAY_CARRAY, NULL);
    if (!raw) {
        PyErr_Clear();
        return NULL;
    }
    int tn = PyArray_TYPE(raw);
    int from_float = tn == NPY_FLOAT64, from_bool = tn == NPY_BOOL, from_int = PyArray_EquivTypenums(tn, NPY_INT64);
    char probe[8]; /* float data goes where a float goes, also when there is none (`[]` is float64) */
    if (PyArray_NDIM(raw) != p->ndim || !(from_float || from_bool || from_int) ||
        (from_float && !tir__from_double(p->typenum, 0.0, probe))) {
        Py_DECREF(raw);
        return NULL;
    }
    if (PyArray_EquivTypenums(tn, p->typenum)) return (PyObject*)raw;
    PyArrayObject* out = (PyArrayObject*)PyArray_EMPTY(p->ndim, PyArray_DIMS(raw), p->typenum, 0);
    const char* src = (const char*)PyArray_DATA(raw);
    npy_intp n = PyArray_SIZE(raw), item = out ? PyArray_ITEMSIZE(out) : 0;
    for (npy_intp k = 0; out && k < n; ++k) {
        char* dst = (char*)PyArray_DATA(out) + k * item;
        int ok = from_float ? tir__from_double(p->typenum, ((const double*)src)[k], dst)
                            : tir__from_int(p->typenum, from_bool ? ((const npy_bool*)src)[k] : ((const int64_t*)src)[k],
                                            dst);
        if (!ok) Py_CLEAR(out);
    }
    Py_DECREF(raw);
    PyErr_Clear(); /* a failed allocation too: the frontend's path reports it */
    return (PyObject*)out;
}

/* b describes a (fresh) C-contiguous array a of rank nd. */
static void tir__fill_contiguous(PyArrayObject* a, int nd, tir_buf* b) {
    b->data = (char*)PyArray_DATA(a);
    b->ndim = nd;
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; --d) {
        b->shape[d] = PyArray_DIMS(a)[d];
        b->strides[d] = s;
        s *= b->shape[d];
    }
}

/* Fill b from the argument o; *owned receives a new reference when a
 * converted copy had to be made, *scalar the value of a scalar argument.
 * 0, or -1 with a Python exception set. */
static int tir__fill_arg(const tir_param* p, int i, PyObject* o, tir_buf* b, PyObject** owned, tir__scalar* scalar) {
    if (!PyArray_Check(o)) {
        if (p->ndim == 0 && tir__scalar_arg(p->typenum, o, scalar)) {
            b->data = scalar->bytes;
            b->ndim = 0;
            return 0;
        }
        PyObject* c = p->ndim > 0 ? tir__sequence_arg(p, o) : NULL;
        if (!c) return tir__arg_type_error(p, i, o);
        *owned = c;
        tir__fill_contiguous((PyArrayObject*)c, p->ndim, b);
        return 0;
    }
    PyArrayObject* a = (PyArrayObject*)o;
    int tn = PyArray_TYPE(a);
    int same = tn == p->typenum || PyArray_EquivTypenums(tn, p->typenum);
    if (PyArray_NDIM(a) != p->ndim || (!same && !tir__castable(PyArray_DESCR(a), p->typenum)))
        return tir__arg_type_error(p, i, o);
    int nd = p->ndim;
    npy_intp item = PyArray_ITEMSIZE(a);
    int ok = same && PyArray_ISALIGNED(a) && PyArray_ISNOTSWAPPED(a);
    const npy_intp* shape = PyArray_DIMS(a);
    const npy_intp* strides = PyArray_STRIDES(a);
    for (int d = 0; d < nd && ok; ++d) {
        b->shape[d] = shape[d];
        if (strides[d] % item == 0) b->strides[d] = strides[d] / item;
        else if (shape[d] <= 1) b->strides[d] = 0;
        else ok = 0;
    }
    if (ok) {
        b->data = (char*)PyArray_DATA(a);
        b->ndim = nd;
        return 0;
    }
    /* a safe upcast, or rare: byte-swapped, misaligned or odd strides -> aligned native C copy */
    PyArray_Descr* want = PyArray_DescrFromType(p->typenum);
    if (!want) return -1;
    PyObject* c = PyArray_FromArray(a, want, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_ENSURECOPY); /* steals want */
    if (!c) return -1;
    *owned = c;
    tir__fill_contiguous((PyArrayObject*)c, nd, b);
    return 0;
}

#define TIR__LOCAL 8

static PyObject* tir__run(const tir_spec* spec, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != spec->nargs) {
        PyErr_Format(PyExc_TypeError, "run() takes %d argument%s, got %zd", spec->nargs, spec->nargs == 1 ? "" : "s",
                     nargs);
        return NULL;
    }
    tir_buf arg_local[TIR__LOCAL], res_local[TIR__LOCAL];
    PyObject* owned_local[TIR__LOCAL];
    PyObject* obj_local[TIR__LOCAL];
    tir__scalar scalar_local[TIR__LOCAL];
    int na = spec->nargs, nr = spec->nresults;
    tir_buf* bufs = arg_local;
    tir_buf* rbufs = res_local;
    PyObject** owned = owned_local;
    PyObject** robjs = obj_local;
    tir__scalar* scalars = scalar_local;
    PyObject* ret = NULL;
    if (na > TIR__LOCAL) {
        bufs = (tir_buf*)PyMem_Malloc(sizeof(tir_buf) * (size_t)na);
        owned = (PyObject**)PyMem_Malloc(sizeof(PyObject*) * (size_t)na);
        scalars = (tir__scalar*)PyMem_Malloc(sizeof(tir__scalar) * (size_t)na);
    }
    if (nr > TIR__LOCAL) {
        rbufs = (tir_buf*)PyMem_Malloc(sizeof(tir_buf) * (size_t)nr);
        robjs = (PyObject**)PyMem_Malloc(sizeof(PyObject*) * (size_t)nr);
    }
    if (!bufs || !owned || !scalars || !rbufs || !robjs) {
        PyErr_NoMemory();
        goto done_free;
    }
    for (int i = 0; i < na; ++i) owned[i] = NULL;
    for (int k = 0; k < nr; ++k) robjs[k] = NULL;

    int64_t work = 0;
    for (int i = 0; i < na; ++i) {
        if (tir__fill_arg(&spec->args[i], i, args[i], &bufs[i], &owned[i], &scalars[i]) < 0) goto done;
        work += tir_numel(&bufs[i]);
    }

    tir_ctx ctx;
    ctx.nthreads = tir__nthreads;
    ctx.failed = TIR_OK;
    ctx.spec = spec;
    ctx.arg_objs = args;
    ctx.arg_owned = owned;
    ctx.result_objs = robjs;
    ctx.result_bufs = rbufs;
    ctx.temps = NULL;
    ctx.tstate = NULL;
    ctx.msg[0] = '\0';

    if (work >= TIR_GIL_RELEASE_MIN) ctx.tstate = PyEval_SaveThread();
    int rc = spec->main(&ctx, bufs, rbufs);
    tir__free_all(&ctx);
    if (ctx.tstate) PyEval_RestoreThread(ctx.tstate);

    if (rc == 0 && ctx.failed == TIR_OK) {
        for (int k = 0; k < nr; ++k)
            if (!robjs[k])
                tir__fail_kind(&ctx, TIR_ERR_INTERNAL, "result %d ('%s') was never allocated (tir_result)", k,
                               spec->results[k].name);
    }
    if (rc != 0 || ctx.failed != TIR_OK) {
        switch (ctx.failed) {
        case TIR_ERR_VALUE: PyErr_SetString(PyExc_ValueError, ctx.msg); break;
        case TIR_ERR_MEMORY: PyErr_SetString(PyExc_MemoryError, ctx.msg); break;
        case TIR_ERR_INTERNAL:
            PyErr_Format(PyExc_RuntimeError, "tensorir internal error in compiled code: %s", ctx.msg);
            break;
        default:
            PyErr_Format(PyExc_RuntimeError, "tensorir internal error: tir_main returned %d without tir_fail", rc);
        }
        goto done;
    }
    if (nr == 1) {
        ret = robjs[0];
        robjs[0] = NULL;
    } else if (nr == 0) {
        ret = Py_None;
        Py_INCREF(ret);
    } else {
        ret = PyTuple_New(nr);
        if (ret)
            for (int k = 0; k < nr; ++k) {
                PyTuple_SET_ITEM(ret, k, robjs[k]);
                robjs[k] = NULL;
            }
    }
done:
    for (int i = 0; i < na; ++i) Py_XDECREF(owned[i]);
    for (int k = 0; k < nr; ++k) Py_XDECREF(robjs[k]);
done_free:
    if (bufs != arg_local) PyMem_Free(bufs);
    if (owned != owned_local) PyMem_Free(owned);
    if (scalars != scalar_local) PyMem_Free(scalars);
    if (rbufs != res_local) PyMem_Free(rbufs);
    if (robjs != obj_local) PyMem_Free(robjs);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* threads and module init                                                  */
/* ------------------------------------------------------------------------ */

#if defined(_OPENMP) && !defined(TIR_BLAS_OWN_THREADS)
/* One thread pool: OpenBLAS hands the jobs of a threaded BLAS call to this callback, which runs them on
 * libgomp's team (the pool of loop.parallel) instead of OpenBLAS's own pthreads.  OpenBLAS's level-3
 * jobs wait for each other, so every job needs its own thread: num_threads(numjobs), never nested.
 * The types are OpenBLAS's openblas_threads_callback (ints in its LP64 and ILP64 builds alike).  Every
 * OpenMP module defines it, with or without BLAS calls of its own, and exports its address as
 * `blas_threads_callback`: runtime/c_module.py installs it in numpy's OpenBLAS too. */
typedef void (*tir__blas_dojob)(int thread_num, void* jobdata, int dojob_data);
static void tir__blas_jobs(int sync, tir__blas_dojob dojob, int numjobs, size_t elsize, void* jobdata, int dojob_data) {
    (void)sync;
    int done = 0;
#pragma omp parallel num_threads(numjobs)
    {
#pragma omp for schedule(static, 1) nowait
        for (int i = 0; i < numjobs; ++i) {
            dojob(omp_get_thread_num(), (char*)jobdata + (size_t)i * elsize, dojob_data);
            __atomic_fetch_add(&done, 1, __ATOMIC_RELEASE);
        }
        /* The caller waits for the other jobs yielding its core, as OpenBLAS's own threads do, rather than in
         * libgomp's barrier spin: on a loaded machine a preempted job may need that core (a loop of small
         * threaded sgemms under load: 12-50 ms -> 7.5-10 ms here, OpenBLAS's own pool 3.3-4.5 ms). */
        if (omp_get_thread_num() == 0)
            while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < numjobs) sched_yield();
    }
}
#define TIR__BLAS_CALLBACK 1
#endif

static void tir__apply_threads(int n) {
    tir__nthreads = n < 1 ? 1 : n;
#ifdef TIR_USE_BLAS
#ifdef TIR__BLAS_CALLBACK
    scipy_openblas_set_threads_callback_function(tir__blas_jobs);
#endif
    if (scipy_openblas_get_num_threads() != tir__nthreads) scipy_openblas_set_num_threads(tir__nthreads);
#endif
}

static PyObject* tir__set_num_threads(PyObject* self, PyObject* arg) {
    (void)self;
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 1 || n > 4096) {
        PyErr_Format(PyExc_ValueError, "set_num_threads: need 1 <= n <= 4096, got %ld", n);
        return NULL;
    }
    tir__apply_threads((int)n);
    Py_RETURN_NONE;
}

static PyObject* tir__get_num_threads(PyObject* self, PyObject* unused) {
    (void)self;
    (void)unused;
    return PyLong_FromLong(tir__nthreads);
}

static PyObject* tir__param_tuple(const tir_param* ps, int n) {
    PyObject* t = PyTuple_New(n);
    if (!t) return NULL;
    for (int i = 0; i < n; ++i) {
        PyArray_Descr* d = PyArray_DescrFromType(ps[i].typenum);
        PyObject* e = d ? Py_BuildValue("(sNi)", ps[i].name, (PyObject*)d, ps[i].ndim) : NULL;
        if (!e) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, e);
    }
    return t;
}

static PyObject* tir__init(struct PyModuleDef* def, const tir_spec* spec) {
    import_array1(NULL);
    PyObject* m = PyModule_Create(def);
    if (!m) return NULL;
    PyObject* a = tir__param_tuple(spec->args, spec->nargs);
    PyObject* r = a ? tir__param_tuple(spec->results, spec->nresults) : NULL;
    PyObject* sig = r ? PyTuple_Pack(2, a, r) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(r);
    if (!sig || PyModule_AddObject(m, "signature", sig) < 0 ||
        PyModule_AddIntConstant(m, "abi_version", TIR_ABI_VERSION) < 0) {
        Py_XDECREF(sig);
        Py_DECREF(m);
        return NULL;
    }
#ifdef TIR__BLAS_CALLBACK
    PyObject* cb = PyLong_FromVoidPtr((void*)tir__blas_jobs);
    int added = cb && PyModule_AddObjectRef(m, "blas_threads_callback", cb) == 0;
    Py_XDECREF(cb);
    if (!added) {
        Py_DECREF(m);
        return NULL;
    }
#endif
#ifdef _OPENMP
    tir__apply_threads(omp_get_max_threads());
#else
    tir__apply_threads(1);
#endif
    return m;
}

#define TIR_MODULE(main_fn, args_table, results_table)                                                            \
    static const tir_spec tir__spec = {main_fn, args_table, TIR_COUNT(args_table), results_table,                  \
                                       TIR_COUNT(results_table)};                                                  \
    static PyObject* tir__run_py(PyObject* self, PyObject* const* a, Py_ssize_t n) {                               \
        (void)self;                                                                                                \
        return tir__run(&tir__spec, a, n);                                                                         \
    }                                                                                                              \
    static PyMethodDef tir__methods[] = {                                                                          \
        {"run", (PyCFunction)(void (*)(void))tir__run_py, METH_FASTCALL, "run(*arrays): call the compiled function"}, \
        {"set_num_threads", tir__set_num_threads, METH_O, "threads of parallel loops and BLAS"},                   \
        {"get_num_threads", tir__get_num_threads, METH_NOARGS, "threads of parallel loops and BLAS"},              \
        {NULL, NULL, 0, NULL}};                                                                                    \
    static struct PyModuleDef tir__moddef = {PyModuleDef_HEAD_INIT, TIR__STR(TIR_MODNAME),                         \
                                             "a function compiled by tensorir", -1, tir__methods,                  \
                                             NULL, NULL, NULL, NULL};                                              \
    PyMODINIT_FUNC TIR__CAT(PyInit_, TIR_MODNAME)(void);                                                           \
    PyMODINIT_FUNC TIR__CAT(PyInit_, TIR_MODNAME)(void) { return tir__init(&tir__moddef, &tir__spec); }

#endif /* TIR_RUNTIME_H */
