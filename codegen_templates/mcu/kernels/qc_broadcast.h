/* Broadcasting over up to 4 dims for the binary elementwise kernels: an operand's element strides are 0 along
 * the dims it is broadcast over. */
#ifndef QC_BROADCAST_H
#define QC_BROADCAST_H

typedef struct {
    int dims[4];       /* output shape, padded with leading 1s */
    int lhs_strides[4];
    int rhs_strides[4];
} qc_broadcast_t;

/* Offsets of output element (i0, i1, i2, i3) in the two operands. */
static inline void qc_broadcast_offsets(const qc_broadcast_t *b, int i0, int i1, int i2, int i3, long *lhs, long *rhs)
{
    *lhs = (long)i0 * b->lhs_strides[0] + (long)i1 * b->lhs_strides[1] + (long)i2 * b->lhs_strides[2]
           + (long)i3 * b->lhs_strides[3];
    *rhs = (long)i0 * b->rhs_strides[0] + (long)i1 * b->rhs_strides[1] + (long)i2 * b->rhs_strides[2]
           + (long)i3 * b->rhs_strides[3];
}

#endif
