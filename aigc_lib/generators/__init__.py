"""The course's trained image generators (chapters 6 to 9) in one registry.

:mod:`~aigc_lib.generators.specs` names each model and its training stages,
:mod:`~aigc_lib.generators.training` trains one, and
:mod:`~aigc_lib.generators.store` saves, loads (sha256-checked) and samples them.
"""
from .specs import (WEIGHTS_DIR, MANIFEST, TRAIN_COMMAND, DEFAULT_GUIDANCE, NUM_CLASSES, IMAGE_SHAPE, mlp_gan_config,
                    dcgan_config, vae_config, cond_vae_config, latent_config, Stage, GeneratorSpec, REGISTRY, NAMES,
                    TRAINABLE, get_spec, build_generator)
from .training import training_setup, train_course_generator
from .store import (merge_manifest, save_course_generator, read_manifest, course_generator_record,
                    load_course_generator, sample)

__all__ = [
    "WEIGHTS_DIR", "MANIFEST", "TRAIN_COMMAND", "DEFAULT_GUIDANCE", "NUM_CLASSES", "IMAGE_SHAPE", "mlp_gan_config",
    "dcgan_config", "vae_config", "cond_vae_config", "latent_config", "Stage", "GeneratorSpec", "REGISTRY", "NAMES",
    "TRAINABLE", "get_spec", "build_generator", "training_setup", "train_course_generator", "merge_manifest",
    "save_course_generator", "read_manifest", "course_generator_record", "load_course_generator", "sample",
]
