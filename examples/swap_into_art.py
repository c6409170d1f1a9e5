"""An ART adversarial-training script, with one line changed to use art-accel.

    python examples/swap_into_art.py
"""
import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier

from art_accel import AdversarialTrainerATAS  # was: from art.defences.trainer import AdversarialTrainerMadryPGD
from art_accel.data import load_mnist5k
from art_accel.models import mnist_cnn

data = load_mnist5k()
model = mnist_cnn(16)
classifier = PyTorchClassifier(
    model=model, loss=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
    input_shape=(1, 28, 28), nb_classes=10, clip_values=(0.0, 1.0), preprocessing=(0.1307, 0.3081),
)
y_onehot = np.eye(10, dtype=np.float32)[data.y_train]  # ART-style one-hot labels are accepted as they are

# was: trainer = AdversarialTrainerMadryPGD(classifier, nb_epochs=2, eps=0.3, eps_step=0.1, max_iter=7)
trainer = AdversarialTrainerATAS(classifier, eps=0.3, nb_epochs=2, warmup_epochs=1)
trainer.fit(data.x_train, y_onehot)

accuracy = (trainer.get_classifier().predict(data.x_test).argmax(1) == data.y_test).mean()
print(f"clean test accuracy {accuracy:.3f}; history: {trainer.history.records[-1]}")
