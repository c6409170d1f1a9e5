"""M+DEAT on MNIST-5k: the number of batch replays grows when the gradient magnitude says so.

    python examples/mplus_deat.py [--epochs 8]
"""
import argparse

from art_accel import AdversarialTrainerDEAT, evaluate_robustness
from art_accel.cli import build_classifier
from art_accel.data import load_mnist5k
from art_accel.plots import plot_k_and_magnitude

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=8)
args = parser.parse_args()

data = load_mnist5k()
classifier = build_classifier(data.input_shape, data.nb_classes, width=16)
trainer = AdversarialTrainerDEAT(classifier, eps=0.3, criterion="mplus", gamma=1.01)
history = trainer.fit(data.x_train, data.y_train, nb_epochs=args.epochs, batch_size=128)
for r in history:
    print(f"epoch {r['epoch']}: k {r['k']}  l_X {r['grad_magnitude']:.1f}  threshold {r['threshold']}  "
          f"BP {r['backward_passes']}")
print(evaluate_robustness(classifier, data.x_test, data.y_test, eps=0.3, attacks=("clean", "pgd20"), n_samples=500))
plot_k_and_magnitude(history, "mplus_deat_k.png")
print("wrote mplus_deat_k.png")
