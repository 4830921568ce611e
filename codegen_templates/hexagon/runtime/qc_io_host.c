/* The host build's platform calls of qc_io.h over POSIX open/read/write, so the same test programs and harness
 * run without an emulator. */
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

long qc_sys_read(int fd, void *buffer, long n)
{
    return (long)read(fd, buffer, (size_t)n);
}

long qc_sys_write(int fd, const void *buffer, long n)
{
    return (long)write(fd, buffer, (size_t)n);
}
