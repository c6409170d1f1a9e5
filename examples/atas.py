"""ATAS on MNIST-5k: adaptive per-sample step sizes, 2 backward passes per batch like FGSM-RS.

    python examples/atas.py [--epochs 6]
"""
import argparse

from art_accel import AdversarialTrainerATAS, evaluate_robustness
from art_accel.cli import build_classifier
from art_accel.data import load_mnist5k
from art_accel.plots import plot_step_vs_grad_norm

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=6)
args = parser.parse_args()

data = load_mnist5k()
classifier = build_classifier(data.input_shape, data.nb_classes, width=16)
trainer = AdversarialTrainerATAS(classifier, eps=0.3, warmup_epochs=2)
history = trainer.fit(data.x_train, data.y_train, nb_epochs=args.epochs, batch_size=128)
for r in history:
    print(f"epoch {r['epoch']}: loss {r['loss']:.3f}  step mean {r['step_mean']:.3f} "
          f"[{r['step_min']:.3f}, {r['step_max']:.3f}]  BP {r['backward_passes']}")
print(evaluate_robustness(classifier, data.x_test, data.y_test, eps=0.3, attacks=("clean", "pgd20"), n_samples=500))
plot_step_vs_grad_norm(history, "atas_step_vs_grad_norm.png")
print("wrote atas_step_vs_grad_norm.png")
