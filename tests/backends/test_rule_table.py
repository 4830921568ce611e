"""The helpers the backends share for registering lowering rules and naming generated things."""

from __future__ import annotations

from qcompiler.backends.c_common.identifiers import IdentifierTable, claim_unique
from qcompiler.backends.mcu.lower import RULES as MCU_RULES
from qcompiler.backends.rule_table import registrar
from qcompiler.backends.tflite import lower_image  # registers the image-op rules
from qcompiler.backends.tflite.lower import RULES as TFLITE_RULES


def test_registrar_stores_the_function_under_each_kind_and_returns_it() -> None:
    table: dict = {}
    deco = registrar(table)

    def rule() -> str:
        return "lowered"

    assert deco("a.x", "a.y")(rule) is rule
    assert table == {"a.x": rule, "a.y": rule}
    deco("a.y")(len)  # a later registration of a kind replaces the earlier one
    assert table == {"a.x": rule, "a.y": len}


def test_backend_rule_tables_are_filled_through_it() -> None:
    assert MCU_RULES["q.conv2d"].__module__.endswith("mcu.lower_compute")
    assert TFLITE_RULES["q.conv2d"] is lower_image.__dict__[TFLITE_RULES["q.conv2d"].__name__]
    assert TFLITE_RULES["core.conv2d"] is TFLITE_RULES["q.conv2d"]


def test_claim_unique_suffixes_clashes_in_order() -> None:
    taken = {"w"}
    assert [claim_unique("w", taken) for _ in range(3)] == ["w_1", "w_2", "w_3"]
    assert claim_unique("b", taken) == "b"
    assert taken == {"w", "w_1", "w_2", "w_3", "b"}


def test_identifier_table_uses_the_same_rule_on_c_identifiers() -> None:
    table = IdentifierTable(["conv_w"])
    names = [table.unique("conv/w"), table.unique("conv.w"), table.unique("9x"), table.unique("9x")]
    assert names == ["conv_w_1", "conv_w_2", "t_9x", "t_9x_1"]
