"""Generative adversarial networks: the code of chapter 6.

MLP and DCGAN generators and discriminators, the GAN losses (minimax,
non-saturating, WGAN-GP) and their tasks for the Trainer, and the mode-coverage
and copy checks.
"""
from .models import (check_latent, check_samples, check_labels, one_hot, sample_latent, MLPGANConfig, MLPGenerator,
                     MLPDiscriminator, DCGANConfig, dcgan_init, DCGANGenerator, DCGANDiscriminator, generate)
from .training import (GENERATOR_LOSSES, discriminator_loss, generator_loss_minimax, generator_loss_nonsaturating,
                       critic_loss, wgan_generator_loss, interpolate, gradient_penalty, split_batch, GANTask,
                       WGANGPTask)
from .metrics import ModeCoverage, mode_coverage, nearest_distances, CopyCheck, copy_check

__all__ = [
    "check_latent", "check_samples", "check_labels", "one_hot", "sample_latent", "MLPGANConfig", "MLPGenerator",
    "MLPDiscriminator", "DCGANConfig", "dcgan_init", "DCGANGenerator", "DCGANDiscriminator", "generate",
    "GENERATOR_LOSSES", "discriminator_loss", "generator_loss_minimax", "generator_loss_nonsaturating", "critic_loss",
    "wgan_generator_loss", "interpolate", "gradient_penalty", "split_batch", "GANTask", "WGANGPTask", "ModeCoverage",
    "mode_coverage", "nearest_distances", "CopyCheck", "copy_check",
]
