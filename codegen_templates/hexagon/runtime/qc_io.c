/* The byte I/O loops of qc_io.h over each platform's single read and write calls (qc_sys_read/qc_sys_write). */
#include "qc_io.h"

int qc_read_fd(int fd, void *buffer, long n)
{
    char *at = (char *)buffer;
    while (n > 0) {
        const long got = qc_sys_read(fd, at, n);
        if (got <= 0) {
            return -1;
        }
        at += got;
        n -= got;
    }
    return 0;
}

int qc_write_fd(int fd, const void *buffer, long n)
{
    const char *at = (const char *)buffer;
    while (n > 0) {
        const long put = qc_sys_write(fd, at, n);
        if (put <= 0) {
            return -1;
        }
        at += put;
        n -= put;
    }
    return 0;
}
