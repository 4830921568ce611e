"""The freestanding Hexagon runtime under qemu-hexagon: output through the write syscall, input through read,
main's return value as the exit code; and the packet counter."""

from __future__ import annotations

from qcompiler.backends.hexagon.toolchain import Tools, build_hexagon, build_host, count_packets, execute

from hexagon_support import DRIVERS


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
    packets = count_packets(elf, bytes([0, 0, 0, 0]))
    assert 10 < packets < 2000
