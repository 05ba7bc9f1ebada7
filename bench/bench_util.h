/* bench_util.h: what the benchmark programs share.
 *
 *   a clock, sleeping, medians and percentiles that leave their input alone,
 *   the alternating (ABC, CBA, ...) run order, medians of per-run ratios,
 *   target verdicts and the records scripts/bench turns into the summary of
 *   bench/results.md, and the callback body every implementation calls.
 *
 * Header-only, for the programs under bench/ (GNU C: inline asm barriers). */
#ifndef QOMNOTIFY_BENCH_UTIL_H
#define QOMNOTIFY_BENCH_UTIL_H
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BARRIER() __asm__ __volatile__("" ::: "memory")
/* Let the compiler assume any BARRIER() may read or write *p, so no
 * implementation gets its list head hoisted out of a timing loop. */
#define ESCAPE(p) __asm__ __volatile__("" : : "g"(p) : "memory")
#define BENCH_NOINLINE __attribute__((noinline))

#define BENCH_MAX_REPS 64

static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void sleep_ns(long ns)
{
    struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
    nanosleep(&ts, NULL);
}

/* Sleep until the CLOCK_MONOTONIC time `t_ns` (absolute). */
static inline void sleep_until_ns(double t_ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(t_ns / 1e9);
    ts.tv_nsec = (long)(t_ns - (double)ts.tv_sec * 1e9);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n), n <= BENCH_MAX_REPS; v is left as it was. */
static inline double median(const double *v, int n)
{
    double tmp[BENCH_MAX_REPS];
    if (n <= 0)
        return 0;
    if (n > BENCH_MAX_REPS)
        n = BENCH_MAX_REPS;
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* The median of the per-run ratios a[r] / b[r]: a drift in the machine's
 * speed between runs moves both sides of each ratio alike. */
static inline double median_ratio(const double *a, const double *b, int n)
{
    double r[BENCH_MAX_REPS];
    int i;
    if (n > BENCH_MAX_REPS)
        n = BENCH_MAX_REPS;
    for (i = 0; i < n; i++)
        r[i] = a[i] / b[i];
    return median(r, n);
}

/* The p-th percentile (0..100) of v[0..n), nearest rank; sorts v. */
static inline double percentile(double *v, int n, double p)
{
    int k;
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    k = (int)((p / 100.0) * n + 0.999999) - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return v[k];
}

/* Which of n implementations runs k-th in repetition r: forward on even
 * repetitions, backward on odd ones (ABC CBA ABC ...), so that no
 * implementation always runs first, or always right after another. */
static inline int bench_order(int r, int k, int n)
{
    return (r & 1) ? n - 1 - k : k;
}

#define BENCH_MET "met"
#define BENCH_NOT_MET "NOT MET"
#define BENCH_NOT_MEASURED "not measured"

static inline const char *verdict(int ok) { return ok ? BENCH_MET : BENCH_NOT_MET; }

/* Records for the summary table of bench/results.md: one line per target,
 * "figure<TAB>measured<TAB>target<TAB>verdict", appended to the file named
 * by --record (nothing when none was given). */
static FILE *bench__records __attribute__((unused));

static inline void bench_record_open(const char *path)
{
    if (path != NULL && (bench__records = fopen(path, "a")) == NULL)
        perror(path);
}

static inline void bench_record_close(void)
{
    if (bench__records != NULL)
        fclose(bench__records);
    bench__records = NULL;
}

/* Record one target. `measured_fmt` is printf-style. Returns `verdict_s`,
 * so a caller can print it in its own table too. */
static inline const char *bench_target(const char *figure, const char *target,
                                       const char *verdict_s, const char *measured_fmt, ...)
{
    if (bench__records != NULL) {
        va_list ap;
        fprintf(bench__records, "%s\t", figure);
        va_start(ap, measured_fmt);
        vfprintf(bench__records, measured_fmt, ap);
        va_end(ap);
        fprintf(bench__records, "\t%s\t%s\n", target, verdict_s);
        fflush(bench__records);
    }
    return verdict_s;
}

/* x with thousands separators ("1,860,928"), into buf. */
static inline const char *bench_grouped(char *buf, size_t cap, double x)
{
    char digits[32];
    long long v = (long long)(x + 0.5);
    size_t n, i, o = 0;
    snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
    n = strlen(digits);
    if (v < 0 && o + 1 < cap)
        buf[o++] = '-';
    for (i = 0; i < n && o + 2 < cap; i++) {
        buf[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n)
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

/* glibc skips the lock prefix of a mutex's atomic instructions while a
 * process has one thread: a mutex would look cheaper than it is in any
 * program that needs one. A thread that only sleeps makes the process
 * multi-threaded for good; each program starts one first. */
static __attribute__((unused)) void *bench__idle(void *arg)
{
    (void)arg;
    for (;;)
        sleep_ns(1000000000L);
    return NULL;
}

static inline __attribute__((unused)) void bench_multithreaded(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, bench__idle, NULL) == 0)
        pthread_detach(t);
}

/* The callback body every implementation calls: a noinline add. */
BENCH_NOINLINE __attribute__((unused)) static void count_add(long *counter)
{
    *counter += 1;
    BARRIER();
}

#endif
