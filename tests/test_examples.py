"""Every example runs (one epoch each, in a temporary folder)."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = ["atas.py", "mplus_deat.py", "amata.py", "ecas.py", "gaat.py", "nfgsm.py"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(tmp_path, name):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--epochs", "1"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "clean" in out.stdout


def test_swap_into_art_example_runs(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "swap_into_art.py")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "clean test accuracy" in out.stdout
