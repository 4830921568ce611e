"""The Hexagon DSP backend: the MCU backend's plan and schedule with HVX kernels (128-byte vectors) for the ops
that dominate time, built with clang's Hexagon target and run under qemu-hexagon."""
