"""The benchmark configurations are consistent, and the report's collapse rule says what it claims."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

from configs import CONFIGS, METHODS, method_spec  # noqa: E402
from report import collapsed  # noqa: E402

from art_accel.registry import METHODS as REGISTRY  # noqa: E402


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_configured_method_is_known_and_overrides_name_its_methods(name):
    cfg = CONFIGS[name]
    assert cfg.name == name
    assert set(cfg.methods) <= set(METHODS)
    assert set(cfg.headline) <= set(cfg.methods)
    assert set(cfg.overrides) <= set(cfg.methods)
    for method in cfg.methods:
        impl, _ = method_spec(cfg, method)
        assert impl.startswith("ART:") or impl in REGISTRY


def test_overrides_replace_only_their_configuration_s_arguments():
    assert method_spec(CONFIGS["mnist"], "atas") == ("atas", {"warmup_epochs": 0})
    assert method_spec(CONFIGS["mnist-10k"], "atas") == ("atas", {"warmup_epochs": 1})
    assert method_spec(CONFIGS["mnist"], "pgd-10") == ("pgd", {"max_iter": 10})
    assert METHODS["atas"] == ("atas", {"warmup_epochs": 1})  # the shared table is not mutated


def test_collapse_rule():
    assert collapsed([0.10, 0.20, 0.25, 0.02])  # falls below 5% and below half the peak
    assert not collapsed([0.10, 0.20, 0.25, 0.20])
    assert not collapsed([0.04, 0.06, 0.08])  # low but never fell after a peak
    assert not collapsed([0.08, 0.09, 0.06, 0.05])  # 5% is not below 5%
    assert collapsed([0.30, 0.01, 0.25])  # a collapse that recovers still counts
    assert collapsed([0.20, 0.01, 0.30])  # ... even above its earlier best
