"""Data sets and batch streams used by the chapters."""
from .batches import RandomWindows, TensorBatches
from .download import ChecksumError, cache_dir, download, file_hash, verify
from .mnist import MNIST, load_mnist, read_idx
from .shakespeare import load_tiny_shakespeare, shakespeare_path
from .toy import gaussian_mixture_2d, ring_centers, ring_of_gaussians

__all__ = [
    "RandomWindows", "TensorBatches", "ChecksumError", "cache_dir", "download", "file_hash", "verify",
    "MNIST", "load_mnist", "read_idx", "load_tiny_shakespeare", "shakespeare_path",
    "gaussian_mixture_2d", "ring_centers", "ring_of_gaussians",
]
