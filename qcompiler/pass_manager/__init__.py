"""Passes and how they run: the ``Pass`` base class and registry, pipeline strings, the instrumented
``PassManager``, pass groups (``fixed-point``) and plugin loading."""

from qcompiler.pass_manager.options import PassOption, PipelineError, parse_value
from qcompiler.pass_manager.registry import (NamedPipeline, Pass, PassGroup, get_pass, register_pass,
                                             register_pipeline, registered_passes, registered_pipelines)
from qcompiler.pass_manager.pipeline import build_pass, parse_pipeline, pipeline_text
from qcompiler.pass_manager.groups import FixedPoint
from qcompiler.pass_manager.manager import PassManager, ir_dump_header
from qcompiler.pass_manager.plugins import load_entry_point_passes, load_pass_plugin

__all__ = [
    "Pass", "PassGroup", "PassOption", "NamedPipeline", "FixedPoint", "register_pass", "get_pass",
    "registered_passes", "register_pipeline", "registered_pipelines", "PassManager", "parse_pipeline",
    "pipeline_text", "build_pass", "parse_value", "PipelineError", "load_pass_plugin", "load_entry_point_passes",
    "ir_dump_header",
]
