/* The host build's byte I/O (qc_io.h) over POSIX read/write, so the same test programs run without an emulator. */
#include <unistd.h>
#include "qc_io.h"

int qc_read_all(void *buffer, long n)
{
    char *at = (char *)buffer;
    while (n > 0) {
        const long got = (long)read(0, at, (size_t)n);
        if (got <= 0) {
            return -1;
        }
        at += got;
        n -= got;
    }
    return 0;
}

int qc_write_all(const void *buffer, long n)
{
    const char *at = (const char *)buffer;
    while (n > 0) {
        const long put = (long)write(1, at, (size_t)n);
        if (put <= 0) {
            return -1;
        }
        at += put;
        n -= put;
    }
    return 0;
}
