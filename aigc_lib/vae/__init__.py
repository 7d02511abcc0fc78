"""Autoencoders and variational autoencoders: the code of chapter 7.

The losses (KL, Gaussian and Bernoulli log-likelihoods, binarisation), the
autoencoder, the (conditional) VAE and its task, the importance-weighted
log-likelihood, and the conditional VAE recipe for MNIST with its label checks.
"""
from .losses import (LOG_2PI, TEST_BINARIZATION_SEED, gaussian_kl, gaussian_log_prob, standard_normal_log_prob,
                     reparameterize, bernoulli_log_likelihood, log_mean_exp, binarize_dynamic, binarize_fixed)
from .models import (mlp, LabelledMLP, AutoencoderConfig, Autoencoder, reconstruction_loss, VAEConfig, ELBOTerms, VAE,
                     beta_vae_loss, VAETask)
from .likelihood import iwae_log_likelihood, LikelihoodReport, held_out_likelihood
from .conditional import (mnist_cvae_config, MNIST_CVAE_TRAINING, train_mnist_cvae, conditional_samples,
                          conditional_label_accuracy, label_swap_accuracy)

__all__ = [
    "LOG_2PI", "TEST_BINARIZATION_SEED", "gaussian_kl", "gaussian_log_prob", "standard_normal_log_prob",
    "reparameterize", "bernoulli_log_likelihood", "log_mean_exp", "binarize_dynamic", "binarize_fixed", "mlp",
    "LabelledMLP", "AutoencoderConfig", "Autoencoder", "reconstruction_loss", "VAEConfig", "ELBOTerms", "VAE",
    "beta_vae_loss", "VAETask", "iwae_log_likelihood", "LikelihoodReport", "held_out_likelihood", "mnist_cvae_config",
    "MNIST_CVAE_TRAINING", "train_mnist_cvae", "conditional_samples", "conditional_label_accuracy",
    "label_swap_accuracy",
]
