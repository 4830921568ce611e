/* An elementwise int8 function as a 256-entry table (the compiler evaluates the op's exact integer semantics,
 * e.g. TFLite's GELU, LOGISTIC, TANH tables or its RSQRT, for every input value). */
#ifndef QC_LOOKUP_S8_H
#define QC_LOOKUP_S8_H

#include <stdint.h>

typedef struct {
    long count;
    const int8_t *table; /* [256], indexed by input + 128 */
} qc_lookup_params_t;

/* Elementwise (in-place safe). */
void qc_lookup_s8(const qc_lookup_params_t *p, const int8_t *input, int8_t *output);

#endif
