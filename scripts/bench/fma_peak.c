/* One core's fp32 multiply-add peak: 12 independent chains of 8-wide FMAs (AVX2 + FMA), enough to hide the
 * FMA latency on current x86 cores. Compiled and run by scripts/bench_explain.py for its roofline line.
 * Prints one number: GMAC/s (a multiply-add counted once). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(void) {
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        __m256 acc[12];
        const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
        for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
        const long n = 50000000L;
        double t = now();
        for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], b, c);
        }
        t = now() - t;
        float sink = 0, o[8];
        for (int i = 0; i < 12; i++) { _mm256_storeu_ps(o, acc[i]); sink += o[0]; }
        if (sink == 12345.0f) puts("");  /* keeps the loop */
        double gmac = (double)n * 12 * 8 / t * 1e-9;
        if (gmac > best) best = gmac;
    }
    printf("%.2f\n", best);
    return 0;
}
