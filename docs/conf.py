"""Sphinx configuration for art-accel."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "art-accel"
author = "art-accel developers"
release = "0.2.0.dev0"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
exclude_patterns = ["_build", "benchmarks"]
html_theme = "alabaster"
nitpicky = False
