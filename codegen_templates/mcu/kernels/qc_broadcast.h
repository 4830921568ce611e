/* Broadcasting over up to 4 dims for the binary elementwise kernels: an operand's element strides are 0 along
 * the dims it is broadcast over; a cursor walks the output in order and tracks both operands' offsets. */
#ifndef QC_BROADCAST_H
#define QC_BROADCAST_H

typedef struct {
    int dims[4];       /* output shape, padded with leading 1s */
    int lhs_strides[4];
    int rhs_strides[4];
} qc_broadcast_t;

typedef struct {
    int index[4];
    long lhs, rhs;     /* element offsets of the current output element in each operand */
} qc_broadcast_cursor_t;

/* Elements of the output. */
static inline long qc_broadcast_count(const qc_broadcast_t *b)
{
    return (long)b->dims[0] * b->dims[1] * b->dims[2] * b->dims[3];
}

static inline void qc_broadcast_begin(qc_broadcast_cursor_t *c)
{
    c->index[0] = c->index[1] = c->index[2] = c->index[3] = 0;
    c->lhs = c->rhs = 0;
}

/* Move the cursor to the next output element (row-major). */
static inline void qc_broadcast_advance(const qc_broadcast_t *b, qc_broadcast_cursor_t *c)
{
    int d;
    for (d = 3; d >= 0; --d) {
        c->lhs += b->lhs_strides[d];
        c->rhs += b->rhs_strides[d];
        if (++c->index[d] < b->dims[d]) {
            return;
        }
        c->lhs -= (long)b->lhs_strides[d] * b->dims[d];
        c->rhs -= (long)b->rhs_strides[d] * b->dims[d];
        c->index[d] = 0;
    }
}

#endif
