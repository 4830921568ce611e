/* The host build's byte I/O (qc_io.h) over POSIX read/write, so the same test programs run without an emulator. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <unistd.h>
#include "qc_io.h"

int qc_open(const char *path, int for_writing)
{
    return for_writing ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : open(path, O_RDONLY);
}

void qc_close(int fd)
{
    close(fd);
}

int qc_read_fd(int fd, void *buffer, long n)
{
    char *at = (char *)buffer;
    while (n > 0) {
        const long got = (long)read(fd, at, (size_t)n);
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
        const long put = (long)write(fd, at, (size_t)n);
        if (put <= 0) {
            return -1;
        }
        at += put;
        n -= put;
    }
    return 0;
}
