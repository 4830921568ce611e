/* Cortex-M4 startup for the qemu mps2-an386 board: the vector table at address 0 (initial stack pointer, reset
 * handler), then the reset handler copies .data from flash, zeroes .bss, enables the FPU, opens semihosting
 * I/O and runs main. Part of qcompiler's test harness. */
#include <stdint.h>
#include <stdlib.h>

extern int main(int argc, char **argv);
extern void initialise_monitor_handles(void);

extern uint32_t __stack_top;
extern uint32_t __data_load;
extern uint32_t __data_start;
extern uint32_t __data_end;
extern uint32_t __bss_start;
extern uint32_t __bss_end;

typedef void (*qc_vector_t)(void);

void qc_reset_handler(void);
void qc_fault_handler(void);

__attribute__((section(".vectors"), used)) const qc_vector_t qc_vectors[16] = {
    (qc_vector_t)(uintptr_t)&__stack_top, qc_reset_handler, qc_fault_handler, qc_fault_handler,
    qc_fault_handler, qc_fault_handler, qc_fault_handler, 0, 0, 0, 0, qc_fault_handler, qc_fault_handler, 0,
    qc_fault_handler, qc_fault_handler,
};

void qc_fault_handler(void)
{
    exit(99);
}

void qc_reset_handler(void)
{
    uint32_t *source = &__data_load;
    uint32_t *target = &__data_start;
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    while (target < &__data_end) {
        *target++ = *source++;
    }
    for (target = &__bss_start; target < &__bss_end; ++target) {
        *target = 0;
    }
    *cpacr |= 0xFu << 20; /* full access to coprocessors 10 and 11 (the FPU) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    initialise_monitor_handles();
    exit(main(0, 0));
}

void _init(void)
{
}

void _fini(void)
{
}
