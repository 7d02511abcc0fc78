"""Measuring generators of digits: used by chapters 6 to 9.

The course's small MNIST classifier (shipped weights, sha256-checked), the
label accuracy of generated digits, the classifier FID, its bias-free
relatives FID∞ and KID (``unbiased``), cached reference features
(``features``), and the 95 % intervals every headline number is printed
with (``intervals``).
"""
from .mnist_classifier import (WEIGHTS_PATH, WEIGHTS_SHA256, MNISTClassifierConfig, MNISTClassifier,
                               train_mnist_classifier, load_mnist_classifier, predict, label_accuracy)
from .fid import feature_statistics, frechet_distance, classifier_fid
from .features import classifier_features, reference_features, clear_reference_cache
from .unbiased import FIDInfinity, fid_from_features, fid_infinity, KIDResult, polynomial_kernel, mmd2_unbiased, kid
from .intervals import (Interval, format_headline, bootstrap_interval, seed_interval, wilson_interval,
                        seeds_and_samples_interval, t_quantile)

__all__ = [
    "WEIGHTS_PATH", "WEIGHTS_SHA256", "MNISTClassifierConfig", "MNISTClassifier", "train_mnist_classifier",
    "load_mnist_classifier", "predict", "label_accuracy", "feature_statistics", "frechet_distance", "classifier_fid",
    "classifier_features", "reference_features", "clear_reference_cache", "FIDInfinity", "fid_from_features",
    "fid_infinity", "KIDResult", "polynomial_kernel", "mmd2_unbiased", "kid", "Interval", "format_headline",
    "bootstrap_interval", "seed_interval", "wilson_interval", "seeds_and_samples_interval", "t_quantile",
]
