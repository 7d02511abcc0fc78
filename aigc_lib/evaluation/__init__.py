"""Measuring generators of digits: used by chapters 6 to 9.

The course's small MNIST classifier (shipped weights, sha256-checked), the
label accuracy of generated digits, and the classifier FID.
"""
from .mnist_classifier import (WEIGHTS_PATH, WEIGHTS_SHA256, MNISTClassifierConfig, MNISTClassifier,
                               train_mnist_classifier, load_mnist_classifier, predict, label_accuracy)
from .fid import feature_statistics, frechet_distance, classifier_fid

__all__ = [
    "WEIGHTS_PATH", "WEIGHTS_SHA256", "MNISTClassifierConfig", "MNISTClassifier", "train_mnist_classifier",
    "load_mnist_classifier", "predict", "label_accuracy", "feature_statistics", "frechet_distance", "classifier_fid",
]
