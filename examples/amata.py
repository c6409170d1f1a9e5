"""Amata on MNIST-5k: PGD steps anneal from 2 to 10 while the step size shrinks.

    python examples/amata.py [--epochs 5]
"""
import argparse

from art_accel import AdversarialTrainerAmata, evaluate_robustness
from art_accel.cli import build_classifier
from art_accel.data import load_mnist5k

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

data = load_mnist5k()
classifier = build_classifier(data.input_shape, data.nb_classes, width=16)
trainer = AdversarialTrainerAmata(classifier, eps=0.3, k_min=2, k_max=10)
print("schedule (K_t, alpha_t):", [(k, round(a, 4)) for k, a in trainer.schedule(args.epochs)])
history = trainer.fit(data.x_train, data.y_train, nb_epochs=args.epochs, batch_size=128)
for r in history:
    print(f"epoch {r['epoch']}: K {r['k']}  step {r['eps_step']:.4f}  BP {r['backward_passes']}  {r['seconds']:.1f} s")
print(evaluate_robustness(classifier, data.x_test, data.y_test, eps=0.3, attacks=("clean", "pgd20"), n_samples=500))
history.plot(["k", "eps_step", "loss"], path="amata_schedule.png")
print("wrote amata_schedule.png")
