"""N-FGSM on MNIST-5k: FGSM from noise of 2 eps, no projection onto the ball; 2 backward passes per batch.
At eps 0.1, as the main job (at MNIST's 0.3 the perturbations of the CIFAR defaults reach 0.9 and these 6
epochs stay near chance: docs/methods/nfgsm.rst).

    python examples/nfgsm.py [--epochs 6]
"""
import argparse

from art_accel import AdversarialTrainerNFGSM, evaluate_robustness
from art_accel.cli import build_classifier
from art_accel.data import load_mnist5k

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=6)
args = parser.parse_args()

data = load_mnist5k()
classifier = build_classifier(data.input_shape, data.nb_classes, width=16)
trainer = AdversarialTrainerNFGSM(classifier, eps=0.1)  # the authors' k = 2 and step alpha = eps
history = trainer.fit(data.x_train, data.y_train, nb_epochs=args.epochs, batch_size=128)
for r in history:
    print(f"epoch {r['epoch']}: loss {r['loss']:.3f}  accuracy {r['accuracy']:.3f}  BP {r['backward_passes']}")
print(evaluate_robustness(classifier, data.x_test, data.y_test, eps=0.1, attacks=("clean", "pgd20"), n_samples=500))
