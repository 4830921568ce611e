"""The freestanding Hexagon runtime under qemu-hexagon: output through the write syscall, input through read,
main's return value as the exit code; and the packet counter."""

from __future__ import annotations

import numpy as np

from qcompiler.backends.hexagon.toolchain import (Tools, build_hexagon, build_host, count_packets, execute,
                                                 run_program)

from hexagon_support import DRIVERS, tools  # noqa: F401 (tools: fixture)


def test_hello_runs_under_qemu(tools: Tools, tmp_path) -> None:
    elf = build_hexagon([DRIVERS / "hello.c"], tmp_path / "hello.elf")
    code, stdout, _ = execute(elf, bytes([42, 1, 2, 3]))
    assert code == 42
    assert stdout == b"hello from hexagon\n" + bytes([42, 1, 2, 3])


def test_scalar_only_build_runs(tools: Tools, tmp_path) -> None:
    elf = build_hexagon([DRIVERS / "hello.c"], tmp_path / "hello.elf", hvx=False)
    code, stdout, _ = execute(elf, bytes([7, 0, 0, 0]))
    assert (code, stdout[-4:]) == (7, bytes([7, 0, 0, 0]))


def test_exit_code_reports_short_input(tools: Tools, tmp_path) -> None:
    elf = build_hexagon([DRIVERS / "hello.c"], tmp_path / "hello.elf")
    code, _, _ = execute(elf, b"\x01")
    assert code == 101


def test_host_build_matches(tools: Tools, tmp_path) -> None:
    program = build_host([DRIVERS / "hello.c"], tmp_path / "hello")
    code, stdout, _ = execute(program, bytes([9, 8, 7, 6]), emulate=False)
    assert (code, stdout) == (9, b"hello from hexagon\n" + bytes([9, 8, 7, 6]))


def test_packet_count_grows_with_work(tools: Tools, tmp_path) -> None:
    elf = build_hexagon([DRIVERS / "hello.c"], tmp_path / "hello.elf")
    packets = count_packets(elf, stdin=bytes([0, 0, 0, 0]))
    assert 10 < packets < 2000


def test_division_routines_match_ieee_and_c(tools: Tools, tmp_path) -> None:
    """The runtime's __hexagon_divsf3 rounds like IEEE float32 division (numpy), subnormals and specials
    included; __hexagon_divsi3/modsi3 truncate like C."""
    rng = np.random.default_rng(0)
    n = 20000
    bits = rng.integers(0, 2**32, size=(n, 2), dtype=np.uint64).astype(np.uint32)
    floats = bits.view(np.float32).copy()
    floats[: n // 4] = rng.normal(0, 10, (n // 4, 2)).astype(np.float32)           # ordinary values
    floats[n // 4: n // 2, 1] = np.float32(0.0078125) * rng.uniform(0.5, 2, n // 4).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, 3.4e38, 1.0, 1.17549435e-38],
                        dtype=np.float32)
    grid = np.array([(p, q) for p in specials for q in specials], dtype=np.float32)
    floats[-len(grid):] = grid
    ints = rng.integers(-2**31, 2**31, size=(n, 2)).astype(np.int32)
    ints[: n // 2, 1] = rng.integers(1, 300, n // 2) * rng.choice([-1, 1], n // 2)
    ints[ints[:, 1] == 0, 1] = 7
    ints[-1] = (-2**31, 1)
    stream = np.array([n], "<i4").tobytes()
    for data in (floats, ints):
        raw = np.ascontiguousarray(data).tobytes()
        stream += np.array([len(raw)], "<i4").tobytes() + raw
    elf = build_hexagon([DRIVERS / "divide.c"], tmp_path / "divide.elf", include_dirs=[DRIVERS])
    out = run_program(elf, stream)
    got = np.frombuffer(out[: 4 * n], dtype=np.float32)
    with np.errstate(all="ignore"):
        want = floats[:, 0] / floats[:, 1]
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (floats[~same][:5], got[~same][:5], want[~same][:5])
    pairs = np.frombuffer(out[4 * n:], dtype=np.int32).reshape(n, 2)
    a, b = ints[:, 0].astype(np.int64), ints[:, 1].astype(np.int64)
    quotient = np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))
    want_pairs = np.stack([quotient, a - quotient * b], axis=1)
    want_pairs = ((want_pairs + 2**31) % 2**32 - 2**31).astype(np.int32)   # INT32_MIN / 1 stays in range
    np.testing.assert_array_equal(pairs, want_pairs)
