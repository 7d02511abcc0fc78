"""Text and images together (chapters 12-13): captioned MNIST, an attribute checker, CLIP, a VQ-VAE."""
from .captions import (HELD_OUT_COMBOS, HELD_OUT_TEMPLATES, IMAGE_SIZE, POSITIONS, SIZES, TEXT_CONTEXT,
                       THICKNESSES, TRAIN_TEMPLATES, VOCAB, CaptionedMNIST, CaptionTokenizer, describe,
                       make_captioned_mnist, random_captions)
from .checker import AttributeChecker, checker_ceiling

__all__ = ["HELD_OUT_COMBOS", "HELD_OUT_TEMPLATES", "IMAGE_SIZE", "POSITIONS", "SIZES", "TEXT_CONTEXT",
           "THICKNESSES", "TRAIN_TEMPLATES", "VOCAB", "CaptionedMNIST", "CaptionTokenizer", "describe",
           "make_captioned_mnist", "random_captions", "AttributeChecker", "checker_ceiling"]
