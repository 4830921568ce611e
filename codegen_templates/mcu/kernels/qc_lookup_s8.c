/* Table lookup on int8. */
#include "qc_lookup_s8.h"

void qc_lookup_s8(const qc_lookup_params_t *p, const int8_t *input, int8_t *output)
{
    long i;
    for (i = 0; i < p->count; ++i) {
        output[i] = p->table[(int)input[i] + 128];
    }
}
