"""Diffusion and flow-matching models, built step by step and checked against ``diffusers``.

One job per module:

* :mod:`~aigc_lib.diffusion.schedules`: betas, ``alpha_bar``, SNR (linear and cosine schedules).
* :mod:`~aigc_lib.diffusion.forward`: the noising process ``q`` and its posterior.
* :mod:`~aigc_lib.diffusion.ddpm`: the ε-prediction loss and ancestral sampling.
* :mod:`~aigc_lib.diffusion.ddim`: DDIM steps and sampling on a sub-sequence of steps.
* :mod:`~aigc_lib.diffusion.flow_matching`: rectified flow / flow matching and its Euler sampler.
* :mod:`~aigc_lib.diffusion.guidance`: classifier-free guidance.
* :mod:`~aigc_lib.diffusion.unet`, :mod:`~aigc_lib.diffusion.mlp`: the denoising networks.
* :mod:`~aigc_lib.diffusion.tasks`: Trainer tasks.
* :mod:`~aigc_lib.diffusion.latent`: latent diffusion in miniature (a VAE's latents + an MLP denoiser).
"""
from .ddim import ddim_sample, ddim_step, ddim_timesteps
from .ddpm import ddpm_loss, ddpm_sample, ddpm_step
from .flow_matching import flow_euler_step, flow_interpolate, flow_matching_loss, flow_sample
from .forward import eps_to_score, predict_x0, q_posterior, q_sample, q_step
from .guidance import classifier_free_guidance, drop_labels, guided_prediction
from .images import to_image_range, to_model_range
from .latent import LatentDiffusion, LatentDiffusionConfig, LatentDiffusionTask, make_autoencoder_task
from .mlp import MLPDenoiser, MLPDenoiserConfig
from .schedules import NoiseSchedule, cosine_betas, linear_betas, make_schedule
from .tasks import DDPMTask, FlowMatchingTask
from .unet import UNet, UNetConfig

__all__ = [
    "ddim_sample", "ddim_step", "ddim_timesteps", "ddpm_loss", "ddpm_sample", "ddpm_step",
    "flow_euler_step", "flow_interpolate", "flow_matching_loss", "flow_sample",
    "eps_to_score", "predict_x0", "q_posterior", "q_sample", "q_step",
    "classifier_free_guidance", "drop_labels", "guided_prediction", "to_image_range", "to_model_range",
    "MLPDenoiser", "MLPDenoiserConfig", "NoiseSchedule", "cosine_betas", "linear_betas", "make_schedule",
    "DDPMTask", "FlowMatchingTask", "UNet", "UNetConfig",
    "LatentDiffusion", "LatentDiffusionConfig", "LatentDiffusionTask", "make_autoencoder_task",
]
