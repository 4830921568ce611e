/* Freestanding entry point for Hexagon programs run under qemu-hexagon (Linux user mode): pass argc and argv
 * (at the stack pointer on entry), align the stack for HVX spills, call main, and exit with its return value
 * through the exit syscall (trap0(#1), number in r6). */
    .text
    .globl _start
    .type _start, @function
_start:
    { r0 = memw(r29 + #0); r1 = add(r29, #4) }
    { r29 = and(r29, #-128) }
    { call main }
    { r6 = #93 }
    { trap0(#1) }
    .size _start, . - _start
