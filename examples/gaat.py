"""GAAT on MNIST-5k, both Hessian approximations, with the Taylor residual R(x, delta) per epoch.

    python examples/gaat.py [--epochs 4]
"""
import argparse

from art_accel import AdversarialTrainerGAAT, evaluate_robustness
from art_accel.cli import build_classifier
from art_accel.data import load_mnist5k

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=4)
args = parser.parse_args()

data = load_mnist5k()
for hessian in ("gauss_newton", "diagonal"):
    classifier = build_classifier(data.input_shape, data.nb_classes, width=16)
    trainer = AdversarialTrainerGAAT(classifier, eps=0.3, max_iter=10, hessian=hessian, track_residual=True)
    history = trainer.fit(data.x_train, data.y_train, nb_epochs=args.epochs, batch_size=128)
    print(hessian, "residual per epoch:", [round(r, 4) for r in history["residual"]],
          "BP per epoch:", history["backward_passes"], f"time {history.total('seconds'):.1f} s")
    print(evaluate_robustness(classifier, data.x_test, data.y_test, eps=0.3, attacks=("clean", "pgd20"),
                              n_samples=500))
