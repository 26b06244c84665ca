/*
 * tir_math.h -- branch-free, auto-vectorizable elementwise math for tensorir.
 *
 * All functions are `static inline` plain C99 (+ <stdint.h>, <string.h> for
 * memcpy type punning, <math.h> for fma/rint/sqrt/fabs/copysign, which gcc
 * expands inline).  Selects are written as ternaries on values so gcc
 * if-converts them into blends; there are no tables (no gathers) and no
 * calls left after inlining, so a plain loop such as
 *
 *     for (long i = 0; i < n; ++i) y[i] = tir_expf(-x[i]*x[i]/2)*tir_sinf(x[i]);
 *
 * is auto-vectorized (AVX2: 4 doubles / 8 floats per op).  Generated code
 * may also call a function out of line: runtime/mathlib.py compiles each one
 * once into a small library with its x86 vector-ABI variants (`#pragma omp
 * declare simd`), whose clones vectorize the same body.  Integer selects
 * must also use the bitwise helpers: a plain `c ? a : b` on ints vectorizes
 * with AVX-512 masks but is "control flow in loop" for -march=haswell/znver3.
 *
 * The hot float32 functions (exp, exp2, expm1, log, log2, log10, log1p, sin,
 * cos, tanh, sigmoid, softplus) compute natively in float32 (8 lanes per AVX2
 * vector): Cody-Waite reductions with FMA, float minimax polynomials, 2^k
 * applied in two halves (subnormal / overflow edges).  sin/cos use a float
 * reduction for |x| < 2^17 and an exact float64 Payne-Hanek reduction for
 * larger |x|; both are evaluated for every lane and selected (a branch would
 * stop vectorization), so the float64 path is the main cost of sin/cos.
 * Measured max error over all float32 inputs (stride-7 sweep vs glibc double):
 * expf 1.04, exp2f 1.05, expm1f 1.58, logf 0.87, log2f 1.50, log10f 1.56,
 * log1pf 1.12, sinf 1.58, cosf 1.58, tanhf 2.53, sigmoidf 2.33,
 * softplusf 1.87 ulp.  Underflow: with FTZ/DAZ off (numpy semantics) every
 * mul/fma/div with a subnormal operand or result takes a ~100-cycle microcode
 * assist per vector instruction, so exp/exp2/sigmoid/softplus never feed a
 * subnormal to one: subnormal results are rounded with an add and integer
 * ops (tir__scale_ff), tiny/subnormal inputs are flushed to 0 where the
 * result rounds to 1, and sigmoid/softplus take exp(-|x|) directly for
 * |x| > 28.  The other float32 functions still compute in float64
 * (~1e-9 relative).  Bound: 4 ulp over the whole domain (tests/test_c_math.py).
 * float64 functions use Taylor/minimax kernels accurate to a few ulp.
 *
 * The opencl target includes this header too, on CPU devices (PoCL), where
 * the device library's exp/sin/log1p are scalar calls its work-group
 * vectorizer cannot widen: backends/opencl.py maps fma/rint/fabs/... to
 * clang's builtins (LLVM intrinsics, which do widen) and the bit casts below
 * use OpenCL's as_type.
 *
 * REQUIRED COMPILER FLAGS (the single source of truth; tests use exactly these):
 *
 *     gcc -O3 -march=native -fno-math-errno            (+ -fopenmp for threads)
 *
 *   -fno-math-errno  is required so that sqrt() (used by asin/acos/sqrt) is
 *                    emitted as vsqrtpd instead of a call that sets errno,
 *                    which would block vectorization. It is NOT fast-math:
 *                    IEEE semantics (nan/inf/signed zero/subnormals) are kept.
 *   -O3              enables the loop vectorizer (or -O2 -ftree-vectorize).
 *   -march=native    (or at least -mavx2 -mfma) for vroundpd/FMA/AVX2 ints.
 *
 *   MUST NOT be compiled with -ffast-math, -fassociative-math,
 *   -ffinite-math-only or -funsafe-math-optimizations: the code relies on
 *   exact IEEE rounding (error-free transforms, magic-number rounding) and on
 *   nan/inf comparisons.  FP contraction (gcc's default -ffp-contract=fast)
 *   is fine.
 */
#ifndef TIR_MATH_H
#define TIR_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define TIR_INLINE static inline __attribute__((always_inline))
#else
#define TIR_INLINE static inline
#endif

/* ------------------------------------------------------------------------ */
/* bit helpers                                                              */
/* ------------------------------------------------------------------------ */
#ifdef __OPENCL_VERSION__ /* OpenCL C (the opencl target on a CPU device): as_type instead of memcpy */
TIR_INLINE uint64_t tir__u64(double d) { return as_ulong(d); }
TIR_INLINE double tir__f64(uint64_t u) { return as_double(u); }
#else
TIR_INLINE uint64_t tir__u64(double d) { uint64_t u; memcpy(&u, &d, sizeof u); return u; }
TIR_INLINE double tir__f64(uint64_t u) { double d; memcpy(&d, &u, sizeof d); return d; }
#endif

/* Branch-free selects.  Plain `c ? a : b` lets gcc sink the computation of
 * a or b into a branch, and with the default -ftrapping-math the
 * if-converter then refuses to speculate it ("control flow in loop"); a
 * bitwise select keeps both operands unconditional so the loop vectorizes
 * with only -fno-math-errno. */
#ifdef __OPENCL_VERSION__
TIR_INLINE uint32_t tir__u32(float f) { return as_uint(f); }
TIR_INLINE float tir__f32(uint32_t u) { return as_float(u); }
#else
TIR_INLINE uint32_t tir__u32(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
TIR_INLINE float tir__f32(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
#endif
TIR_INLINE double tir__seld(uint64_t c, double a, double b) {
    uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
    return tir__f64((tir__u64(a) & m) | (tir__u64(b) & ~m));
}
TIR_INLINE float tir__self(uint32_t c, float a, float b) {
    uint32_t m = 0u - (uint32_t)(c != 0);
    return tir__f32((tir__u32(a) & m) | (tir__u32(b) & ~m));
}

#define TIR__MAGIC 0x1.8p52 /* x + MAGIC rounds x to an integer (|x| < 2^51) */
#define TIR__INF (1.0 / 0.0)
#define TIR__NAN (0.0 / 0.0)
#define TIR__LN2 0x1.62e42fefa39efp-1
#define TIR__LN2_HI 0x1.62e42fee00000p-1 /* trailing zeros: n*LN2_HI exact */
#define TIR__LN2_LO 0x1.a39ef35793c76p-33
#define TIR__LOG2E 1.4426950408889634
#define TIR__PIO2 1.5707963267948966
#define TIR__PIO4 0.7853981633974483
#define TIR__PI 3.141592653589793
#define TIR__SQRT2 1.4142135623730951
#define TIR__SQRTH 0x1.6a09e667f3bcdp-1

/* 2^n for an integer-valued double n in [-1022, 1023] */
TIR_INLINE double tir__pow2i(double n) {
    return tir__f64((tir__u64(n + (TIR__MAGIC + 1023.0))) << 52);
}

/* ======================================================================== */
/* float-precision kernels in float64 (relative error ~1e-9 or better)      */
/* ======================================================================== */

/* expm1 on r in [-ln2/2, ln2/2]: rel err ~5e-10 */
TIR_INLINE double tir__expm1_poly_f(double r) {
    double q = 0.00019899376348197245;
    q = fma(q, r, 0.0013933643527719174);
    q = fma(q, r, 0.008333298329871733);
    q = fma(q, r, 0.04166646497606226);
    q = fma(q, r, 0.16666666719460443);
    q = fma(q, r, 0.5000000013462247);
    return fma(r * r, q, r);
}

/* Splits d (|d| <= ~1000, not nan) as d = n*ln2 + r; returns expm1(r) and
 * 2^n in *scale.  2^n is built from the bits of the magic-rounded value. */
TIR_INLINE double tir__exp_split_f(double d, double *scale) {
    double t = d * TIR__LOG2E + TIR__MAGIC;
    double n = t - TIR__MAGIC;
    double r = fma(n, -TIR__LN2, d);
    *scale = tir__f64((tir__u64(t) + 1023u) << 52);
    return tir__expm1_poly_f(r);
}

/* exp(d) for float results: d clamped to [-160, 120] (nan passes through) */
TIR_INLINE double tir__exp_f(double d) {
    d = tir__seld(d < -160.0, -160.0, d);
    d = tir__seld(d > 120.0, 120.0, d);
    double s;
    double em = tir__exp_split_f(d, &s);
    return fma(s, em, s);
}

/* expm1(d), d clamped to [-160, 100] */
TIR_INLINE double tir__expm1_f(double d) {
    d = tir__seld(d < -160.0, -160.0, d);
    d = tir__seld(d > 100.0, 100.0, d);
    double s;
    double em = tir__exp_split_f(d, &s);
    return fma(s, em, s - 1.0);
}

/* log(1+f) for f in [sqrt(1/2)-1, sqrt(2)-1], rel err ~2e-11 */
TIR_INLINE double tir__log1p_red_f(double f) {
    double s = f / (2.0 + f);
    double z = s * s;
    double R = 0.23331378123334617;
    R = fma(R, z, 0.28550780637083306);
    R = fma(R, z, 0.40000122282549794);
    R = fma(R, z, 0.6666666655377551);
    return fma(s * z, R, 2.0 * s);
}

/* Decompose positive normal double u = 2^e * m, m in [sqrt(1/2), sqrt(2)). */
TIR_INLINE double tir__frexp_h(double u, double *e) {
    uint64_t b = tir__u64(u);
    double m = tir__f64((b & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
    double eb = tir__f64((b >> 52) | 0x4330000000000000ull) - 0x1p52; /* biased exp */
    int big = m > TIR__SQRT2;
    double mh = 0.5 * m;
    m = tir__seld(big, mh, m);
    *e = eb - (big ? 1022.0 : 1023.0);
    return m;
}

/* log(u) for positive normal finite u (float-level accuracy) */
TIR_INLINE double tir__log_f(double u) {
    double e;
    double m = tir__frexp_h(u, &e);
    return fma(e, TIR__LN2, tir__log1p_red_f(m - 1.0));
}

/* log1p(d) for d > -1 finite (float-level accuracy) */
TIR_INLINE double tir__log1p_f(double d) {
    double u = 1.0 + d, e;
    double m = tir__frexp_h(u, &e);
    /* when e == 0, u = 1+d lies in [sqrt(1/2), sqrt(2)) and f = d exactly;
       otherwise |d| >= 0.29 and 1+d is exact for float inputs. */
    double m1 = m - 1.0;
    double f = tir__seld((e == 0.0), d, m1);
    return fma(e, TIR__LN2, tir__log1p_red_f(f));
}

/* ------------------------------------------------------------------------ */
/* float32 trig: branch-free Payne-Hanek style reduction, exact for every    */
/* float32 (x = M*2^E, M < 2^24).  Bits of 2/pi of weight >= 2^-d contribute  */
/* multiples of 4 quadrants once E >= d+2, so each exponent band uses a       */
/* 159-bit window W_d = frac(2^d*2/pi)*2^-d stored as A+B+C doubles, chosen   */
/* by blends (no table gathers).  x*A is split exactly with an FMA.           */
/* Returns r in radians (|r| <= ~pi/4) and the quadrant (mod 4).             */
/* ------------------------------------------------------------------------ */
TIR_INLINE double tir__trig_reduce_f(double d, uint64_t *quad) {
    double ax = fabs(d);
    double A, B, C;
    A = 0x1.45f306dc9c883p-1; B = -0x1.6b01ec5417056p-55; C = -0x1.6447e493ad4cep-109;
    A = tir__seld(ax >= 0x1p43, 0x1.b727220a94fe1p-23, A);
    B = tir__seld(ax >= 0x1p43, 0x1.d5f47d4d37703p-78, B);
    C = tir__seld(ax >= 0x1p43, 0x1.b6295993c4390p-132, C);
    A = tir__seld(ax >= 0x1p61, 0x1.c882a53f84eb0p-37, A);
    B = tir__seld(ax >= 0x1p61, -0x1.70565911f924fp-91, B);
    C = tir__seld(ax >= 0x1p61, 0x1.2b32788720840p-145, C);
    A = tir__seld(ax >= 0x1p79, 0x1.29fc2757d1f53p-56, A);
    B = tir__seld(ax >= 0x1p79, 0x1.377036d8a5665p-110, B);
    C = tir__seld(ax >= 0x1p79, -0x1.de37df00d74e3p-167, C);
    A = tir__seld(ax >= 0x1p97, 0x1.3abe8fa9a6ee0p-75, A);
    B = tir__seld(ax >= 0x1p97, 0x1.b6c52b3278872p-129, B);
    C = tir__seld(ax >= 0x1p97, 0x1.07f9458eaf7afp-186, C);
    A = tir__seld(ax >= 0x1p115, 0x1.1f534ddc0db63p-92, A);
    B = tir__seld(ax >= 0x1p115, -0x1.a99b0ef1bef80p-146, B);
    C = tir__seld(ax >= 0x1p115, -0x1.ae9c5421443aap-200, C);
    double pa = d * A;                 /* |pa| < 2^43                  */
    double ea = fma(d, A, -pa);        /* exact: d*A = pa + ea         */
    double k = rint(pa * 0.25);
    double ta = fma(k, -4.0, pa);      /* exact: pa mod 4, in [-2, 2]  */
    double lo = fma(d, B, ea);         /* |lo| < 2^-9; d*C < 2^-65 is  */
    (void)C;                           /* below lo's rounding: unused  */
    double q = rint(ta + lo);
    double r = (ta - q) + lo;          /* ta - q exact                 */
    *quad = tir__u64(q + TIR__MAGIC);  /* low bits hold q mod 4        */
    return r * TIR__PIO2;
}

/* ======================================================================== */
/* float32-native kernels (8 lanes per AVX2 vector, no float64 round trip)  */
/* ======================================================================== */
/* Constants: C_HI + C_LO (+ C_L2) are float splits of the exact constant.   */
#define TIR__MAGICF 0x1.8p23f /* x + MAGICF rounds x to an integer, |x| < 2^22 */
#define TIR__MAGICF_BITS 0x4b400000u
#define TIR__LN2F_HI 0x1.62e430p-1f
#define TIR__LN2F_LO -0x1.05c610p-29f
#define TIR__LOG2EF 0x1.715476p+0f
#define TIR__LOG2EF_LO 0x1.4ae0c0p-26f
#define TIR__PIO2F_1 0x1.921fb6p+0f
#define TIR__PIO2F_2 -0x1.777a5cp-25f
#define TIR__PIO2F_3 -0x1.ee59dap-50f
#define TIR__TWOOPIF 0x1.45f306p-1f
#define TIR__INFF (1.0f / 0.0f)
#define TIR__NANF (0.0f / 0.0f)

TIR_INLINE uint32_t tir__selu(uint32_t c, uint32_t a, uint32_t b) {
    uint32_t m = 0u - (uint32_t)(c != 0);
    return (a & m) | (b & ~m);
}
TIR_INLINE float tir__minf(float a, float b) { return tir__self(a > b, b, a); }
TIR_INLINE float tir__maxf(float a, float b) { return tir__self(a < b, b, a); }

/* exp(r) - 1 for |r| <= ln2/2 (+ a little): minimax degree 6,
   rel err 2^-25.8 with these float coefficients */
TIR_INLINE float tir__expm1_poly_ff(float r) {
    float q = 1.388252e-03f;
    q = fmaf(q, r, 8.366527e-03f);
    q = fmaf(q, r, 4.16672e-02f);
    q = fmaf(q, r, 1.6666543e-01f);
    q = fmaf(q, r, 4.9999997e-01f);
    return fmaf(r * r, q, r);
}

/* Cody-Waite: x = n*ln2 + r, |r| <= ~0.347, r accurate to ~2^-24 |r| for
   |x| < 2^13 (n*LN2F_HI + r is exact by FMA since |r| < 2^-1).  Returns r;
   *n receives the integer n (from the bits of the magic-rounded value). */
TIR_INLINE float tir__exp_reduce_ff(float x, int32_t *n) {
    float t = fmaf(x, TIR__LOG2EF, TIR__MAGICF);
    float nf = t - TIR__MAGICF;
    *n = (int32_t)(tir__u32(t) - TIR__MAGICF_BITS);
    float r = fmaf(nf, -TIR__LN2F_HI, x);
    return fmaf(nf, -TIR__LN2F_LO, r);
}

/* 2^n as a float for n in [-126, 127] */
TIR_INLINE float tir__pow2if(int32_t n) { return tir__f32((uint32_t)(n + 127) << 23); }

/* (1 + p) * 2^n for n in [-151, 129], p in ~[-0.3, 0.42], without any
   floating-point operation on a subnormal value: with FTZ/DAZ off, a
   mul/fma/div with a subnormal operand or result costs a microcode assist
   (~100+ cycles per vector instruction; adds, compares, min/max and blends
   are free).  2^n is applied in two halves, w = (1+p) 2^n1 (one FMA, always
   normal) times s2 = 2^n2, n1 = floor(n/2), n2 = n - n1.
   - Normal (or inf) results: w * s2, one rounding.
   - Subnormal results, i.e. w < c = 2^(-126-n2) (c is 2^-126 in w's scale):
     w + c rounds w to the multiples of ulp(c), which is the subnormal
     quantum 2^-149 in the result's scale (round-to-nearest-even), and
     bits(w + c) - bits(c) is exactly the result's bit pattern (0x00800000
     when it rounds up to 2^-126; 0 below 2^-150).  Double rounding (w, then
     the quantum) adds < 0.5 result ulp.  These lanes multiply max(w, c)
     instead, so that the discarded product stays normal.
   For n2 >= 1 the bits (1 - n2) << 23 give c <= 0 (or -inf), never nan:
   w < c is false there. */
TIR_INLINE float tir__scale_ff(float p, int32_t n) {
    int32_t n1 = n >> 1, n2 = n - n1;
    float s1 = tir__pow2if(n1), s2 = tir__pow2if(n2);
    float w = fmaf(s1, p, s1);
    uint32_t bc = 0x40000000u - tir__u32(s2);          /* c = 2^(-126 - n2) */
    float c = tir__f32(bc);
    /* w > 0 (or nan), so signed integer order of the bits is float order */
    int32_t iw = (int32_t)tir__u32(w), ic = (int32_t)bc;
    int32_t imax = iw > ic ? iw : ic;                    /* max(w, c): vpmaxsd */
    float sub = tir__f32(tir__u32(w + c) - bc);
    return tir__self(iw < ic, sub, tir__f32((uint32_t)imax) * s2);
}

/* exp(x) for any non-nan float x (clamped to [-104, 89]: results 0 / inf).
   |x| < 2^-26 (incl. subnormal x) is replaced by 0: exp(x) rounds to 1, and
   r*r would otherwise be subnormal. */
TIR_INLINE float tir__exp_ff(float x) {
    x = tir__maxf(x, -104.0f);
    x = tir__minf(x, 89.0f);
    int32_t ax = (int32_t)(tir__u32(x) & 0x7fffffffu);
    x = tir__f32(tir__selu(ax < 0x32800000, 0u, tir__u32(x)));
    int32_t n;
    float r = tir__exp_reduce_ff(x, &n);
    return tir__scale_ff(tir__expm1_poly_ff(r), n);
}

/* expm1(x) for non-nan x; x clamped to [-40, 89] (results -1 / inf).
   2^n p + (2^n - 1) is evaluated as 2 * fma(2^(n-1), p, 2^(n-1) - 1/2):
   one rounding, and 2^(n-1) stays finite for n = 128. */
TIR_INLINE float tir__expm1_ff(float x) {
    x = tir__maxf(x, -40.0f);
    x = tir__minf(x, 89.0f);
    int32_t n;
    float r = tir__exp_reduce_ff(x, &n);
    float p = tir__expm1_poly_ff(r);
    float h = tir__pow2if(n - 1);
    return 2.0f * fmaf(h, p, h - 0.5f);
}

/* log(1+f) - f for f in [sqrt(1/2)-1, sqrt(2)-1]: f^2 * P(f), minimax
   degree 10, rel err 2^-27.5 (relative to log(1+f)) */
TIR_INLINE float tir__log1p_tail_ff(float f) {
    float P = -7.621857e-02f;
    P = fmaf(P, f, 1.2904496e-01f);
    P = fmaf(P, f, -1.3242985e-01f);
    P = fmaf(P, f, 1.4181814e-01f);
    P = fmaf(P, f, -1.6609082e-01f);
    P = fmaf(P, f, 2.0001975e-01f);
    P = fmaf(P, f, -2.5001583e-01f);
    P = fmaf(P, f, 3.3333325e-01f);
    P = fmaf(P, f, -4.9999988e-01f);
    return (f * f) * P;
}

/* Split positive normal finite u = 2^k * m, m in [sqrt(1/2), sqrt(2)):
   returns m - 1 (exact), k in *k. */
TIR_INLINE float tir__log_split_ff(float u, int32_t *k) {
    uint32_t iu = tir__u32(u);
    int32_t kk = (int32_t)(iu - 0x3f3504f3u) >> 23;
    *k = kk;
    return tir__f32(iu - ((uint32_t)kk << 23)) - 1.0f;
}

/* k*ln2 + log(1+f) + c, |c| << |log(1+f)| a small additive correction */
TIR_INLINE float tir__log_join_ff(int32_t k, float f, float c) {
    float kf = (float)k;
    float lo = fmaf(kf, TIR__LN2F_LO, tir__log1p_tail_ff(f) + c);
    return fmaf(kf, TIR__LN2F_HI, f + lo);
}

/* log(1+x) for x > -1 finite.  u = 1+x is rounded; its exact error
   c = x - (u-1) enters as c/u = c 2^-k / m ~ c 2^-k (1-f). */
TIR_INLINE float tir__log1p_ff(float x) {
    float u = 1.0f + x;
    int32_t k;
    float f = tir__log_split_ff(u, &k);
    float c = x - (u - 1.0f);
    int32_t kc = (int32_t)tir__selu(k < 126, (uint32_t)k, 126u); /* c/u negligible beyond */
    float cs = c * tir__pow2if(-kc);
    cs = fmaf(-cs, f, cs);
    return tir__log_join_ff(k, f, cs);
}

/* ------------------------------------------------------------------------ */
/* float32 exp family                                                       */
/* ------------------------------------------------------------------------ */
TIR_INLINE float tir_expf(float x) {
    float r = tir__exp_ff(x);
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

TIR_INLINE float tir_exp2f(float x) {
    /* |x| < 2^-26 (incl. subnormals) -> 0: exp2(x) rounds to 1, and d*ln2
       would multiply a subnormal */
    int32_t ax = (int32_t)(tir__u32(x) & 0x7fffffffu);
    float c = tir__f32(tir__selu(ax < 0x32800000, 0u, tir__u32(x)));
    c = tir__maxf(c, -151.0f);
    c = tir__minf(c, 129.0f);
    float t = c + TIR__MAGICF;
    float nf = t - TIR__MAGICF;
    int32_t n = (int32_t)(tir__u32(t) - TIR__MAGICF_BITS);
    float d = c - nf;                                   /* exact, |d| <= 1/2 */
    float r = fmaf(d, TIR__LN2F_HI, d * TIR__LN2F_LO);  /* d*ln2            */
    float res = tir__scale_ff(tir__expm1_poly_ff(r), n);
    float xn = x + x;
    return tir__self(x != x, xn, res);
}

TIR_INLINE float tir_expm1f(float x) {
    float r = tir__expm1_ff(x);
    float xn = x + x;
    return tir__self(((x != x) | (x == 0.0f)), xn, r);
}

/* ------------------------------------------------------------------------ */
/* float32 log family                                                       */
/* ------------------------------------------------------------------------ */
/* x outside (0, inf): -inf for +-0, nan for x < 0 (and -inf), x+x otherwise */
TIR_INLINE float tir__log_special_ff(float x) {
    float xn = x + x;
    float s = tir__self(x < 0.0f, TIR__NANF, xn);
    return tir__self(x == 0.0f, -TIR__INFF, s);
}

/* positive normal m-1 and exponent of x > 0 (subnormals scaled by 2^24) */
TIR_INLINE float tir__log_arg_ff(float x, int32_t *k) {
    int sub = x < 0x1p-126f;
    float xs = x * 0x1p24f;
    float u = tir__self(sub, xs, x);
    float f = tir__log_split_ff(u, k);
    *k -= (int32_t)(24u & (0u - (uint32_t)sub));
    return f;
}

TIR_INLINE float tir_logf(float x) {
    int32_t k;
    float f = tir__log_arg_ff(x, &k);
    float r = tir__log_join_ff(k, f, 0.0f);
    int ok = (x > 0.0f) & (x < TIR__INFF);
    return tir__self(ok, r, tir__log_special_ff(x));
}

TIR_INLINE float tir_log2f(float x) {
    int32_t k;
    float f = tir__log_arg_ff(x, &k);
    float l = f + tir__log1p_tail_ff(f); /* log(m), rel err ~2^-24 */
    float r = fmaf(l, TIR__LOG2EF, fmaf(l, TIR__LOG2EF_LO, (float)k));
    int ok = (x > 0.0f) & (x < TIR__INFF);
    return tir__self(ok, r, tir__log_special_ff(x));
}

TIR_INLINE float tir_log10f(float x) {
    int32_t k;
    float f = tir__log_arg_ff(x, &k);
    float l = f + tir__log1p_tail_ff(f);
    float kf = (float)k;
    /* k log10(2) + l / ln(10), constants split hi + lo */
    float lo = fmaf(kf, -0x1.ec10c0p-27f, l * -0x1.5b235ep-27f);
    float r = fmaf(kf, 0x1.344136p-2f, fmaf(l, 0x1.bcb7b2p-2f, lo));
    int ok = (x > 0.0f) & (x < TIR__INFF);
    return tir__self(ok, r, tir__log_special_ff(x));
}

TIR_INLINE float tir_log1pf(float x) {
    int ok = (x > -1.0f) & (x < TIR__INFF) & (x != 0.0f);
    float r = tir__log1p_ff(tir__self(ok, x, 1.0f));
    float xn = x + x;                           /* +-0, +inf, nan */
    float s = tir__self(x < -1.0f, TIR__NANF, xn);
    s = tir__self(x == -1.0f, -TIR__INFF, s);
    return tir__self(ok, r, s);
}

/* ------------------------------------------------------------------------ */
/* float32 trig.                                                            */
/* |x| < TIR__TRIG_FAST_MAX: float Cody-Waite with FMA, x - q*(P1+P2+P3):   */
/*   x - q*P1 is exact (|q| < 2^17), the rest is rounded to ~2^-24 |r|.      */
/* larger |x|: exact float64 Payne-Hanek (below), chosen by a select, so     */
/*   both run for every lane (keeps the loop vectorizable).                  */
/* r is returned in float, |r| <= ~0.79; quadrant in the low 2 bits of *q.  */
/* ------------------------------------------------------------------------ */
#define TIR__TRIG_FAST_MAX 0x1p17f
/* The fast reduction alone: right for |x| < TIR__TRIG_FAST_MAX (inf/nan come out nan in the
   callers). tir_sinf_fast/tir_cosf_fast use it; the C backend runs a kernel with them first and,
   when some argument was beyond the range, runs it again with the exact functions. */
TIR_INLINE float tir__trig_reduce_fast_ff(float x, uint32_t *q) {
    float t = fmaf(x, TIR__TWOOPIF, TIR__MAGICF);
    float qf = t - TIR__MAGICF;
    float r = fmaf(qf, -TIR__PIO2F_1, x);
    r = fmaf(qf, -TIR__PIO2F_2, r);
    *q = tir__u32(t);
    return fmaf(qf, -TIR__PIO2F_3, r);
}
TIR_INLINE float tir__trig_reduce_ff(float x, uint32_t *q) {
    uint32_t qf;
    float r = tir__trig_reduce_fast_ff(x, &qf);
    /* exact path for large |x| (float64) */
    uint64_t qd;
    double rd = tir__trig_reduce_f((double)x, &qd);
    int fast = fabsf(x) < TIR__TRIG_FAST_MAX;
    *q = tir__selu(fast, qf, (uint32_t)qd);
    return tir__self(fast, r, (float)rd);
}

/* sin(r), cos(r) for |r| <= 0.8: minimax, rel err 2^-26.8 / 2^-30 */
TIR_INLINE float tir__sin_poly_ff(float r) {
    float z = r * r;
    float S = -1.9503069e-04f;
    S = fmaf(S, z, 8.332071e-03f);
    S = fmaf(S, z, -1.6666654e-01f);
    return fmaf(r * z, S, r);
}
TIR_INLINE float tir__cos_poly_ff(float r) {
    float z = r * r;
    float C = 2.4419196e-05f;
    C = fmaf(C, z, -1.3887194e-03f);
    C = fmaf(C, z, 4.166664e-02f);
    return fmaf(z * z, C, fmaf(z, -0.5f, 1.0f));
}
/* v with its sign flipped where bit 1 of q is set */
TIR_INLINE float tir__negq(float v, uint32_t q) {
    return tir__f32(tir__u32(v) ^ ((q & 2u) << 30));
}

TIR_INLINE float tir__sinf_of(float x, float r, uint32_t q) {
    float s = tir__sin_poly_ff(r), c = tir__cos_poly_ff(r);
    float v = tir__negq(tir__self((q & 1u), c, s), q);
    v = tir__self((x == 0.0f), x, v);
    float xx = x - x;
    return tir__self((xx != 0.0f), xx, v); /* inf/nan -> nan */
}
TIR_INLINE float tir__cosf_of(float x, float r, uint32_t q) {
    float s = tir__sin_poly_ff(r), c = tir__cos_poly_ff(r);
    float v = tir__negq(tir__self((q & 1u), s, c), q + 1u);
    float xx = x - x;
    return tir__self((xx != 0.0f), xx, v);
}
TIR_INLINE float tir_sinf(float x) {
    uint32_t q;
    float r = tir__trig_reduce_ff(x, &q);
    return tir__sinf_of(x, r, q);
}
TIR_INLINE float tir_cosf(float x) {
    uint32_t q;
    float r = tir__trig_reduce_ff(x, &q);
    return tir__cosf_of(x, r, q);
}
/* Only for |x| < TIR_TRIG_FAST_MAX (see tir__trig_reduce_fast_ff). */
#define TIR_TRIG_FAST_MAX TIR__TRIG_FAST_MAX
TIR_INLINE float tir_sinf_fast(float x) {
    uint32_t q;
    float r = tir__trig_reduce_fast_ff(x, &q);
    return tir__sinf_of(x, r, q);
}
TIR_INLINE float tir_cosf_fast(float x) {
    uint32_t q;
    float r = tir__trig_reduce_fast_ff(x, &q);
    return tir__cosf_of(x, r, q);
}

/* tanf stays in float64 (exact reduction, s/c in double): the float
   kernels' ~1 ulp sin/cos would compound to ~3.6 ulp in the quotient. */
/* sin(r) and cos(r), |r| <= pi/4, rel err ~2e-11 / ~1e-12 */
TIR_INLINE double tir__sin_poly_f(double r) {
    double z = r * r;
    double S = 2.7249964090132423e-06;
    S = fma(S, z, -0.0001984008708969461);
    S = fma(S, z, 0.00833333187553021);
    S = fma(S, z, -0.16666666663858068);
    return fma(r * z, S, r);
}
TIR_INLINE double tir__cos_poly_f(double r) {
    double z = r * r;
    double Cc = -2.7300986553803143e-07;
    Cc = fma(Cc, z, 2.480060063033302e-05);
    Cc = fma(Cc, z, -0.0013888887672603451);
    Cc = fma(Cc, z, 0.04166666666432324);
    return fma(z * z, Cc, fma(z, -0.5, 1.0));
}

TIR_INLINE float tir_tanf(float x) {
    uint64_t q;
    double r = tir__trig_reduce_f((double)x, &q);
    double s = tir__sin_poly_f(r), c = tir__cos_poly_f(r);
    double nc = -c;
    double num = tir__seld((q & 1), nc, s);
    double den = tir__seld((q & 1), s, c);
    float res = (float)(num / den);
    res = tir__self((x == 0.0f), x, res);
    float xx = x - x;
    return tir__self((xx != 0.0f), xx, res);
}

/* ------------------------------------------------------------------------ */
/* float32 hyperbolic / activation functions                                */
/* ------------------------------------------------------------------------ */
TIR_INLINE float tir_tanhf(float x) {
    float a = tir__minf(fabsf(x), 10.0f);   /* tanh(10) rounds to 1 */
    float e = tir__expm1_ff(2.0f * a);
    float r = copysignf(e / (e + 2.0f), x);
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

TIR_INLINE float tir_sinhf(float x) {
    double a = fabs((double)x);
    a = tir__seld(a > 100.0, 100.0, a);
    double e = tir__expm1_f(a);
    float r = (float)copysign(0.5 * (e + e / (e + 1.0)), (double)x);
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

TIR_INLINE float tir_coshf(float x) {
    double a = fabs((double)x);
    a = tir__seld(a > 100.0, 100.0, a);
    double e = tir__exp_f(a);
    float r = (float)(0.5 * (e + 1.0 / e));
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

/* sigmoid(x) = e/(1+e) (x < 0) or 1/(1+e) with e = exp(-|x|) <= 1.
   For |x| > 28 (e < 2^-40, possibly subnormal) the result is e (x < 0) or
   1 (x > 0); the division then sees e = 0 so that it never takes a
   subnormal operand (a microcode assist per vector with FTZ/DAZ off). */
TIR_INLINE float tir_sigmoidf(float x) {
    float e = tir__exp_ff(-fabsf(x));
    int far = fabsf(x) > 28.0f;
    float es = tir__self(far, 0.0f, e);
    float num = tir__self(x < 0.0f, es, 1.0f);
    float r = num / (1.0f + es);
    r = tir__self(far & (x < 0.0f), e, r);
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

/* softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)).
   |x| > 28 (e = exp(-|x|) < 2^-40): log1p(e) = e to float precision, so the
   result is e (x < 0) or x (x > 0); log1p then gets 0, never a subnormal. */
TIR_INLINE float tir_softplusf(float x) {
    float e = tir__exp_ff(-fabsf(x));
    int far = fabsf(x) > 28.0f;
    float es = tir__self(far, 0.0f, e);
    float r = tir__maxf(x, 0.0f) + tir__log1p_ff(es);
    r = tir__self(far & (x < 0.0f), e, r);
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

/* ------------------------------------------------------------------------ */
/* float32 inverse trig                                                     */
/* ------------------------------------------------------------------------ */
/* asin(t) for t in [0, 0.5] given z = t*t; rel err ~6e-11 */
TIR_INLINE double tir__asin_poly_f(double t, double z) {
    double P = 0.03108725648743357;
    P = fma(P, z, 0.0104903078129587);
    P = fma(P, z, 0.02363532610336747);
    P = fma(P, z, 0.030266114655297587);
    P = fma(P, z, 0.04464783934515792);
    P = fma(P, z, 0.07499992033269934);
    P = fma(P, z, 0.16666666687351345);
    return fma(t * z, P, t);
}

TIR_INLINE float tir_asinf(float x) {
    double a = fabs((double)x);
    int small = a <= 0.5;
    double a2 = a * a, h = 0.5 * (1.0 - a);
    h = tir__seld(h < 0.0, 0.0, h);
    double sh = sqrt(h);
    double z = tir__seld(small, a2, h);
    double t = tir__seld(small, a, sh);
    double p = tir__asin_poly_f(t, z);
    double pb = fma(-2.0, p, TIR__PIO2);
    double r = tir__seld(small, p, pb);
    float res = (float)copysign(r, (double)x);
    float xn = (x - x) / (x - x);
    return tir__self(((a > 1.0) | (x != x)), xn, res);
}

TIR_INLINE float tir_acosf(float x) {
    double d = (double)x;
    double a = fabs(d);
    int small = a <= 0.5;
    double a2 = a * a, h = 0.5 * (1.0 - a);
    h = tir__seld(h < 0.0, 0.0, h);
    double sh = sqrt(h);
    double z = tir__seld(small, a2, h);
    double t = tir__seld(small, a, sh);
    double p = tir__asin_poly_f(t, z);
    double rs = TIR__PIO2 - copysign(p, d), rp = 2.0 * p, rn = fma(-2.0, p, TIR__PI);
    double rb = tir__seld(d > 0.0, rp, rn);
    double r = tir__seld(small, rs, rb);
    float res = (float)r;
    float xn = (x - x) / (x - x);
    return tir__self(((a > 1.0) | (x != x)), xn, res);
}

/* atan(t) for t in [0, tan(pi/8)]; rel err ~1e-10 */
TIR_INLINE double tir__atan_poly_f(double t) {
    double z = t * t;
    double P = 0.050542862133747604;
    P = fma(P, z, -0.08627322355070804);
    P = fma(P, z, 0.11071764087325585);
    P = fma(P, z, -0.14284175795203824);
    P = fma(P, z, 0.19999977790828788);
    P = fma(P, z, -0.3333333328110464);
    return fma(t * z, P, t);
}

/* atan(t) for t in [0, 1] */
TIR_INLINE double tir__atan01_f(double t) {
    int mid = t > 0.41421356237309503;
    double tm = (t - 1.0) / (t + 1.0);
    double u = tir__seld(mid, tm, t);
    double p = tir__atan_poly_f(u);
    double pm = TIR__PIO4 + p;
    return tir__seld(mid, pm, p);
}

TIR_INLINE float tir_atanf(float x) {
    double a = fabs((double)x);
    int inv = a > 1.0;
    double ia = 1.0 / a;
    double t = tir__seld(inv, ia, a);
    double p = tir__atan01_f(t);
    double pi_ = TIR__PIO2 - p;
    p = tir__seld(inv, pi_, p);
    float r = (float)copysign(p, (double)x);
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

TIR_INLINE float tir_atan2f(float y, float x) {
    double dy = (double)y, dx = (double)x;
    double ay = fabs(dy), ax = fabs(dx);
    int swap = ay > ax;
    double num = tir__seld(swap, ax, ay), den = tir__seld(swap, ay, ax);
    double t = num / tir__seld(den == 0.0, 1.0, den);        /* 0/0 -> 0 */
    t = tir__seld((num == TIR__INF), 1.0, t);                    /* inf/inf -> 1 */
    double p = tir__atan01_f(t);
    double ps = TIR__PIO2 - p;
    p = tir__seld(swap, ps, p);
    double pn = TIR__PI - p;
    p = tir__seld((tir__u64(dx) >> 63), pn, p);        /* x < 0 or x = -0 */
    float r = (float)copysign(p, dy);
    float xy = x + y;
    return tir__self(((x != x) | (y != y)), xy, r);
}

/* ------------------------------------------------------------------------ */
/* float32 erf / erfc                                                       */
/* ------------------------------------------------------------------------ */
/* erfcx(a) = exp(a^2) erfc(a) for a in [0.5, 10.5]: Chebyshev series in
   s = (2u - (ua+ub))/(ub-ua), u = (a-2)/(a+2); rel err ~2e-11 */
#define TIR__CLEN(c) do { double tmp_ = fma(s2, b1, (c) - b2); b2 = b1; b1 = tmp_; } while (0)
TIR_INLINE double tir__erfcx_f(double a) {
    double u = (a - 2.0) / (a + 2.0);
    double s = (2.0 * u - (0.68 - 0.6)) * (1.0 / (0.68 + 0.6));
    double s2 = 2.0 * s, b1 = 0.0, b2 = 0.0;
    TIR__CLEN(-1.2753706977430484e-11);
    TIR__CLEN(-2.081950614830023e-10);
    TIR__CLEN(4.7440085051944374e-11);
    TIR__CLEN(1.0393677632918796e-08);
    TIR__CLEN(2.530413334285213e-08);
    TIR__CLEN(-5.551084246495237e-07);
    TIR__CLEN(-2.204796825353089e-06);
    TIR__CLEN(4.119193690322481e-05);
    TIR__CLEN(9.343103002064234e-05);
    TIR__CLEN(-0.004915482879163456);
    TIR__CLEN(0.04795284015178908);
    TIR__CLEN(-0.2762243863633663);
    return fma(s, b1, 0.28654703025014755 - b2);
}

/* erf(t)/t for t in [0, 0.5], z = t*t */
TIR_INLINE double tir__erf_small_f(double z) {
    double P = 0.00010823318292716376;
    P = fma(P, z, -0.000850680544757698);
    P = fma(P, z, 0.005223276828287432);
    P = fma(P, z, -0.026866109685755334);
    P = fma(P, z, 0.11283791417943853);
    P = fma(P, z, -0.37612638899241424);
    P = fma(P, z, 1.1283791670954144);
    return P;
}

/* erfc(|x|) for |x| >= 0.5 */
TIR_INLINE double tir__erfc_large_f(double a) {
    a = tir__seld(a > 10.5, 10.5, a);
    a = tir__seld(a < 0.5, 0.5, a);
    return tir__exp_f(-a * a) * tir__erfcx_f(a);
}

TIR_INLINE float tir_erff(float x) {
    double d = (double)x, a = fabs(d);
    double small = d * tir__erf_small_f(d * d);
    double big = copysign(1.0 - tir__erfc_large_f(a), d);
    float r = (float)tir__seld(a < 0.5, small, big);
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

TIR_INLINE float tir_erfcf(float x) {
    double d = (double)x, a = fabs(d);
    double small = 1.0 - d * tir__erf_small_f(d * d);
    double ec = tir__erfc_large_f(a);
    double ec2 = 2.0 - ec;
    double big = tir__seld(d > 0.0, ec, ec2);
    float r = (float)tir__seld(a < 0.5, small, big);
    float xn = x + x;
    return tir__self(x != x, xn, r);
}

/* ------------------------------------------------------------------------ */
/* float32 pow / sqrt                                                       */
/* ------------------------------------------------------------------------ */
TIR_INLINE float tir_powf(float x, float y) {
    double dx = (double)x, dy = (double)y;
    double ax = fabs(dx);
    /* log|x| (finite positive argument; 0 and inf patched below) */
    double lx = tir__log_f(tir__seld(((ax > 0.0) & (ax < TIR__INF)), ax, 1.0));
    lx = tir__seld(ax == 0.0, -TIR__INF, lx);
    lx = tir__seld(ax == TIR__INF, TIR__INF, lx);
    double ylx = dy * lx;
    ylx = tir__seld((ylx != ylx), 0.0, ylx); /* 0*inf; real nans re-inserted below */
    double r = tir__exp_f(ylx);
    /* sign / domain for negative x */
    double hy = 0.5 * dy;
    int yint = rint(dy) == dy;
    int yodd = yint & (rint(hy) != hy);
    double nr = -r;
    r = tir__seld((yodd & (int)(tir__u64(dx) >> 63)), nr, r);
    r = tir__seld(((dx < 0.0) & (dx > -TIR__INF) & !yint), TIR__NAN, r);
    r = tir__seld(((x != x) | (y != y)), TIR__NAN, r);
    r = tir__seld(((ax == 1.0) & (fabs(dy) == TIR__INF)), 1.0, r);
    r = tir__seld(((dy == 0.0) | (dx == 1.0)), 1.0, r);
    return (float)r;
}

TIR_INLINE float tir_sqrtf(float x) { return sqrtf(x); } /* needs -fno-math-errno */

/* ======================================================================== */
/* float64 functions (a few ulp)                                            */
/* ======================================================================== */

/* expm1(r) for |r| <= ln2/2 + eps: Taylor to r^14 */
TIR_INLINE double tir__expm1_poly_d(double r) {
    double q = 1.1470745597729725e-11;
    q = fma(q, r, 1.6059043836821613e-10);
    q = fma(q, r, 2.08767569878681e-09);
    q = fma(q, r, 2.505210838544172e-08);
    q = fma(q, r, 2.755731922398589e-07);
    q = fma(q, r, 2.7557319223985893e-06);
    q = fma(q, r, 2.48015873015873e-05);
    q = fma(q, r, 0.0001984126984126984);
    q = fma(q, r, 0.001388888888888889);
    q = fma(q, r, 0.008333333333333333);
    q = fma(q, r, 0.041666666666666664);
    q = fma(q, r, 0.16666666666666666);
    q = fma(q, r, 0.5);
    return fma(r * r, q, r);
}

/* x = n*ln2 + r with r accurate to ~1 ulp; returns r, n as double, t bits */
TIR_INLINE double tir__exp_reduce_d(double x, double *n) {
    double t = x * TIR__LOG2E + TIR__MAGIC;
    double nn = t - TIR__MAGIC;
    *n = nn;
    return fma(nn, -TIR__LN2_LO, fma(nn, -TIR__LN2_HI, x));
}

TIR_INLINE double tir_exp(double x) {
    double c = tir__seld(x < -746.0, -746.0, x);
    c = tir__seld(c > 710.0, 710.0, c);
    double n;
    double r = tir__exp_reduce_d(c, &n);
    double p = 1.0 + tir__expm1_poly_d(r);
    double n1 = rint(n * 0.5 - 0.25); /* floor(n/2) */
    double res = p * tir__pow2i(n1) * tir__pow2i(n - n1);
    double xn = x + x;
    return tir__seld(x != x, xn, res);
}

TIR_INLINE double tir_expm1(double x) {
    double c = tir__seld(x < -60.0, -60.0, x);
    c = tir__seld(c > 710.0, 710.0, c);
    double n;
    double r = tir__exp_reduce_d(c, &n);
    double em = tir__expm1_poly_d(r);
    double n1 = tir__seld(n > 1000.0, 1000.0, n);
    double s1 = tir__pow2i(n1);
    double res = fma(s1, em, s1 - 1.0) * tir__pow2i(n - n1);
    double xn = x + x;
    return tir__seld(((x != x) | (x == 0.0)), xn, res);
}

/* log(1+f), f in [sqrt(1/2)-1, sqrt(2)-1], plus a small additive term c
   (carried with the low part), returned without the exponent part. */
TIR_INLINE double tir__log1p_red_d(double f, double e, double c) {
    double s = f / (2.0 + f);
    double z = s * s;
    double R = 0.08;
    R = fma(R, z, 0.08695652173913043);
    R = fma(R, z, 0.09523809523809523);
    R = fma(R, z, 0.10526315789473684);
    R = fma(R, z, 0.11764705882352941);
    R = fma(R, z, 0.13333333333333333);
    R = fma(R, z, 0.15384615384615385);
    R = fma(R, z, 0.18181818181818182);
    R = fma(R, z, 0.2222222222222222);
    R = fma(R, z, 0.2857142857142857);
    R = fma(R, z, 0.4);
    R = fma(R, z, 0.6666666666666666);
    R = R * z;
    double hfsq = 0.5 * f * f;
    /* log(1+f) = f - (hfsq - s*(hfsq + R)) */
    double lo = fma(s, hfsq + R, fma(e, TIR__LN2_LO, c));
    return fma(e, TIR__LN2_HI, f - (hfsq - lo));
}

TIR_INLINE double tir_log(double x) {
    int sub = x < 0x1p-1022;
    double xs = x * 0x1p54;
    double u = tir__seld(sub, xs, x);
    u = tir__seld(u > 0.0, u, 1.0);
    u = tir__seld(u < TIR__INF, u, 1.0);
    double e;
    double m = tir__frexp_h(u, &e);
    double es = e - 54.0;
    e = tir__seld(sub, es, e);
    double r = tir__log1p_red_d(m - 1.0, e, 0.0);
    r = tir__seld(x < 0.0, TIR__NAN, r);
    r = tir__seld(x == 0.0, -TIR__INF, r);
    r = tir__seld(x == TIR__INF, TIR__INF, r);
    double xn = x + x;
    return tir__seld(x != x, xn, r);
}

TIR_INLINE double tir_log1p(double x) {
    double d = tir__seld(((x > -1.0) & (x < TIR__INF)), x, 0.0);
    double u = 1.0 + d, e;
    double m = tir__frexp_h(u, &e);
    int e0 = e == 0.0;
    double cc = (d - (u - 1.0)) / u; /* rounding error of 1+d */
    double m1 = m - 1.0;
    double c = tir__seld(e0, 0.0, cc);
    double f = tir__seld(e0, d, m1);
    double r = tir__log1p_red_d(f, e, c);
    r = tir__seld(x < -1.0, TIR__NAN, r);
    r = tir__seld(x == -1.0, -TIR__INF, r);
    r = tir__seld(x == TIR__INF, TIR__INF, r);
    double xn = x + x;
    return tir__seld(((x != x) | (x == 0.0)), xn, r);
}

/* sin/cos double: Cody-Waite with FMA and a 3-part pi/2 (r1 = x - q*P1 is
   exact).  Accurate (~1 ulp) for |x| < 2^50; not for larger |x|. */
TIR_INLINE double tir__trig_reduce_d(double x, uint64_t *quad) {
    double q = rint(x * 0.63661977236758138);
    double r = fma(q, -0x1.921fb54442d18p+0, x);
    r = fma(q, -0x1.1a62633145c07p-54, r);
    r = fma(q, 0x1.f1976b7ed8fbcp-110, r);
    *quad = tir__u64(q + TIR__MAGIC);
    return r;
}
TIR_INLINE double tir__sin_poly_d(double r) {
    double z = r * r;
    double S = 2.8114572543455206e-15;
    S = fma(S, z, -7.647163731819816e-13);
    S = fma(S, z, 1.6059043836821613e-10);
    S = fma(S, z, -2.505210838544172e-08);
    S = fma(S, z, 2.7557319223985893e-06);
    S = fma(S, z, -0.0001984126984126984);
    S = fma(S, z, 0.008333333333333333);
    S = fma(S, z, -0.16666666666666666);
    return fma(r * z, S, r);
}
TIR_INLINE double tir__cos_poly_d(double r) {
    double z = r * r;
    double Cc = -1.5619206968586225e-16;
    Cc = fma(Cc, z, 4.779477332387385e-14);
    Cc = fma(Cc, z, -1.1470745597729725e-11);
    Cc = fma(Cc, z, 2.08767569878681e-09);
    Cc = fma(Cc, z, -2.755731922398589e-07);
    Cc = fma(Cc, z, 2.48015873015873e-05);
    Cc = fma(Cc, z, -0.001388888888888889);
    Cc = fma(Cc, z, 0.041666666666666664);
    double hz = 0.5 * z;
    double w = 1.0 - hz;
    return w + (((1.0 - w) - hz) + z * z * Cc);
}

TIR_INLINE double tir_sin(double x) {
    uint64_t q;
    double r = tir__trig_reduce_d(x, &q);
    double s = tir__sin_poly_d(r), c = tir__cos_poly_d(r);
    double v = tir__seld((q & 1), c, s);
    double nv = -v;
    v = tir__seld((q & 2), nv, v);
    v = tir__seld(x == 0.0, x, v);
    double xx = x - x;
    return tir__seld((xx != 0.0), xx, v);
}

TIR_INLINE double tir_cos(double x) {
    uint64_t q;
    double r = tir__trig_reduce_d(x, &q);
    double s = tir__sin_poly_d(r), c = tir__cos_poly_d(r);
    double v = tir__seld((q & 1), s, c);
    double nv = -v;
    v = tir__seld(((q + 1) & 2), nv, v);
    double xx = x - x;
    return tir__seld((xx != 0.0), xx, v);
}

TIR_INLINE double tir_tanh(double x) {
    double a = fabs(x);
    a = tir__seld(a > 22.0, 22.0, a);
    double e = tir_expm1(2.0 * a);
    double r = copysign(e / (e + 2.0), x);
    double xn = x + x;
    return tir__seld(x != x, xn, r);
}

TIR_INLINE double tir_sigmoid(double x) {
    double r = 1.0 / (1.0 + tir_exp(-x));
    double xn = x + x;
    return tir__seld(x != x, xn, r);
}

TIR_INLINE double tir_softplus(double x) {
    double e = tir_exp(-fabs(x));
    double r = tir__seld(x > 0.0, x, 0.0) + tir_log1p(e);
    double xn = x + x;
    return tir__seld(x != x, xn, r);
}

/* erf double: Taylor series in x^2 for |x| < 1, 1 - exp(-x^2) erfcx(x)
   (Chebyshev fit, abs err ~2e-16) for 1 <= |x| < 6, +-1 beyond. */
TIR_INLINE double tir__erfcx_d(double a) {
    double u = (a - 2.0) / (a + 2.0);
    double s = (2.0 * u - (0.5 - 0x1.5555555555555p-2)) * (1.0 / (0.5 + 0x1.5555555555555p-2));
    double s2 = 2.0 * s, b1 = 0.0, b2 = 0.0;
    TIR__CLEN(4.416232490718319e-15);
    TIR__CLEN(5.515171493396244e-14);
    TIR__CLEN(3.6315831709500236e-13);
    TIR__CLEN(1.682998248685302e-12);
    TIR__CLEN(6.1229516435487296e-12);
    TIR__CLEN(1.8510040993717945e-11);
    TIR__CLEN(4.7935119895304e-11);
    TIR__CLEN(1.0738415688163495e-10);
    TIR__CLEN(2.2144255100047358e-10);
    TIR__CLEN(6.602650584348318e-10);
    TIR__CLEN(1.9551165727212315e-09);
    TIR__CLEN(-2.7521584896895477e-08);
    TIR__CLEN(-2.1769253599577222e-07);
    TIR__CLEN(4.844533333185096e-06);
    TIR__CLEN(2.3304260161012636e-05);
    TIR__CLEN(-0.001372580739618551);
    TIR__CLEN(0.019375488680361937);
    TIR__CLEN(-0.16603573055510656);
    return fma(s, b1, 0.24078150518175545 - b2);
}

TIR_INLINE double tir_erf(double x) {
    double a = fabs(x);
    double z = x * x;
    double P = -2.3784598852774293e-19;
    P = fma(P, z, 4.763348040515068e-18);
    P = fma(P, z, -9.063970842808673e-17);
    P = fma(P, z, 1.6342614095367152e-15);
    P = fma(P, z, -2.7835162072109215e-14);
    P = fma(P, z, 4.4632242632864775e-13);
    P = fma(P, z, -6.7113668551641105e-12);
    P = fma(P, z, 9.422759064650411e-11);
    P = fma(P, z, -1.2290555301717928e-09);
    P = fma(P, z, 1.4807192815879218e-08);
    P = fma(P, z, -1.6365844691234924e-07);
    P = fma(P, z, 1.6462114365889248e-06);
    P = fma(P, z, -1.492565035840625e-05);
    P = fma(P, z, 0.00012055332981789664);
    P = fma(P, z, -0.0008548327023450853);
    P = fma(P, z, 0.005223977625442188);
    P = fma(P, z, -0.026866170645131252);
    P = fma(P, z, 0.11283791670955126);
    P = fma(P, z, -0.37612638903183754);
    double small = fma(x * z, P, x * 1.1283791670955126);
    double ac = tir__seld(a < 1.0, 1.0, a);
    ac = tir__seld(ac > 6.0, 6.0, ac);
    double big = 1.0 - tir_exp(-ac * ac) * tir__erfcx_d(ac);
    big = copysign(tir__seld(a >= 6.0, 1.0, big), x);
    double r = tir__seld(a < 1.0, small, big);
    double xn = x + x;
    return tir__seld((x != x) | (x == 0.0), xn, r);
}

#undef TIR__CLEN

#endif /* TIR_MATH_H */
