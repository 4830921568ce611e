/* Smallest Hexagon program: echoes its input after a greeting and exits with the input's first byte, proving
 * the freestanding runtime (_start, read/write/exit syscalls) works under the emulator. */
#include "qc_io.h"

int main(void)
{
    static const char greeting[] = "hello from hexagon\n";
    unsigned char code[4];
    if (qc_write_all(greeting, (long)sizeof greeting - 1) != 0) {
        return 100;
    }
    if (qc_read_all(code, 4) != 0) {
        return 101;
    }
    if (qc_write_all(code, 4) != 0) {
        return 102;
    }
    return code[0];
}
