"""The benchmark harness on its smoke configuration (a few batches of MNIST-5k), so it cannot rot."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_smoke_configuration_runs_resumes_and_reports(tmp_path):
    results, report = tmp_path / "results", tmp_path / "report"
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--config", "smoke", "--methods",
           "pgd-10,atas,mplus-deat,art-madry-pgd-10", "--results", str(results), "--report", str(report)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    files = sorted(os.listdir(results))
    assert len(files) == 4
    rec = json.loads((results / "smoke__pgd-10__seed0__e2.json").read_text())
    assert rec["backward_passes"] == 2 * 2 * 11  # 2 epochs x 2 batches x (10 steps + update)
    art = json.loads((results / "smoke__art-madry-pgd-10__seed0__e2.json").read_text())
    assert art["backward_passes"] == rec["backward_passes"]  # same passes, counted by module hooks
    assert 0.0 <= rec["evaluation"]["pgd20"] <= rec["evaluation"]["clean"] <= 1.0
    mtimes = {f: os.path.getmtime(results / f) for f in files}
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)  # resumable: nothing rerun
    assert mtimes == {f: os.path.getmtime(results / f) for f in files}
    text = (report / "results.md").read_text()
    assert "| **pgd-10** | 0/1 |" in text and "| atas | 0/1 |" in text  # headline bold; a tiny run cannot train
    assert "short of 3 trained seeds: pgd-10" in text
    assert "| 1.00 |" in text  # pgd-10's own time ratio
    assert (report / "smoke_time_to_robustness.png").exists()
