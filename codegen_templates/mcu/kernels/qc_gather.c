/* Gather on raw bytes. */
#include <string.h>
#include "qc_gather.h"

void qc_gather(const qc_gather_params_t *p, const void *input, void *output)
{
    const uint8_t *source = (const uint8_t *)input;
    uint8_t *target = (uint8_t *)output;
    int o, i;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0; i < p->count; ++i) {
            memcpy(target, source + ((long)o * p->axis_size + p->indices[i]) * p->inner_bytes,
                   (size_t)p->inner_bytes);
            target += p->inner_bytes;
        }
    }
}
