"""Backends: lowerings and emitters (tflite/, mcu/, hexagon/), imported as ``qcompiler.backends``."""
