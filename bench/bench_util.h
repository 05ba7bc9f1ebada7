/* Shared by the benchmarks: a clock, medians, and compiler barriers. */
#ifndef QOMNOTIFY_BENCH_UTIL_H
#define QOMNOTIFY_BENCH_UTIL_H
#include <stdlib.h>
#include <time.h>

#define BARRIER() __asm__ __volatile__("" ::: "memory")
/* Let the compiler assume any BARRIER() may read or write *p, so no
 * implementation gets its list head hoisted out of a timing loop. */
#define ESCAPE(p) __asm__ __volatile__("" : : "g"(p) : "memory")

static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline const char *verdict(int ok) { return ok ? "met" : "NOT MET"; }

/* The callback body every implementation calls: a noinline add. */
__attribute__((noinline)) static void count_add(long *counter) { *counter += 1; BARRIER(); }

#endif
