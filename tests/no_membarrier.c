/* no_membarrier PROGRAM [ARGS...]: run PROGRAM where the membarrier system
 * call fails with ENOSYS, as on a kernel without it (or a sandbox that
 * filters it), so that notify.h's fallback (full fences on both sides) is
 * what runs. Linux only: a seccomp filter, then exec. Exit status 77 (a
 * skipped test for CTest) where seccomp filters are not allowed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

int main(int argc, char **argv)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { (unsigned short)(sizeof code / sizeof code[0]), code };
    if (argc < 2) {
        fprintf(stderr, "usage: no_membarrier PROGRAM [ARGS...]\n");
        return 2;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("no_membarrier: seccomp unavailable, test skipped");
        return 77;
    }
    if (syscall(__NR_membarrier, 0, 0, 0) != -1 || errno != ENOSYS) {
        fprintf(stderr, "no_membarrier: the filter did not take\n");
        return 2;
    }
    execv(argv[1], argv + 1);
    perror("no_membarrier: exec");
    return 2;
}
