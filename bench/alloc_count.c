/* alloc_count.c: counting replacements for glibc's allocator entry points
 * (see alloc_count.h). Each forwards to the glibc function of the same
 * name with a __libc_ prefix, which glibc exports for exactly this use. */
#define _GNU_SOURCE
#include "alloc_count.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

static atomic_int counting;
static atomic_long n_allocs, n_frees;
static atomic_llong n_bytes;
static atomic_int seen;   /* a wrapper ran at least once */

static inline void note_alloc(size_t bytes)
{
    atomic_store_explicit(&seen, 1, memory_order_relaxed);
    if (atomic_load_explicit(&counting, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&n_bytes, (long long)bytes, memory_order_relaxed);
    }
}

void *malloc(size_t n)
{
    note_alloc(n);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    note_alloc(n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    note_alloc(n);
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p != NULL && atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&n_frees, 1, memory_order_relaxed);
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    note_alloc(n);
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    note_alloc(n);
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p;
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    note_alloc(n);
    if ((p = __libc_memalign(align, n)) == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t n)
{
    note_alloc(n);
    return __libc_memalign(4096, n);
}

void alloc_count_begin(void)
{
    atomic_store(&n_allocs, 0);
    atomic_store(&n_frees, 0);
    atomic_store(&n_bytes, 0);
    atomic_store(&counting, 1);
}

alloc_stats alloc_count_end(void)
{
    alloc_stats s;
    atomic_store(&counting, 0);
    s.allocs = atomic_load(&n_allocs);
    s.frees = atomic_load(&n_frees);
    s.bytes = atomic_load(&n_bytes);
    return s;
}

int alloc_count_active(void)
{
    char *p;
    atomic_store(&seen, 0);
    p = strdup("x");   /* glibc allocates through the PLT: ours, if interposed */
    free(p);
    return atomic_load(&seen);
}
