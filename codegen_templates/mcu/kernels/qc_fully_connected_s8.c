/* int8 fully connected layer, bit-exact with LiteRT's reference integer FULLY_CONNECTED (which rescales the
 * accumulator in double: round(double(acc) * scale), ties away from zero). */
#include "qc_fully_connected_s8.h"
#include "qc_rounding.h"

void qc_fully_connected_s8(const qc_fully_connected_params_t *p, const int8_t *input, int8_t *output)
{
    int r, o, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *row = input + (long)r * p->in_features;
        for (o = 0; o < p->out_features; ++o) {
            const int8_t *weights = p->filter + (long)o * p->in_features;
            const int channel = p->per_channel ? o : 0;
            int32_t acc = 0;
            for (i = 0; i < p->in_features; ++i) {
                acc += ((int32_t)row[i] + p->input_offset) * ((int32_t)weights[i] + p->filter_offset);
            }
            if (p->bias != 0) {
                acc += p->bias[o];
            }
            *output++ = (int8_t)qc_rescale_double(acc, p->scale[channel], p->output_offset, p->act_min, p->act_max);
        }
    }
}
