/* Concatenation on raw bytes. */
#include <string.h>
#include "qc_concat.h"

void qc_concat(const qc_concat_params_t *p, const void *const *inputs, void *output)
{
    uint8_t *out = (uint8_t *)output;
    int o, i;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->num_inputs; ++i) {
            const uint8_t *source = (const uint8_t *)inputs[i] + (long)o * p->run_bytes[i];
            memmove(out, source, (size_t)p->run_bytes[i]);
            out += p->run_bytes[i];
        }
    }
}
