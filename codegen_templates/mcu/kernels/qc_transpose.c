/* Transpose on int8. */
#include "qc_transpose.h"

void qc_transpose_s8(const qc_transpose_params_t *p, const int8_t *input, int8_t *output)
{
    int i0, i1, i2, i3, i4, i5;
    for (i0 = 0; i0 < p->out_dims[0]; ++i0) {
        for (i1 = 0; i1 < p->out_dims[1]; ++i1) {
            for (i2 = 0; i2 < p->out_dims[2]; ++i2) {
                for (i3 = 0; i3 < p->out_dims[3]; ++i3) {
                    for (i4 = 0; i4 < p->out_dims[4]; ++i4) {
                        const long base = (long)i0 * p->source_strides[0] + (long)i1 * p->source_strides[1]
                                          + (long)i2 * p->source_strides[2] + (long)i3 * p->source_strides[3]
                                          + (long)i4 * p->source_strides[4];
                        for (i5 = 0; i5 < p->out_dims[5]; ++i5) {
                            *output++ = input[base + (long)i5 * p->source_strides[5]];
                        }
                    }
                }
            }
        }
    }
}
