/* Test driver of the runtime's division routines: reads n, then n float pairs and n int32 pairs; writes the n
 * float quotients, then the n int32 quotients and remainders (b != 0). */
#include "qc_driver_io.h"

int main(void)
{
    const int n = qc_driver_i32();
    const float *floats = (const float *)qc_driver_array();
    const int32_t *ints = (const int32_t *)qc_driver_array();
    int i;
    for (i = 0; i < n; ++i) {
        const float quotient = floats[2 * i] / floats[2 * i + 1];
        qc_driver_put(&quotient, (long)sizeof quotient);
    }
    for (i = 0; i < n; ++i) {
        const int32_t pair[2] = {ints[2 * i] / ints[2 * i + 1], ints[2 * i] % ints[2 * i + 1]};
        qc_driver_put(pair, (long)sizeof pair);
    }
    return 0;
}
