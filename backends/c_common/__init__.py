"""Machinery shared by the C backends (MCU now, Hexagon later): C identifiers and comments that node names
cannot break, liveness and the static arena plan (with in-place overlap), weight packing, and the report."""
