"""The command line: every argument checked before training, one-line errors, the model saved (with its
architecture) before the evaluation, --version, one-hot labels in an .npz."""
import json

import numpy as np
import pytest

from art_accel import __version__
from art_accel.cli import main

FAST = ["--epochs", "1", "--n-train", "64", "--n-eval", "16", "--width", "4", "--batch-size", "32", "--quiet"]


@pytest.mark.parametrize("argv,named", [
    (["train", "--attacks", "pgd20,fgsmx"], "--attacks"),
    (["train", "--method", "nope"], "--method"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--batch-size", "-4"], "--batch-size"),
    (["train", "--param", "beta"], "--param"),
    (["train", "--param", "nonsense=3"], "--param"),
    (["train", "--eps", "8"], "eps=8"),
    (["train", "--data", "npz:/no/such.npz"], "--data"),
    (["train", "--data", "imagenet"], "--data"),
    (["train", "--nproc", "0"], "--nproc"),
    (["train", "--nproc", "2", "--data", "imagenet"], "--data"),  # checked before any process starts
    (["evaluate", "--model", "/no/such/model.pt"], "--model"),
    (["evaluate", "--model", __file__], "--model"),
])
def test_user_errors_are_one_line_before_training(tmp_path, capsys, argv, named):
    out = tmp_path / "run"
    code = main([argv[0]] + (FAST + ["--out", str(out)] if argv[0] == "train" else []) + argv[1:])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("art-accel: error:") and named in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (out / "history.json").exists()  # nothing trained


def test_train_saves_before_evaluating_and_evaluate_reads_the_architecture(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["train", "--method", "fgsm", "--attacks", "pgd2", "--out", str(out)] + FAST) == 0
    summary = json.loads((out / "evaluation.json").read_text())
    assert summary["eps"] == pytest.approx(0.1) and 0 <= summary["pgd2"] <= summary["clean"]
    capsys.readouterr()
    # evaluate without --width: the architecture comes from model.pt
    assert main(["evaluate", "--model", str(out / "model.pt"), "--n-eval", "8", "--attacks", "clean"]) == 0
    assert "clean" in json.loads(capsys.readouterr().out)

    from art_accel import evaluation

    def fail(*args, **kwargs):
        raise RuntimeError("evaluation crashed")

    monkeypatch.setattr(evaluation, "evaluate_robustness", fail)
    out2 = tmp_path / "run2"
    with pytest.raises(RuntimeError, match="evaluation crashed"):
        main(["train", "--method", "fgsm", "--out", str(out2)] + FAST)
    assert (out2 / "model.pt").exists() and (out2 / "history.json").exists()  # saved before the evaluation


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_one_hot_labels_in_an_npz(tmp_path):
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 3, 40), rng.integers(0, 3, 10)
    np.savez(tmp_path / "d.npz", x_train=rng.random((40, 1, 6, 6), dtype=np.float32), y_train=np.eye(3)[y_train],
             x_test=rng.random((10, 1, 6, 6), dtype=np.float32), y_test=np.eye(3)[y_test])
    from art_accel.data import load_npz

    d = load_npz(str(tmp_path / "d.npz"))
    assert np.array_equal(d.y_train, y_train) and np.array_equal(d.y_test, y_test) and d.nb_classes == 3


def test_an_out_path_through_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "README.md").write_text("x")
    out = tmp_path / "README.md" / "x"
    assert main(["train", "--method", "fgsm", "--out", str(out)] + FAST) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a file" in err and "Traceback" not in err


def test_a_save_that_fails_after_training_keeps_the_model_in_a_fallback_folder(tmp_path, capsys, monkeypatch):
    import os

    from art_accel import cli

    out = str(tmp_path / "run")
    real = os.makedirs

    def makedirs(path, *args, **kwargs):
        if os.path.abspath(path) == os.path.abspath(out):
            raise OSError(28, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(cli.os, "makedirs", makedirs)
    assert main(["train", "--method", "fgsm", "--attacks", "pgd2", "--out", out] + FAST) == 0
    err = capsys.readouterr().err
    fallback = err.split("saved to ")[1].split(" instead")[0]
    assert all(os.path.isfile(os.path.join(fallback, f)) for f in ("model.pt", "history.json", "evaluation.json"))


@pytest.mark.parametrize("name,cls,kwargs", [("mplus-deat", "AdversarialTrainerMPlus", {"base": "free"}),
                                             ("fgsm-rs", "AdversarialTrainerFGSM", {}),
                                             ("pgd-10", "AdversarialTrainerPGD", {"max_iter": 10})])
def test_the_documented_method_names_are_accepted(name, cls, kwargs):
    from art_accel.registry import get_method

    method = get_method(name)
    assert getattr(method, "func", method).__name__ == cls and getattr(method, "keywords", {}) == kwargs


def test_averaging_flag(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--method", "fgsm", "--attacks", "pgd2", "--averaging", "0.9", "--out", str(out)] + FAST) == 0
    history = json.loads((out / "history.json").read_text())
    assert history["config"]["averaging"]["decay"] == 0.9
    assert main(["train", "--averaging", "1.5", "--out", str(tmp_path / "r2")] + FAST) == 2
    assert "--averaging" in capsys.readouterr().err


@pytest.mark.slow
def test_nproc_trains_on_two_processes_and_prints_one_result(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    argv = ["train", "--nproc", "2", "--method", "fgsm", "--attacks", "pgd2", "--out", str(out), "--epochs", "1",
            "--n-train", "64", "--n-eval", "16", "--width", "4", "--batch-size", "16", "--quiet"]
    done = subprocess.run([sys.executable, "-m", "art_accel.cli", *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [line for line in done.stdout.splitlines() if line.startswith("fgsm on mnist5k")]
    assert len(results) == 1 and done.stdout.count("total ") == 1  # rank 0 alone reports
    history = json.loads((out / "history.json").read_text())
    # 2 ranks x 32 samples in 2 batches of 16 x (attack + update): the global pass count
    assert history["records"][0]["backward_passes"] == 2 * 2 * 2
    assert json.loads((out / "evaluation.json").read_text())["n_samples"] == 16
