"""More bad inputs: the review's per-area silent and unclear answers, and what a 2,214-case probe found.

Each row calls aigc_lib with one bad argument and asserts the error type, that
the message names the argument (or what was expected), and that the error was
raised by aigc_lib's own code (not deep inside torch or Python). Every row
failed (silently or with a foreign message) before the checks were added.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_lib import Trainer, History
from aigc_lib.core import EMA, DistInfo, warmup_cosine
from aigc_lib.data import TensorBatches, download, file_hash, read_idx
from aigc_lib.diffusion import (MLPDenoiser, MLPDenoiserConfig, NoiseSchedule, UNet, UNetConfig, classifier_free_guidance,
                                ddim_step, ddpm_loss, drop_labels, eps_to_score, flow_euler_step, flow_matching_loss,
                                make_schedule, q_posterior, q_sample, to_image_range, to_model_range)
from aigc_lib.evaluation import MNISTClassifierConfig, load_mnist_classifier
from aigc_lib.gan import (MLPGANConfig, MLPGenerator, critic_loss, discriminator_loss, gradient_penalty, interpolate,
                          mode_coverage, nearest_distances, sample_latent)
from aigc_lib.lm import GPT, GPTConfig, ByteBPETokenizer, apply_temperature, distinct_n, hub_reachable, top_k_filter
from aigc_lib.transformer import (BlockConfig, MultiHeadAttention, TransformerEncoder, beam_search, causal_mask,
                                  check_token_ids, length_penalty, row_split_linear, scaled_dot_product_attention,
                                  sinusoidal_table)
from aigc_lib.vae import ELBOTerms, beta_vae_loss, bernoulli_log_likelihood, binarize_fixed, gaussian_kl, reparameterize

NAN, INF = float("nan"), float("inf")
S = NoiseSchedule.cosine(10)
X = torch.randn(2, 1, 8, 8)
ZERO = lambda x, t: torch.zeros_like(x)    # noqa: E731


def unet():
    return UNet(UNetConfig(image_size=8, base_channels=8, channel_mults=(1, 2), attention_levels=(), groups=4,
                           num_classes=10)).eval()


def mlp():
    return MLPDenoiser(MLPDenoiserConfig(data_shape=(2,), hidden=16, depth=1, time_dim=8))


def gpt():
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))


def tmp() -> Path:
    return Path(tempfile.mkdtemp())


def garbage_idx():
    p = tmp() / "x.idx.gz"
    p.write_bytes(b"\x00\x00\x08\x05garbage")
    return read_idx(p)


CASES = [
    # ---------------------------------------------------------------- diffusion (review F5-F7, F15 and the probe)
    ("q_sample schedule str", lambda: q_sample("cosine", X, 1), TypeError, ["schedule", "NoiseSchedule"]),
    ("q_sample noise list", lambda: q_sample(S, X, 1, noise=[0.0]), TypeError, ["noise"]),
    ("q_posterior x0 bool", lambda: q_posterior(S, X > 0, X, 1), TypeError, ["x0"]),
    ("q_posterior xt NaN", lambda: q_posterior(S, X, torch.full_like(X, NAN), 1), ValueError, ["xt", "NaN"]),
    ("eps_to_score eps long", lambda: eps_to_score(S, X.long(), 1), TypeError, ["eps"]),
    ("ddim_step eps wrong shape", lambda: ddim_step(S, X[:1], 3, 1, X), ValueError, ["eps", "(2, 1, 8, 8)"]),
    ("ddim_step clip_x0 str", lambda: ddim_step(S, X, 3, 1, X, clip_x0="1"), TypeError, ["clip_x0"]),
    ("ddim_step generator int", lambda: ddim_step(S, X, 3, 1, X, eta=1.0, generator=3), TypeError, ["generator"]),
    ("ddpm_loss model str", lambda: ddpm_loss("f", S, X), TypeError, ["model"]),
    ("ddpm_loss model returns list", lambda: ddpm_loss(lambda x, t: [0.0], S, X), TypeError, ["model", "tensor"]),
    ("ddpm_loss empty batch", lambda: ddpm_loss(ZERO, S, X[:0]), ValueError, ["x0", "B >= 1"]),
    ("flow_matching_loss time_scale 0", lambda: flow_matching_loss(ZERO, X, time_scale=0.0), ValueError,
     ["time_scale", "> 0"]),
    ("flow_euler_step v NaN", lambda: flow_euler_step(torch.full_like(X, NAN), X, 0.2, 0.4), ValueError, ["v", "NaN"]),
    ("drop_labels null_label str", lambda: drop_labels(torch.tensor([1, 2]), 0.1, "10"), TypeError, ["null_label"]),
    ("drop_labels p True", lambda: drop_labels(torch.tensor([1, 2]), True, 10), TypeError, ["p"]),
    ("drop_labels y 2-D", lambda: drop_labels(torch.tensor([[1, 2]]), 0.1, 10), ValueError, ["y", "(B,)"]),
    ("classifier_free_guidance model str", lambda: classifier_free_guidance("m", torch.tensor([1]), 2.0, 10),
     TypeError, ["model"]),
    ("to_image_range NaN", lambda: to_image_range(torch.full((1, 1, 2, 2), NAN)), ValueError, ["x", "NaN"]),
    ("to_image_range long", lambda: to_image_range(torch.zeros(1, 1, 2, 2, dtype=torch.long)), TypeError, ["x"]),
    ("to_model_range out of [0, 1]", lambda: to_model_range(torch.full((1, 1, 2, 2), 2.0)), ValueError,
     ["images", "[0, 1]"]),
    ("NoiseSchedule name int", lambda: NoiseSchedule(torch.full((5,), 0.1), name=3), TypeError, ["name"]),
    ("NoiseSchedule betas str", lambda: NoiseSchedule("0.1"), TypeError, ["betas"]),
    ("UNet t negative", lambda: unet()(X, torch.tensor([-1, 3])), ValueError, ["t", ">= 0"]),
    ("UNet y bool tensor list", lambda: unet()(X, torch.tensor([3, 3]), [True, False]), TypeError, ["labels y"]),
    ("UNetConfig dropout str", lambda: UNetConfig(dropout="0.1"), TypeError, ["dropout"]),
    ("UNetConfig attention_levels float", lambda: UNetConfig(attention_levels=(1.0,)), TypeError,
     ["attention_levels"]),
    ("MLPDenoiserConfig data_shape int", lambda: MLPDenoiserConfig(data_shape=2), TypeError, ["data_shape"]),
    ("load_mnist_classifier sha None", lambda: load_mnist_classifier(sha256=None), TypeError,
     ["sha256", "never optional"]),
    ("load_mnist_classifier sha ''", lambda: load_mnist_classifier(sha256=""), ValueError, ["sha256", "64 hex"]),
    ("load_mnist_classifier device", lambda: load_mnist_classifier(device="gpu7"), ValueError, ["device"]),
    ("download checksum empty", lambda: download("http://127.0.0.1:9/x", tmp() / "x", ""), TypeError,
     ["expected", "never optional"]),
    ("file_hash on a folder", lambda: file_hash(tmp()), FileNotFoundError, ["folder"]),
    ("read_idx not gzip", garbage_idx, ValueError, ["x.idx.gz", "gzipped IDX"]),
    # ---------------------------------------------------------------- core
    ("Trainer config a dict", lambda: Trainer({"max_steps": 3}), TypeError, ["config", "TrainerConfig"]),
    ("EMA warmup 'yes'", lambda: EMA(torch.nn.Linear(2, 2), warmup="yes"), TypeError, ["warmup"]),
    ("EMA module str", lambda: EMA("model"), TypeError, ["module"]),
    ("EMA.update other shapes", lambda: EMA(torch.nn.Linear(2, 2)).update(torch.nn.Linear(3, 3)), ValueError,
     ["weight", "shape"]),
    ("EMA.load_state_dict a list", lambda: EMA(torch.nn.Linear(2, 2)).load_state_dict([1]), TypeError,
     ["EMA state", "dict"]),
    ("DistInfo rank too big", lambda: DistInfo(rank=3, world_size=2), ValueError, ["rank", "world_size=2"]),
    ("DistInfo world_size 0", lambda: DistInfo(world_size=0), ValueError, ["world_size"]),
    ("LR multiplier step float", lambda: warmup_cosine(2, 10)(2.5), TypeError, ["step"]),
    ("History.load_state_dict junk", lambda: History().load_state_dict({"x": 1}), TypeError, ["History state"]),
    ("TensorBatches.load_state_dict junk", lambda: TensorBatches(torch.zeros(4, 2), batch_size=2).load_state_dict(
        {"x": 1}), KeyError, ["TensorBatches state", "epoch"]),
    # ---------------------------------------------------------------- transformer and LM
    ("sdpa scale negative", lambda: scaled_dot_product_attention(*[torch.randn(1, 2, 3, 4)] * 3, scale=-1.0), ValueError,
     ["scale"]),
    ("sdpa q NaN", lambda: scaled_dot_product_attention(torch.full((1, 2, 3, 4), NAN), *[torch.randn(1, 2, 3, 4)] * 2),
     ValueError, ["q", "NaN"]),
    ("sdpa q 5-D", lambda: scaled_dot_product_attention(torch.randn(1, 1, 2, 3, 4), *[torch.randn(1, 2, 3, 4)] * 2),
     ValueError, ["q, k, v"]),
    ("sdpa k empty batch", lambda: scaled_dot_product_attention(torch.randn(2, 2, 3, 4), torch.randn(0, 2, 3, 4),
                                                                 torch.randn(0, 2, 3, 4)), ValueError, ["leading"]),
    ("MultiHeadAttention bias 'yes'", lambda: MultiHeadAttention(8, 2, bias="yes"), TypeError, ["bias"]),
    ("MultiHeadAttention cross 1", lambda: MultiHeadAttention(8, 2, cross=1), TypeError, ["cross"]),
    ("causal_mask 0 queries", lambda: causal_mask(0), ValueError, ["t_q"]),
    ("sinusoidal_table base None", lambda: sinusoidal_table(8, 4, base=None), TypeError, ["base"]),
    ("TransformerEncoder config str", lambda: TransformerEncoder("model", 1), TypeError, ["config", "BlockConfig"]),
    ("check_token_ids vocab nan", lambda: check_token_ids(torch.tensor([1]), NAN), TypeError, ["vocab_size"]),
    ("row_split_linear bias shape", lambda: row_split_linear(torch.ones(2, 3), torch.zeros(4, 3), torch.zeros(5), 2),
     ValueError, ["bias", "(4,)"]),
    ("length_penalty alpha -1", lambda: length_penalty(3, -1.0), ValueError, ["alpha", ">= 0"]),
    ("apply_temperature logits NaN", lambda: apply_temperature(torch.tensor([[NAN, 1.0]]), 0.5), ValueError,
     ["logits", "NaN"]),
    ("apply_temperature logits 3-D", lambda: apply_temperature(torch.zeros(1, 2, 3), 0.5), ValueError, ["logits"]),
    ("top_k_filter empty logits", lambda: top_k_filter(torch.zeros(0, 5), 2), ValueError, ["logits"]),
    ("distinct_n strings", lambda: distinct_n(["abc"], 2), TypeError, ["sequences", "token ids"]),
    ("distinct_n float tensor", lambda: distinct_n(torch.rand(2, 3), 2), TypeError, ["sequences", "dtype"]),
    ("distinct_n empty", lambda: distinct_n([], 2), ValueError, ["sequences", "at least one"]),
    ("ByteBPE pattern invalid", lambda: ByteBPETokenizer(pattern="("), ValueError, ["pattern", "regular expression"]),
    ("GPT caches a tensor", lambda: gpt()(torch.tensor([[1, 2]]), torch.rand(1, 2)), TypeError, ["caches"]),
    ("GPT empty batch", lambda: gpt()(torch.zeros(0, 3, dtype=torch.long)), ValueError, ["idx"]),
    ("hub_reachable host int", lambda: hub_reachable(host=3), TypeError, ["host"]),
    # ---------------------------------------------------------------- GAN, VAE, evaluation
    ("discriminator_loss bool logits", lambda: discriminator_loss(torch.ones(2, 1) > 0, torch.zeros(2, 1)), TypeError,
     ["real_logits"]),
    ("critic_loss empty", lambda: critic_loss(torch.zeros(0), torch.zeros(2)), ValueError, ["real_scores", "empty"]),
    ("critic_loss numpy", lambda: critic_loss(np.zeros(2), torch.zeros(2)), TypeError, ["real_scores"]),
    ("interpolate real NaN", lambda: interpolate(torch.full((2, 2), NAN), torch.zeros(2, 2)), ValueError,
     ["real", "NaN"]),
    ("gradient_penalty critic str", lambda: gradient_penalty("c", torch.randn(4, 2), torch.randn(4, 2)), TypeError,
     ["critic"]),
    ("sample_latent n 0", lambda: sample_latent(0, 2), ValueError, ["n"]),
    ("MLPGenerator z NaN", lambda: MLPGenerator(MLPGANConfig(data_shape=(2,), latent_dim=2, hidden_dim=8, n_hidden=1))(
        torch.full((2, 2), NAN)), ValueError, ["z", "NaN"]),
    ("mode_coverage empty samples", lambda: mode_coverage(torch.zeros(0, 2), torch.zeros(3, 2), 0.1), ValueError,
     ["samples", "at least one"]),
    ("nearest_distances empty", lambda: nearest_distances(torch.zeros(0, 2), torch.zeros(3, 2)), ValueError,
     ["queries"]),
    ("gaussian_kl mu NaN", lambda: gaussian_kl(torch.full((2, 2), NAN), torch.zeros(2, 2)), ValueError, ["mu", "NaN"]),
    ("gaussian_kl logvar long", lambda: gaussian_kl(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long)),
     TypeError, ["logvar"]),
    ("reparameterize logvar inf", lambda: reparameterize(torch.zeros(2, 2), torch.full((2, 2), INF)), ValueError,
     ["logvar"]),
    ("bernoulli x long", lambda: bernoulli_log_likelihood(torch.zeros(2, 4), torch.ones(2, 4, dtype=torch.long)),
     TypeError, ["x"]),
    ("bernoulli logits NaN", lambda: bernoulli_log_likelihood(torch.full((2, 4), NAN), torch.ones(2, 4)), ValueError,
     ["logits"]),
    ("binarize_fixed bool", lambda: binarize_fixed(torch.ones(2, 4) > 0), TypeError, ["images"]),
    ("beta_vae_loss terms str", lambda: beta_vae_loss("terms"), TypeError, ["terms", "ELBOTerms"]),
    ("MNISTClassifierConfig dropout nan", lambda: MNISTClassifierConfig(dropout=NAN), ValueError, ["dropout"]),
    ("MNISTClassifierConfig channels float", lambda: MNISTClassifierConfig(channels=(32, 64.5, 64)), TypeError,
     ["channels[1]"]),
    ("MNISTClassifierConfig n_classes 0", lambda: MNISTClassifierConfig(n_classes=0), ValueError, ["n_classes"]),
]


@pytest.mark.parametrize("call, error, fragments", [pytest.param(c, e, f, id=i) for i, c, e, f in CASES])
def test_bad_input_is_refused_by_aigc_lib_with_a_clear_message(call, error, fragments, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message lacks {missing}: {message!r}"
    assert "/aigc_lib/" in info.traceback[-1].path.as_posix(), "raised outside aigc_lib"


def test_rows_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 80
