/* Test driver of the HVX requantization: reads n, x[n], multiplier[n], shift[n] and the qc_hvx_requant_t
 * records of the n lanes; writes MultiplyByQuantizedMultiplier(x, multiplier, shift) for each lane, computed
 * 32 lanes at a time with HVX (or by the scalar reference in a scalar build). */
#include "qc_driver_io.h"
#include "qc_fixed_point.h"
#include "qc_hvx.h"

#define MAX_LANES 4096

static int32_t x[MAX_LANES] QC_DRIVER_ALIGNED;
static int32_t multiplier[MAX_LANES];
static int32_t shift[MAX_LANES];
static qc_hvx_requant_t records[MAX_LANES / QC_VECTOR_WORDS] QC_DRIVER_ALIGNED;
static int32_t result[MAX_LANES] QC_DRIVER_ALIGNED;

int main(void)
{
    const int n = qc_driver_i32();
    const int vectors = (n + QC_VECTOR_WORDS - 1) / QC_VECTOR_WORDS;
    int i;
    if (n < 0 || n > MAX_LANES || n % QC_VECTOR_WORDS != 0) {
        return 2;
    }
    qc_driver_bytes(x, 4L * n);
    qc_driver_bytes(multiplier, 4L * n);
    qc_driver_bytes(shift, 4L * n);
    qc_driver_bytes(records, (long)sizeof(qc_hvx_requant_t) * vectors);
#if QC_HVX
    for (i = 0; i < vectors; ++i) {
        ((HVX_Vector *)result)[i] = qc_hvx_requantize(((const HVX_Vector *)x)[i], &records[i]);
    }
#else
    (void)records;
    for (i = 0; i < n; ++i) {
        result[i] = qc_requantize(x[i], multiplier[i], shift[i]);
    }
#endif
    qc_driver_put(result, 4L * n);
    return 0;
}
