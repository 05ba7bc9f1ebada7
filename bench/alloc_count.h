/* alloc_count.h: counting heap allocations in a benchmark program.
 *
 * alloc_count.c, linked into the program, replaces malloc, calloc, realloc,
 * free and the aligned variants with wrappers that call glibc's own
 * (__libc_malloc, ...) and, between alloc_count_begin() and
 * alloc_count_end(), count calls and requested bytes in every thread. The
 * program is linked with its symbols exported (-rdynamic), so shared
 * libraries, including dlopen()ed ones, call the wrappers too. */
#ifndef QOMNOTIFY_BENCH_ALLOC_COUNT_H
#define QOMNOTIFY_BENCH_ALLOC_COUNT_H

typedef struct alloc_stats {
    long allocs;       /* malloc, calloc, realloc, memalign & co. calls */
    long frees;        /* free() of a non-NULL pointer */
    long long bytes;   /* bytes requested by those allocations */
} alloc_stats;

/* Zero the counters and start counting. */
void alloc_count_begin(void);
/* Stop counting; what was counted since alloc_count_begin(). */
alloc_stats alloc_count_end(void);
/* True when this program's malloc is the counting one (it is when
 * alloc_count.c is linked in and nothing interposed it in turn). */
int alloc_count_active(void);

#endif
