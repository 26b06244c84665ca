/*
 * tir_scalar.h -- the scalar helpers of tir_ops.h that kernels call: numpy's integer floor division,
 * remainder and power, float floor division and remainder, NaN-propagating maximum/minimum, sign, and
 * the compensated steps of blocked float sums (see tir_ops.h for their semantics).
 *
 * Portable C99 without includes of its own: tir_ops.h includes it after <math.h> and <stdint.h>; the
 * OpenCL target (backends/opencl.py) puts it in every program after typedefs of the <stdint.h> names
 * and defines of the float32 libm names (OpenCL's math builtins are overloaded).
 */
#ifndef TIR_SCALAR_H
#define TIR_SCALAR_H

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
#ifndef TIR_NO_F64 /* a device without double precision (OpenCL) */
TIR__FLOAT_OPS(double, f64, floor, copysign, fmod, fabs)
#endif

#endif
