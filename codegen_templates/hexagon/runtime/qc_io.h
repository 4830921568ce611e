/* Byte I/O of the test programs and harnesses, the same on every build: the Hexagon runtime implements it with
 * Linux syscalls (qemu-hexagon user mode), the host build with POSIX open/read/write. */
#ifndef QC_IO_H
#define QC_IO_H

/* Opens path for reading, or for writing (created or truncated); a file descriptor, or -1. */
int qc_open(const char *path, int for_writing);
/* Closes a file descriptor from qc_open. */
void qc_close(int fd);
/* One read or write system call: bytes moved, 0 at end of input, negative on error (per platform). */
long qc_sys_read(int fd, void *buffer, long n);
long qc_sys_write(int fd, const void *buffer, long n);
/* Reads exactly n bytes from fd; returns 0 on success, -1 at end of input or on error. */
int qc_read_fd(int fd, void *buffer, long n);
/* Writes n bytes to fd; returns 0 on success, -1 on error. */
int qc_write_fd(int fd, const void *buffer, long n);

/* The same on standard input and output. */
static inline int qc_read_all(void *buffer, long n)
{
    return qc_read_fd(0, buffer, n);
}

static inline int qc_write_all(const void *buffer, long n)
{
    return qc_write_fd(1, buffer, n);
}

#endif
