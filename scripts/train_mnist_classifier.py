"""Train the MNIST classifier used for the "classifier FID" and write its shipped weights.

    python scripts/train_mnist_classifier.py

Writes ``aigc_lib/data/files/mnist_classifier.pt``, prints its test accuracy
and its sha256. Put the sha256 into ``aigc_lib/evaluation/mnist_classifier.py``
(``WEIGHTS_SHA256``) when the weights change.
"""
import torch

from aigc_lib.data import file_hash, load_mnist
from aigc_lib.evaluation import WEIGHTS_PATH, predict, train_mnist_classifier


def main() -> None:
    torch.set_num_threads(1)
    train, test = load_mnist("train"), load_mnist("test")
    model, history = train_mnist_classifier(train.images, train.labels, progress=False, live_plot=False)
    acc = float((predict(model, test.images) == test.labels).float().mean())
    print(f"trained on {len(train)} digits ({train.source}); final train loss "
          f"{history.last('train/loss'):.4f}; test accuracy {acc:.4f} on {len(test)} digits")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, WEIGHTS_PATH)
    print(f"wrote {WEIGHTS_PATH.name}, sha256 {file_hash(WEIGHTS_PATH)}")


if __name__ == "__main__":
    main()
