"""Sphinx configuration: MyST markdown pages, warnings are errors (nox -s docs)."""

project = "vbwd-plugins"
author = "VBWD Team"
copyright = "2026, VBWD Team"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing"]
