/* int8 fully connected layer decoding compressed weights in order, bit-exact with LiteRT's reference integer
 * FULLY_CONNECTED (rescaled in double), like qc_fully_connected_s8. */
#include "qc_fully_connected_packed_s8.h"
#include "qc_rounding.h"

void qc_fully_connected_packed_s8(const qc_fully_connected_packed_params_t *p, const int8_t *input,
                                  int8_t *output)
{
    int r, o, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *row = input + (long)r * p->in_features;
        qc_weight_cursor_t cursor;
        qc_cursor_start(&cursor, &p->weights);
        for (o = 0; o < p->out_features; ++o) {
            const int channel = p->per_channel ? o : 0;
            int32_t acc = 0;
            qc_cursor_channel(&cursor, o);
            for (i = 0; i < p->in_features; ++i) {
                acc += ((int32_t)row[i] + p->input_offset) * (qc_cursor_next(&cursor) + p->filter_offset);
            }
            if (p->bias != 0) {
                acc += p->bias[o];
            }
            *output++ = (int8_t)qc_rescale_double(acc, p->scale[channel], p->output_offset, p->act_min, p->act_max);
        }
    }
}
