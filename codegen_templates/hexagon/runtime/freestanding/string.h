/* The part of <string.h> the kernels use, for the freestanding Hexagon build (-nostdlibinc): the functions are
 * defined in qc_io_hexagon.c. */
#ifndef QC_FREESTANDING_STRING_H
#define QC_FREESTANDING_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int value, size_t n);

#endif
