/* The Hexagon freestanding runtime: Linux syscalls through trap0(#1) (number in r6, arguments in r0-r3) for
 * the platform calls of qc_io.h, and the memcpy/memset the compiler may emit calls to (-nostdlib). */
#include <stddef.h>
#include <string.h>
#include "qc_io.h"

enum { QC_SYS_OPENAT = 56, QC_SYS_CLOSE = 57, QC_SYS_READ = 63, QC_SYS_WRITE = 64 };
enum { QC_AT_FDCWD = -100, QC_O_WRONLY_CREAT_TRUNC = 01 | 0100 | 01000, QC_FILE_MODE = 0644 };

static long qc_syscall4(long number, long a, long b, long c, long d)
{
    register long r0 __asm__("r0") = a;
    register long r1 __asm__("r1") = b;
    register long r2 __asm__("r2") = c;
    register long r3 __asm__("r3") = d;
    register long r6 __asm__("r6") = number;
    __asm__ volatile("trap0(#1)" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r3), "r"(r6) : "memory");
    return r0;
}

int qc_open(const char *path, int for_writing)
{
    const long fd = qc_syscall4(QC_SYS_OPENAT, QC_AT_FDCWD, (long)path, for_writing ? QC_O_WRONLY_CREAT_TRUNC : 0,
                                QC_FILE_MODE);
    return fd < 0 ? -1 : (int)fd;
}

void qc_close(int fd)
{
    qc_syscall4(QC_SYS_CLOSE, fd, 0, 0, 0);
}

long qc_sys_read(int fd, void *buffer, long n)
{
    return qc_syscall4(QC_SYS_READ, fd, (long)buffer, n, 0);
}

long qc_sys_write(int fd, const void *buffer, long n)
{
    return qc_syscall4(QC_SYS_WRITE, fd, (long)buffer, n, 0);
}

void *memcpy(void *dst, const void *src, size_t n)
{
    return memmove(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n)
{
    /* volatile keeps the compiler from turning these loops back into calls of themselves */
    volatile unsigned char *d = (volatile unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    size_t i;
    if ((const unsigned char *)d < s) {
        for (i = 0; i < n; ++i) {
            d[i] = s[i];
        }
    } else {
        for (i = n; i > 0; --i) {
            d[i - 1] = s[i - 1];
        }
    }
    return dst;
}

void *memset(void *dst, int value, size_t n)
{
    volatile unsigned char *d = (volatile unsigned char *)dst;
    size_t i;
    for (i = 0; i < n; ++i) {
        d[i] = (unsigned char)value;
    }
    return dst;
}
