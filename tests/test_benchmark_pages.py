"""The committed benchmark pages are what the report code makes of the committed JSON, byte for byte."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import cifar10_co_cnn1  # noqa: E402
import frontier  # noqa: E402
from report import write_report  # noqa: E402

pytestmark = pytest.mark.slow
RESULTS, DOCS = os.path.join(ROOT, "benchmarks", "results"), os.path.join(ROOT, "docs", "benchmarks")


def _same(made: str, committed: str) -> None:
    with open(made, encoding="utf-8") as a, open(committed, encoding="utf-8") as b:
        assert a.read() == b.read(), f"{committed} is not what the report code makes: regenerate it"


def test_results_and_which_method_regenerate_byte_identical(tmp_path):
    guide = str(tmp_path / "which_method.rst")
    _same(write_report(RESULTS, str(tmp_path), guide), os.path.join(DOCS, "results.md"))
    _same(guide, os.path.join(ROOT, "docs", "which_method.rst"))


def test_co_cnn1_and_frontier_pages_regenerate_byte_identical(tmp_path):
    made = cifar10_co_cnn1.report(os.path.join(RESULTS, cifar10_co_cnn1.NAME), str(tmp_path))
    _same(made, os.path.join(DOCS, f"{cifar10_co_cnn1.NAME}.md"))
    made = frontier.report(os.path.join(RESULTS, frontier.NAME), str(tmp_path))
    _same(made, os.path.join(DOCS, f"{frontier.NAME}.md"))
