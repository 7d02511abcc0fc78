"""Text and images together (chapters 12-13): captioned MNIST, an attribute checker, CLIP, a VQ-VAE."""
from .captions import (HELD_OUT_COMBOS, HELD_OUT_TEMPLATES, IMAGE_SIZE, POSITIONS, SIZES, TEXT_CONTEXT,
                       THICKNESSES, TRAIN_TEMPLATES, VOCAB, CaptionedMNIST, CaptionTokenizer, describe,
                       make_captioned_mnist, random_captions)
from .checker import AttributeChecker, checker_ceiling
from .clip import CLIP, CLIPConfig, CLIPTask, contrastive_loss
from .pretrained import load_clip, load_vqvae
from .vqvae import VQVAE, VQVAEConfig, VQVAETask, VectorQuantizer, codebook_usage

__all__ = ["HELD_OUT_COMBOS", "HELD_OUT_TEMPLATES", "IMAGE_SIZE", "POSITIONS", "SIZES", "TEXT_CONTEXT",
           "THICKNESSES", "TRAIN_TEMPLATES", "VOCAB", "CaptionedMNIST", "CaptionTokenizer", "describe",
           "make_captioned_mnist", "random_captions", "AttributeChecker", "checker_ceiling", "CLIP", "CLIPConfig",
           "CLIPTask", "contrastive_loss", "load_clip", "load_vqvae", "VQVAE", "VQVAEConfig", "VQVAETask",
           "VectorQuantizer", "codebook_usage"]

# chapter 13: text to image (cross-attention U-Net + latent flow matching; GPT token prior)
from .cross_attention import CaptionContext, CrossAttention, TextAttentionBlock, caption_mask  # noqa: E402
from .latent_autoencoder import AutoencoderTask, ConvAutoencoder, ConvAutoencoderConfig  # noqa: E402
from .text_to_image import TextToImage, TextToImageConfig, TextToImageTask  # noqa: E402
from .text_unet import CaptionEncoder, CaptionEncoderConfig, TextUNet, TextUNetConfig  # noqa: E402
from .token_prior import TokenPrior, TokenPriorConfig, TokenPriorTask, rerank  # noqa: E402

__all__ += ["CaptionContext", "CrossAttention", "TextAttentionBlock", "caption_mask", "AutoencoderTask",
            "ConvAutoencoder", "ConvAutoencoderConfig", "TextToImage", "TextToImageConfig", "TextToImageTask",
            "CaptionEncoder", "CaptionEncoderConfig", "TextUNet", "TextUNetConfig", "TokenPrior", "TokenPriorConfig",
            "TokenPriorTask", "rerank"]
