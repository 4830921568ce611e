/* Byte I/O of the test programs and harnesses, the same on every build: the Hexagon runtime implements it with
 * Linux syscalls (qemu-hexagon user mode), the host build with read/write. */
#ifndef QC_IO_H
#define QC_IO_H

/* Reads exactly n bytes from stdin; returns 0 on success, -1 at end of input or on error. */
int qc_read_all(void *buffer, long n);
/* Writes n bytes to stdout; returns 0 on success, -1 on error. */
int qc_write_all(const void *buffer, long n);

#endif
