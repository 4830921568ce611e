/* Constant padding. */
#include "qc_pad.h"

void qc_pad_s8(const qc_pad_params_t *p, const int8_t *input, int8_t *output)
{
    int i0, i1, i2, i3;
    for (i0 = 0; i0 < p->out_dims[0]; ++i0) {
        const int s0 = i0 - p->before[0];
        for (i1 = 0; i1 < p->out_dims[1]; ++i1) {
            const int s1 = i1 - p->before[1];
            for (i2 = 0; i2 < p->out_dims[2]; ++i2) {
                const int s2 = i2 - p->before[2];
                for (i3 = 0; i3 < p->out_dims[3]; ++i3) {
                    const int s3 = i3 - p->before[3];
                    int8_t value = p->value;
                    if (s0 >= 0 && s0 < p->in_dims[0] && s1 >= 0 && s1 < p->in_dims[1] && s2 >= 0
                        && s2 < p->in_dims[2] && s3 >= 0 && s3 < p->in_dims[3]) {
                        value = input[(((long)s0 * p->in_dims[1] + s1) * p->in_dims[2] + s2) * p->in_dims[3] + s3];
                    }
                    *output++ = value;
                }
            }
        }
    }
}
