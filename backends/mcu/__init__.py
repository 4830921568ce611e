"""The MCU backend: a quantized graph (after lower-quantized) becomes a C99 fixed-point library with a static
memory plan, bit-exact with TFLite's reference kernels.

``write_library(graph, folder, name)`` writes ``<name>.h``, ``<name>.c``, ``<name>_weights.c``, the kernels it
uses, a Makefile, a CMakeLists.txt, a README, the test harness and the report; ``generate`` returns the same
files in memory.
"""

from qcompiler.backends.mcu.emit import Library, generate, write_library

__all__ = ["Library", "generate", "write_library"]
