"""The jinja2 templates of the C backends, shipped as package data of ``qcompiler.codegen_templates``."""
