import shutil

import numpy as np
import pytest
import torch

from aigc_lib.data import ChecksumError, load_mnist
from aigc_lib.evaluation import (WEIGHTS_PATH, MNISTClassifier, classifier_fid, feature_statistics, frechet_distance,
                                 label_accuracy, load_mnist_classifier, predict, train_mnist_classifier)


# ------------------------------------------------------------ Fréchet distance
def test_frechet_distance_one_dimensional_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
    d = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[0.25]]))
    assert d == pytest.approx(3.0 ** 2 + (2.0 - 0.5) ** 2)


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    v1, v2 = rng.uniform(0.1, 3, size=5), rng.uniform(0.1, 3, size=5)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_general_covariances_and_identity():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu = rng.normal(size=4)
    # Same value through the symmetric form Tr((s1^1/2 s2 s1^1/2)^1/2), computed with eigh.
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T
    w2 = np.linalg.eigvalsh(root1 @ s2 @ root1)
    expected = np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(w2, 0, None)).sum()
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(expected, rel=1e-7)
    assert frechet_distance(mu, s1, mu, s1) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(frechet_distance(mu, s2, mu, s1), rel=1e-7)


def test_frechet_distance_survives_singular_covariances():
    s = np.zeros((3, 3))
    s[0, 0] = 1.0
    d = frechet_distance(np.zeros(3), s, np.ones(3), s)
    assert np.isfinite(d) and d == pytest.approx(3.0, abs=1e-2)


def test_frechet_distance_shape_error():
    with pytest.raises(ValueError, match="one size F"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


# ------------------------------------------------------------------ the network
def test_shapes_and_input_errors():
    model = MNISTClassifier()
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10) and model.features(x).shape == (3, 64)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\), got \(3, 1, 32, 32\)"):
        model(torch.rand(3, 1, 32, 32))
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*\(x \+ 1\) / 2"):
        model(x * 2 - 1)
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        label_accuracy(model, x, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="at least 2"):
        feature_statistics(model, x[:1])


def test_wrong_label_shape_dtype_and_empty_or_integer_images():
    model = MNISTClassifier().eval()
    x = torch.rand(10, 1, 28, 28)
    with pytest.raises(ValueError, match=r"integer digits of shape \(N,\), got torch.int64 of shape \(10, 1\)"):
        label_accuracy(model, x, torch.zeros(10, 1, dtype=torch.long))   # (N,) == (N, 1) would broadcast
    with pytest.raises(ValueError, match=r"shape \(10, 10\); for one-hot labels use labels.argmax\(1\)"):
        label_accuracy(model, x, torch.eye(10))
    with pytest.raises(ValueError, match="at least one image"):
        predict(model, x[:0])
    with pytest.raises(TypeError, match=r"floating-point images in \[0, 1\], got torch.uint8"):
        model(torch.ones(2, 1, 28, 28, dtype=torch.uint8))


def test_shipped_weights_are_verified(tmp_path):
    bad = tmp_path / "mnist_classifier.pt"
    shutil.copy(WEIGHTS_PATH, bad)
    data = bytearray(bad.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        load_mnist_classifier(bad)


@pytest.fixture(scope="module")
def mnist_test():
    return load_mnist("test", verbose=False)


def test_shipped_classifier_is_accurate_and_its_fid_separates(mnist_test):
    model = load_mnist_classifier()
    assert not model.training
    acc = label_accuracy(model, mnist_test.images, mnist_test.labels)
    assert acc > 0.95
    real = mnist_test.images  # two halves (every other image), both holding all digits
    a, b = real[0::2], real[1::2]
    floor = classifier_fid(model, a, b)
    noise = classifier_fid(model, a, torch.rand(len(b), 1, 28, 28))
    inverted = classifier_fid(model, a, 1 - b)
    only_low_digits = classifier_fid(model, a, real[mnist_test.labels < 5])
    assert floor < 0.05 * noise and floor < 0.05 * inverted and floor < 0.2 * only_low_digits


def test_training_overfits_a_small_batch():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(32, 1, 28, 28, generator=g)
    labels = torch.arange(32) % 10
    model, history = train_mnist_classifier(images, labels, max_steps=120, batch_size=32, lr=3e-3,
                                            progress=False, live_plot=False)
    assert history.values("train/loss")[-1] < 0.1 * history.values("train/loss")[0]
    assert (predict(model, images) == labels).all()


def test_fid_is_larger_for_shuffled_noisy_or_partly_copied_images(mnist_test):
    """Chapter 6's broken generators: the metric must separate each from a fresh half of real digits."""
    model = load_mnist_classifier()
    real, g = mnist_test.images, torch.Generator().manual_seed(0)
    a, b = real[0::2], real[1::2]
    floor = classifier_fid(model, a, b)
    pixels_shuffled = b.flatten(1)[:, torch.randperm(784, generator=g)].view_as(b)   # same pixels, new places
    noisy = (b + 0.3 * torch.randn(b.shape, generator=g)).clamp(0, 1)
    ten_copies = b[:10].repeat(len(b) // 10, 1, 1, 1)                                 # partial memoriser, k = 10
    for name, broken in (("pixels shuffled", pixels_shuffled), ("noisy", noisy), ("10 images repeated", ten_copies)):
        assert classifier_fid(model, a, broken) > 5 * floor, name
    # and the check can fail the other way: a second fresh half is not "broken"
    c = real[torch.randperm(len(real), generator=g)[: len(a)]]
    assert classifier_fid(model, a, c) < 5 * floor + 5
