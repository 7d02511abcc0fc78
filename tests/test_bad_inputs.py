"""A table of bad inputs to every public function and class of aigc_lib.

Each row calls the library with one bad argument (wrong type, shape, dtype,
range, NaN/inf, empty, out-of-vocabulary, environment variable, file-system
state) and asserts the exception type AND that the message names the
argument and what was expected. A row that hangs fails after a few seconds
(``signal.alarm``) instead of blocking the suite.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn

import aigc_lib
from aigc_lib import History, SupervisedTask, Trainer, TrainerConfig, budget, get_device, seed_everything
from aigc_lib import is_smoke, load_checkpoint, save_checkpoint
from aigc_lib.transformer import (KVCache, MultiHeadAttention, causal_mask, fast_scaled_dot_product_attention,
                                  padding_mask, scaled_dot_product_attention)
from aigc_lib.transformer import beam_search, greedy_decode, length_penalty
from aigc_lib.transformer import bleu_from_stats, corpus_bleu, corpus_bleu_stats, ngrams
from aigc_lib.core import CheckpointError, acquire_lock
from aigc_lib.data import (RandomWindows, TensorBatches, download, gaussian_mixture_2d, load_mnist, ring_centers,
                           ring_of_gaussians)
from aigc_lib.data.download import file_hash
from aigc_lib.core import init_from_env
from aigc_lib.gan import (DCGANConfig, DCGANDiscriminator, DCGANGenerator, MLPGANConfig, MLPDiscriminator,
                          MLPGenerator, generate, sample_latent)
from aigc_lib.gan import mode_coverage, GANTask, WGANGPTask, gradient_penalty, interpolate
from aigc_lib.lm import GPT, GPTConfig, LanguageModelTask, convert_hf_gpt2_state_dict, from_pretrained, hub_reachable
from aigc_lib.transformer import row_split_linear
from aigc_lib.evaluation import MNISTClassifier, feature_statistics, frechet_distance, label_accuracy, predict
from aigc_lib.core import LiveLossPlot, heatmap, plot_history, show_images
from aigc_lib.transformer import (LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding,
                                  sinusoidal_table)
from aigc_lib.lm import (SamplingConfig, apply_repetition_penalty, apply_temperature, distinct_n, sample_next_token,
                         top_k_filter, top_p_filter)
from aigc_lib.core import inverse_sqrt, warmup_cosine
from aigc_lib.transformer import CharVocab, encode_pairs, format_date, load_dates, random_date_pairs, split_dates
from aigc_lib.lm import ByteBPETokenizer, CharTokenizer
from aigc_lib.transformer import (BlockConfig, Seq2SeqConfig, Seq2SeqTask, Seq2SeqTransformer, TransformerEncoder,
                                  check_token_ids, trim_padding)
from aigc_lib.vae import (VAE, AutoencoderConfig, VAEConfig, VAETask, beta_vae_loss, held_out_likelihood,
                          iwae_log_likelihood)
from aigc_lib.vae import bernoulli_log_likelihood, binarize_dynamic, binarize_fixed, log_mean_exp, reparameterize
from tests.tasks import RegressionTask, regression_data

NAN, INF = float("nan"), float("inf")
QUIET = dict(progress=False, live_plot=False)


# ------------------------------------------------------------------ small objects used by the rows
def gpt():
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))


def s2s():
    return Seq2SeqTransformer(Seq2SeqConfig(src_vocab=12, tgt_vocab=12, d_model=8, n_heads=2, n_encoder_layers=1,
                                            n_decoder_layers=1, max_src_len=6, max_tgt_len=6, dropout=0.0))


def vae(**kw):
    return VAE(VAEConfig(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2, **kw))


def mlp_pair(**kw):
    cfg = MLPGANConfig(data_shape=(2,), latent_dim=2, hidden_dim=8, n_hidden=1, **kw)
    return MLPGenerator(cfg), MLPDiscriminator(cfg)


def tanh_pair():
    cfg = MLPGANConfig(data_shape=(2,), latent_dim=2, hidden_dim=8, n_hidden=1, output="tanh")
    return MLPGenerator(cfg), MLPDiscriminator(cfg)


def logp(prefixes):
    return torch.log_softmax(torch.zeros(prefixes.shape[0], 5), -1)


def xy():
    return regression_data(n=32)


def fit(data=None, val=None, task=None, **kw):
    x, y = xy()
    data = TensorBatches(x, y, batch_size=8) if data is None else data
    return Trainer(**{**dict(max_steps=2), **QUIET, **kw}).fit(task or RegressionTask(), data, val)


def with_env(env: dict, fn):
    def call():
        with mock.patch.dict(os.environ, {k: v for k, v in env.items() if v is not None}):
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
            return fn()
    return call


def tmp():
    return Path(tempfile.mkdtemp())


def in_file_dir(fn):
    """Call fn(path) with a folder path that lies below a regular file (cannot be created)."""
    d = tmp()
    (d / "file").write_text("x")
    return lambda: fn(d / "file" / "sub")


def damaged_checkpoint(data: bytes):
    def call():
        d = tmp()
        (d / "last.pt").write_bytes(data)
        return load_checkpoint(d / "last.pt")
    return call


def locked_dir():
    d = tmp()
    (d / ".lock").write_text(f"{os.getppid()} {socket.gethostname()}\n")
    return lambda: fit(checkpoint_dir=d)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


IMG = torch.rand(4, 1, 28, 28)


def classifier():
    return MNISTClassifier()


# Each row: (id, call, exception type, fragments the message must contain: the argument and what was expected)
CASES = [
    # ------------------------------------------------------------- Trainer / TrainerConfig
    ("max_steps float", lambda: Trainer(max_steps=2.5), TypeError, ["max_steps", "integer"]),
    ("max_steps bool", lambda: Trainer(max_steps=True), TypeError, ["max_steps", "integer"]),
    ("max_steps negative", lambda: Trainer(max_steps=-1), ValueError, ["max_steps", ">= 0"]),
    ("max_steps string", lambda: Trainer(max_steps="10"), TypeError, ["max_steps", "integer"]),
    ("grad_accum_steps 0", lambda: Trainer(grad_accum_steps=0), ValueError, ["grad_accum_steps", ">= 1"]),
    ("grad_accum_steps float", lambda: Trainer(grad_accum_steps=2.0), TypeError, ["grad_accum_steps", "integer"]),
    ("clip_grad_norm nan", lambda: Trainer(clip_grad_norm=NAN), ValueError, ["clip_grad_norm", "finite"]),
    ("clip_grad_norm 0", lambda: Trainer(clip_grad_norm=0.0), ValueError, ["clip_grad_norm", "> 0"]),
    ("clip_grad_norm string", lambda: Trainer(clip_grad_norm="1"), TypeError, ["clip_grad_norm", "number"]),
    ("lr_schedule unknown", lambda: Trainer(lr_schedule="linear"), ValueError, ["lr_schedule", "'cosine'"]),
    ("warmup_steps float", lambda: Trainer(warmup_steps=1.5), TypeError, ["warmup_steps", "integer"]),
    ("min_lr_ratio nan", lambda: Trainer(min_lr_ratio=NAN), ValueError, ["min_lr_ratio", "finite"]),
    ("min_lr_ratio above 1", lambda: Trainer(min_lr_ratio=2.0), ValueError, ["min_lr_ratio", "[0, 1]"]),
    ("eval_every negative", lambda: Trainer(eval_every=-1), ValueError, ["eval_every", ">= 0"]),
    ("eval_every float", lambda: Trainer(eval_every=10.0), TypeError, ["eval_every", "integer"]),
    ("eval_batches 0", lambda: Trainer(eval_batches=0), ValueError, ["eval_batches", ">= 1"]),
    ("eval_batches float", lambda: Trainer(eval_batches=2.5), TypeError, ["eval_batches", "integer"]),
    ("log_every 0", lambda: Trainer(log_every=0), ValueError, ["log_every", ">= 1"]),
    ("log_every bool", lambda: Trainer(log_every=True), TypeError, ["log_every", "integer"]),
    ("precision fp16", lambda: Trainer(precision="fp16"), ValueError, ["precision", "'bf16'"]),
    ("compile string", lambda: Trainer(compile="yes"), TypeError, ["compile", "True or False"]),
    ("progress int", lambda: Trainer(progress=1), TypeError, ["progress", "True or False"]),
    ("resume string", lambda: Trainer(resume="False"), TypeError, ["resume", "True or False"]),
    ("live_plot string", lambda: Trainer(live_plot="yes"), ValueError, ["live_plot", "'auto'"]),
    ("plot_every_s negative", lambda: Trainer(plot_every_s=-1.0), ValueError, ["plot_every_s", ">= 0"]),
    ("checkpoint_dir empty", lambda: Trainer(checkpoint_dir=""), ValueError, ["checkpoint_dir", "None"]),
    ("checkpoint_dir int", lambda: Trainer(checkpoint_dir=3), TypeError, ["checkpoint_dir", "folder path"]),
    ("checkpoint_every float", lambda: Trainer(checkpoint_every=0.5), TypeError, ["checkpoint_every", "integer"]),
    ("device gpu", lambda: Trainer(device="gpu"), ValueError, ["device", "'cpu'"]),
    ("device int", lambda: Trainer(device=0), TypeError, ["device", "'cpu'"]),
    ("unknown setting", lambda: Trainer(max_step=3), TypeError, ["max_step"]),
    ("lr_schedule a number", lambda: TrainerConfig(lr_schedule=3), TypeError, ["lr_schedule", "a function"]),
    ("fit with a plain module", lambda: Trainer(**QUIET).fit(nn.Linear(2, 2), [1]), TypeError, ["Task", "Linear"]),
    ("fit train_data None", lambda: fit(data=None, task=RegressionTask()) if False else
        Trainer(max_steps=1, **QUIET).fit(RegressionTask(), None), TypeError, ["train_data", "iterable"]),
    ("fit empty train_data", lambda: fit(data=[]), ValueError, ["train_data", "non-empty"]),
    ("exhausted generator", lambda: fit(data=iter([xy()]), max_steps=3), ValueError, ["train_data", "re-iterable"]),
    ("val_data iterator", lambda: fit(val=iter([xy()])), TypeError, ["val_data", "re-iterable"]),
    ("endless val with eval_batches None", lambda: fit(val=TensorBatches(*xy(), batch_size=8), eval_batches=None),
     ValueError, ["eval_batches=None", "finite val_data"]),
    ("evaluate empty val_data", lambda: Trainer(**QUIET).evaluate(RegressionTask(), []), ValueError,
     ["val_data", "non-empty"]),
    ("negative lr multiplier", lambda: fit(lr_schedule=lambda s: -1.0), ValueError, ["lr_schedule", ">= 0"]),
    ("nan lr multiplier", lambda: fit(lr_schedule=lambda s: NAN), ValueError, ["lr_schedule", "finite"]),
    ("string lr multiplier", lambda: fit(lr_schedule=lambda s: "1"), ValueError, ["lr_schedule", "number"]),
    ("checkpoint_dir under a file", in_file_dir(lambda p: fit(checkpoint_dir=p)), CheckpointError,
     ["checkpoint_dir", "writable folder"]),
    ("checkpoint_dir locked by a live run", locked_dir(), CheckpointError, ["checkpoint_dir", "another checkpoint_dir"]),
    # ------------------------------------------------------------- checkpoints
    ("empty checkpoint", damaged_checkpoint(b""), CheckpointError, ["last.pt", "resume=False"]),
    ("garbage checkpoint", damaged_checkpoint(b"hello" * 50), CheckpointError, ["last.pt", "resume=False"]),
    ("zip without checksum", damaged_checkpoint(b"PK\x03\x04" + b"\0" * 100), CheckpointError,
     ["last.pt", "Delete"]),
    ("load missing checkpoint", lambda: load_checkpoint(tmp() / "none.pt"), FileNotFoundError, ["none.pt"]),
    ("load path int", lambda: load_checkpoint(3), TypeError, ["path", "str"]),
    ("save state not a dict", lambda: save_checkpoint([1, 2], tmp() / "c.pt"), TypeError, ["state", "dict"]),
    ("save onto a folder", lambda: save_checkpoint({}, tmp()), IsADirectoryError, ["path", "file name"]),
    ("save path empty", lambda: save_checkpoint({}, ""), TypeError, ["path", "non-empty"]),
    ("lock of another host", lambda: (lambda d: ((d / ".lock").write_text("1 some-other-host\n"),
                                                 acquire_lock(d)))(tmp()), CheckpointError,
     ["in use by another run", "delete"]),
    # ------------------------------------------------------------- environment variables
    ("AIGC_SMOKE=2", with_env({"AIGC_SMOKE": "2"}, is_smoke), ValueError, ["AIGC_SMOKE", "true"]),
    ("AIGC_SMOKE=y", with_env({"AIGC_SMOKE": "y"}, is_smoke), ValueError, ["AIGC_SMOKE", "off"]),
    ("AIGC_SMOKE=enabled via Trainer", with_env({"AIGC_SMOKE": "enabled"}, lambda: fit()), ValueError,
     ["AIGC_SMOKE", "yes"]),
    ("AIGC_SMOKE=2 via budget", with_env({"AIGC_SMOKE": "2"}, lambda: budget(10, 2)), ValueError,
     ["AIGC_SMOKE", "on"]),
    ("AIGC_DEVICE=gpu", with_env({"AIGC_DEVICE": "gpu"}, get_device), ValueError, ["AIGC_DEVICE", "'cuda'"]),
    ("AIGC_DEVICE=cuda without a GPU", with_env({"AIGC_DEVICE": "cuda"}, get_device), RuntimeError,
     ["AIGC_DEVICE", "cuda"]),
    ("AIGC_DEVICE=tpu", with_env({"AIGC_DEVICE": "xla"}, get_device), ValueError, ["AIGC_DEVICE", "'mps'"]),
    ("AIGC_DEVICE via Trainer", with_env({"AIGC_DEVICE": "gpu"}, lambda: Trainer()), ValueError,
     ["AIGC_DEVICE", "'cpu'"]),
    ("WORLD_SIZE not a number", with_env({"WORLD_SIZE": "two"}, init_from_env), ValueError,
     ["WORLD_SIZE", "integer"]),
    ("WORLD_SIZE without RANK", with_env({"WORLD_SIZE": "2", "RANK": None}, init_from_env), RuntimeError,
     ["RANK is not set", "unset WORLD_SIZE"]),
    ("RANK out of range", with_env({"WORLD_SIZE": "2", "RANK": "5"}, init_from_env), ValueError, ["RANK", "0..1"]),
    ("MASTER_PORT missing", with_env({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": None},
                                     init_from_env), RuntimeError, ["MASTER_PORT is not set", "torchrun"]),
    ("stray WORLD_SIZE times out", with_env({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1",
                                             "MASTER_PORT": str(free_port()), "AIGC_DIST_TIMEOUT": "1"},
                                            init_from_env), RuntimeError, ["WORLD_SIZE=2", "unset WORLD_SIZE"]),
    ("AIGC_DIST_TIMEOUT not a number", with_env({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1",
                                                 "MASTER_PORT": "1", "AIGC_DIST_TIMEOUT": "soon"}, init_from_env),
     ValueError, ["AIGC_DIST_TIMEOUT", "positive number"]),
    # ------------------------------------------------------------- device, seeds, budget, history, schedules
    ("seed float", lambda: seed_everything(1.5), TypeError, ["seed", "integer"]),
    ("seed negative", lambda: seed_everything(-1), ValueError, ["seed", "[0,"]),
    ("setup_notebook seed string", lambda: aigc_lib.setup_notebook("0"), TypeError, ["seed", "integer"]),
    ("get_device bad name", lambda: get_device("gpu"), ValueError, ["device", "'cuda:N'"]),
    ("budget float", lambda: budget(10.5, 2), TypeError, ["real", "integer"]),
    ("budget negative smoke", lambda: budget(10, -2), ValueError, ["smoke", ">= 0"]),
    ("History.log step float", lambda: History().log(1.5, {"a": 1.0}), TypeError, ["step", "integer"]),
    ("History.log metrics list", lambda: History().log(1, [1.0]), TypeError, ["metrics", "dict"]),
    ("History.log value string", lambda: History().log(1, {"a": "x"}), TypeError, ["'a'", "number"]),
    ("History.last unknown", lambda: History().last("loss"), KeyError, ["loss", "logged metrics"]),
    ("warmup_cosine total 0", lambda: warmup_cosine(0, 0), ValueError, ["total_steps", ">= 1"]),
    ("warmup_cosine float", lambda: warmup_cosine(2.5, 10), TypeError, ["warmup_steps", "integer"]),
    ("warmup_cosine nan ratio", lambda: warmup_cosine(1, 10, NAN), ValueError, ["min_ratio", "finite"]),
    ("inverse_sqrt 0", lambda: inverse_sqrt(0), ValueError, ["warmup_steps", ">= 1"]),
    # ------------------------------------------------------------- tasks
    ("SupervisedTask optimizer instance", lambda: SupervisedTask(nn.Linear(2, 1), nn.functional.mse_loss,
                                                                 torch.optim.SGD(nn.Linear(2, 1).parameters(), 0.1)),
     TypeError, ["optimizer", "function"]),
    ("SupervisedTask model not a module", lambda: SupervisedTask("net", nn.functional.mse_loss, lambda p: None),
     TypeError, ["model", "nn.Module"]),
    ("SupervisedTask loss not callable", lambda: SupervisedTask(nn.Linear(2, 1), "mse", lambda p: None),
     TypeError, ["loss_fn", "function"]),
    ("SupervisedTask batch not a pair", lambda: SupervisedTask(nn.Linear(2, 1), nn.functional.mse_loss,
                                                               lambda p: None).training_loss(torch.zeros(2, 2)),
     TypeError, ["SupervisedTask", "(x, y)"]),
    # ------------------------------------------------------------- data streams
    ("TensorBatches batch_size float", lambda: TensorBatches(torch.zeros(8), batch_size=2.5), TypeError,
     ["batch_size", "integer"]),
    ("TensorBatches batch_size 0", lambda: TensorBatches(torch.zeros(8), batch_size=0), ValueError,
     ["batch_size", ">= 1"]),
    ("TensorBatches too large batch", lambda: TensorBatches(torch.zeros(8), batch_size=9), ValueError,
     ["batch_size", "larger than the data set"]),
    ("TensorBatches list input", lambda: TensorBatches([1, 2, 3], batch_size=1), TypeError, ["tensors", "tensor"]),
    ("TensorBatches no tensors", lambda: TensorBatches(batch_size=1), ValueError, ["at least one tensor"]),
    ("TensorBatches 0-d tensor", lambda: TensorBatches(torch.tensor(1.0), batch_size=1), ValueError,
     ["tensors", "first"]),
    ("TensorBatches lengths differ", lambda: TensorBatches(torch.zeros(8), torch.zeros(7), batch_size=2),
     ValueError, ["first dimension", "tensor 1 has 7"]),
    ("TensorBatches empty", lambda: TensorBatches(torch.zeros(0), batch_size=1, repeat=False), ValueError,
     ["tensors", "at least one example"]),
    ("TensorBatches shuffle string", lambda: TensorBatches(torch.zeros(8), batch_size=2, shuffle="no"),
     TypeError, ["shuffle", "True or False"]),
    ("TensorBatches seed float", lambda: TensorBatches(torch.zeros(8), batch_size=2, seed=0.5), TypeError,
     ["seed", "integer"]),
    ("TensorBatches shard not divisible", lambda: TensorBatches(torch.zeros(8), batch_size=3).shard(0, 2),
     ValueError, ["batch_size", "divisible"]),
    ("TensorBatches shard rank too big", lambda: TensorBatches(torch.zeros(8), batch_size=4).shard(2, 2),
     ValueError, ["rank", "[0, 1]"]),
    ("RandomWindows list tokens", lambda: RandomWindows([1, 2, 3], 2, 1), TypeError, ["tokens", "tensor"]),
    ("RandomWindows float tokens", lambda: RandomWindows(torch.rand(20), 2, 1), TypeError, ["tokens", "integer"]),
    ("RandomWindows 2-D tokens", lambda: RandomWindows(torch.zeros(4, 5, dtype=torch.long), 2, 1), ValueError,
     ["tokens", "1-D"]),
    ("RandomWindows block_size float", lambda: RandomWindows(torch.arange(20), 2.5, 1), TypeError,
     ["block_size", "integer"]),
    ("RandomWindows too short", lambda: RandomWindows(torch.arange(5), 8, 1), ValueError, ["block_size=8", "more"]),
    ("RandomWindows num_batches 0", lambda: RandomWindows(torch.arange(20), 2, 1, num_batches=0), ValueError,
     ["num_batches", ">= 1"]),
    ("RandomWindows batch negative k", lambda: RandomWindows(torch.arange(20), 2, 1).batch(-1), ValueError,
     ["k", ">= 0"]),
    ("ring_of_gaussians n float", lambda: ring_of_gaussians(10.5), TypeError, ["n", "integer"]),
    ("ring_of_gaussians std nan", lambda: ring_of_gaussians(10, std=NAN), ValueError, ["std", "finite"]),
    ("ring_of_gaussians std 0", lambda: ring_of_gaussians(10, std=0.0), ValueError, ["std", "> 0"]),
    ("ring_centers modes 0", lambda: ring_centers(0), ValueError, ["n_modes", ">= 1"]),
    ("mixture centers list", lambda: gaussian_mixture_2d(5, [[0.0, 0.0]]), TypeError, ["centers", "tensor"]),
    ("mixture centers 3-D points", lambda: gaussian_mixture_2d(5, torch.zeros(2, 3)), ValueError,
     ["centers", "(K, 2)"]),
    ("mixture negative weights", lambda: gaussian_mixture_2d(5, torch.zeros(2, 2), weights=torch.tensor([1.0, -1.0])),
     ValueError, ["weights", ">= 0"]),
    ("mixture nan weights", lambda: gaussian_mixture_2d(5, torch.zeros(2, 2), weights=torch.tensor([1.0, NAN])),
     ValueError, ["weights", "finite"]),
    ("download timeout 0", lambda: download("file:///x", tmp() / "x", "00", timeout=0), ValueError,
     ["timeout", "> 0"]),
    ("download url None", lambda: download(None, tmp() / "x", "00"), TypeError, ["url", "string"]),
    ("download into a file's folder", in_file_dir(lambda p: download("file:///nonexistent", p / "x", "00")),
     PermissionError, ["cannot write the download folder", "AIGC_DATA_DIR"]),
    ("file_hash unknown algorithm", lambda: file_hash(__file__, "sha9"), ValueError, ["algorithm", "hashlib"]),
    ("load_mnist split", lambda: load_mnist("val"), ValueError, ["split", "'train'"]),
    ("load_mnist mirrors string", lambda: load_mnist("test", mirrors="http://x/"), TypeError, ["mirrors", "tuple"]),
    ("load_mnist timeout negative", lambda: load_mnist("test", timeout=-1), ValueError, ["timeout", "> 0"]),
    ("load_mnist download string", lambda: load_mnist("test", download="no"), TypeError,
     ["download", "True or False"]),
    # ------------------------------------------------------------- tokenizers
    ("CharTokenizer list", lambda: CharTokenizer(["hello", "world"]), TypeError, ["text", "string"]),
    ("CharTokenizer empty", lambda: CharTokenizer(""), ValueError, ["text", "non-empty"]),
    ("CharTokenizer encode unknown", lambda: CharTokenizer("abc").encode("abz"), ValueError, ["'z'", "vocabulary"]),
    ("CharTokenizer encode list", lambda: CharTokenizer("abc").encode(["a"]), TypeError, ["text", "string"]),
    ("CharTokenizer decode out of vocab", lambda: CharTokenizer("abc").decode([5]), IndexError,
     ["token id 5", "0 <= id < 3"]),
    ("CharTokenizer decode floats", lambda: CharTokenizer("abc").decode([1.0]), TypeError, ["token ids", "integers"]),
    ("CharTokenizer decode bools", lambda: CharTokenizer("abc").decode([True]), TypeError, ["token ids", "integers"]),
    ("CharTokenizer decode 2-D", lambda: CharTokenizer("abc").decode(torch.zeros(2, 2, dtype=torch.long)),
     ValueError, ["1-D", "one row at a time"]),
    ("BPE vocab_size float", lambda: ByteBPETokenizer.train("aaaa", 300.5), TypeError, ["vocab_size", "integer"]),
    ("BPE vocab_size small", lambda: ByteBPETokenizer.train("aaaa", 100), ValueError, ["vocab_size", ">= 256"]),
    ("BPE train on a list", lambda: ByteBPETokenizer.train(["a"], 260), TypeError, ["text", "string"]),
    ("BPE bad merge", lambda: ByteBPETokenizer([(1, 999)]), ValueError, ["merge (1, 999)", "does not exist"]),
    ("BPE merge not a pair", lambda: ByteBPETokenizer([1]), TypeError, ["merges", "pairs"]),
    ("BPE encode bytes", lambda: ByteBPETokenizer().encode(b"abc"), TypeError, ["text", "string"]),
    ("BPE decode errors mode", lambda: ByteBPETokenizer().decode([65], errors="loud"), ValueError,
     ["errors", "'strict'"]),
    ("BPE decode out of vocab", lambda: ByteBPETokenizer().decode([300]), IndexError, ["300", "0 <= id < 256"]),
    # ------------------------------------------------------------- attention
    ("causal_mask float", lambda: causal_mask(2.5), TypeError, ["t_q", "integer"]),
    ("causal_mask t_k < t_q", lambda: causal_mask(4, 2), ValueError, ["T_q", "T_k"]),
    ("padding_mask list", lambda: padding_mask([1, 2]), TypeError, ["x", "tensor"]),
    ("padding_mask float", lambda: padding_mask(torch.tensor([1.0, 2.0]), max_len=3), TypeError,
     ["padding_mask", "integer"]),
    ("padding_mask lengths > max_len", lambda: padding_mask(torch.tensor([5]), max_len=3), ValueError,
     ["lengths", "max_len=3"]),
    ("padding_mask without max_len", lambda: padding_mask(torch.tensor([2])), ValueError, ["max_len"]),
    ("padding_mask max_len float", lambda: padding_mask(torch.tensor([2]), max_len=3.0), TypeError,
     ["max_len", "integer"]),
    ("sdpa integer q", lambda: scaled_dot_product_attention(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3),
                                                            torch.ones(2, 3)), TypeError, ["q", "floating-point"]),
    ("sdpa width mismatch", lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 4),
                                                                 torch.ones(2, 4)), ValueError, ["d_k", "q has 3"]),
    ("sdpa float mask", lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3),
                                                             mask=torch.ones(2, 2)), TypeError, ["mask", "bool"]),
    ("sdpa mask shape", lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3),
                                                             mask=torch.ones(3, 3, dtype=torch.bool)), ValueError,
     ["mask of shape (3, 3)", "broadcast"]),
    ("sdpa dropout 2", lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3),
                                                            dropout_p=2.0), ValueError, ["dropout_p", "[0, 1]"]),
    ("sdpa nan scale", lambda: scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3),
                                                            scale=NAN), ValueError, ["scale", "finite"]),
    ("fast sdpa is_causal string", lambda: fast_scaled_dot_product_attention(
        torch.ones(1, 2, 3), torch.ones(1, 2, 3), torch.ones(1, 2, 3), is_causal="yes"), TypeError,
     ["is_causal", "True or False"]),
    ("KVCache capacity float", lambda: KVCache(2.5), TypeError, ["capacity", "integer"]),
    ("KVCache capacity 0", lambda: KVCache(0), ValueError, ["capacity", ">= 1"]),
    ("KVCache overflow", lambda: KVCache(1).append(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2)), ValueError,
     ["capacity=1", "do not fit"]),
    ("KVCache crop too far", lambda: KVCache().crop(3), ValueError, ["crop", "0..0"]),
    ("KVCache reorder float index", lambda: KVCache().reorder(torch.tensor([0.0])), TypeError,
     ["index", "integer"]),
    ("MHA d_model float", lambda: MultiHeadAttention(8.0, 2), TypeError, ["d_model", "integer"]),
    ("MHA heads do not divide", lambda: MultiHeadAttention(8, 3), ValueError, ["d_model=8", "n_heads=3"]),
    ("MHA dropout 1", lambda: MultiHeadAttention(8, 2, dropout=1.0), ValueError, ["dropout", "[0, 1)"]),
    ("MHA wrong width", lambda: MultiHeadAttention(8, 2)(torch.ones(2, 3, 4)), ValueError, ["x must be (B, T, 8)"]),
    ("MHA integer input", lambda: MultiHeadAttention(8, 2)(torch.ones(2, 3, 8, dtype=torch.long)), TypeError,
     ["x", "floating-point"]),
    ("MHA key-padding mask when B == T", lambda: MultiHeadAttention(8, 2)(
        torch.ones(3, 3, 8), mask=torch.tensor([[False, False, True]] * 3)), ValueError,
     ["mask", "ambiguous", "padding_mask"]),
    ("MHA cross without context", lambda: MultiHeadAttention(8, 2, cross=True)(torch.ones(1, 2, 8)), ValueError,
     ["context"]),
    # ------------------------------------------------------------- positional
    ("sinusoidal odd width", lambda: sinusoidal_table(4, 5), ValueError, ["d_model", "even"]),
    ("sinusoidal max_len float", lambda: sinusoidal_table(4.5, 4), TypeError, ["max_len", "integer"]),
    ("sinusoidal too long", lambda: SinusoidalPositionalEncoding(4, 3)(torch.ones(1, 5, 4)), IndexError,
     ["max_len=3", "positions"]),
    ("learned start negative", lambda: LearnedPositionalEmbedding(4, 3)(torch.ones(1, 2, 4), start=-1), ValueError,
     ["start", ">= 0"]),
    ("learned token ids", lambda: LearnedPositionalEmbedding(4, 8)(torch.ones(1, 2, dtype=torch.long)), ValueError,
     ["embeddings", "token ids"]),
    ("rotary odd head", lambda: RotaryEmbedding(3), ValueError, ["head dimension", "even"]),
    ("rotary base nan", lambda: RotaryEmbedding(4, base=NAN), ValueError, ["base", "finite"]),
    ("rotary offset float", lambda: RotaryEmbedding(4)(torch.ones(1, 2, 4), offset=1.5), TypeError,
     ["start", "integer"]),
    # ------------------------------------------------------------- transformer
    ("BlockConfig n_heads float", lambda: BlockConfig(d_model=8, n_heads=2.0), TypeError, ["n_heads", "integer"]),
    ("BlockConfig dropout nan", lambda: BlockConfig(dropout=NAN), ValueError, ["dropout", "finite"]),
    ("BlockConfig activation", lambda: BlockConfig(activation="tanh"), ValueError, ["activation", "'gelu'"]),
    ("BlockConfig layer_norm_eps 0", lambda: BlockConfig(layer_norm_eps=0.0), ValueError, ["layer_norm_eps", "> 0"]),
    ("encoder n_layers float", lambda: TransformerEncoder(BlockConfig(d_model=8, n_heads=2), 1.5), TypeError,
     ["n_layers", "integer"]),
    ("Seq2SeqConfig vocab float", lambda: Seq2SeqConfig(src_vocab=10.0, tgt_vocab=10), TypeError,
     ["src_vocab", "integer"]),
    ("Seq2SeqConfig pad outside vocab", lambda: Seq2SeqConfig(src_vocab=10, tgt_vocab=5, pad_id=7), ValueError,
     ["pad_id", "min(src_vocab, tgt_vocab)"]),
    ("Seq2SeqConfig positional", lambda: Seq2SeqConfig(src_vocab=10, tgt_vocab=10, positional="alibi"),
     ValueError, ["positional", "'rope'"]),
    ("seq2seq src out of vocab", lambda: s2s()(torch.tensor([[1, 20]]), torch.tensor([[1]])), IndexError,
     ["src token id 20", "src_vocab=12"]),
    ("seq2seq float src", lambda: s2s().encode(torch.ones(1, 3)), TypeError, ["src", "integer"]),
    ("seq2seq tgt too long", lambda: s2s()(torch.tensor([[1, 2]]), torch.ones(1, 9, dtype=torch.long)), IndexError,
     ["max_len=6", "positions"]),
    ("seq2seq next_log_probs 3-D src", lambda: s2s().next_log_probs_fn(torch.ones(1, 1, 2, dtype=torch.long)),
     ValueError, ["src", "(S,) or (N, S)"]),
    ("Seq2SeqTask lr negative", lambda: Seq2SeqTask(s2s(), lr=-1.0), ValueError, ["lr", "> 0"]),
    ("Seq2SeqTask label_smoothing 2", lambda: Seq2SeqTask(s2s(), label_smoothing=2.0), ValueError,
     ["label_smoothing", "[0, 1]"]),
    ("Seq2SeqTask model type", lambda: Seq2SeqTask(nn.Linear(2, 2)), TypeError, ["model", "Seq2SeqTransformer"]),
    ("trim_padding 1-D", lambda: trim_padding(torch.tensor([1, 0]), 0), ValueError, ["tokens", "2 dimension"]),
    ("check_token_ids float", lambda: check_token_ids(torch.ones(2), 5), TypeError, ["tokens", "integer"]),
    ("check_token_ids negative", lambda: check_token_ids(torch.tensor([-1]), 5), IndexError,
     ["token id -1", "vocab_size=5"]),
    # ------------------------------------------------------------- GPT
    ("GPTConfig n_layer float", lambda: GPTConfig(n_layer=2.5), TypeError, ["n_layer", "integer"]),
    ("GPTConfig vocab 0", lambda: GPTConfig(vocab_size=0), ValueError, ["vocab_size", ">= 1"]),
    ("GPTConfig dropout 1", lambda: GPTConfig(dropout=1.0), ValueError, ["dropout", "[0, 1)"]),
    ("GPTConfig bias string", lambda: GPTConfig(bias="no"), TypeError, ["bias", "True or False"]),
    ("GPTConfig heads do not divide", lambda: GPTConfig(n_embd=10, n_head=4), ValueError, ["n_embd=10", "n_head=4"]),
    ("GPT config dict", lambda: GPT({"vocab_size": 5}), TypeError, ["config", "GPTConfig"]),
    ("GPT out-of-vocab ids", lambda: gpt()(torch.tensor([[1, 11]])), IndexError, ["token id 11", "vocab_size=11"]),
    ("GPT float ids", lambda: gpt()(torch.ones(1, 3)), ValueError, ["token ids", "torch.long"]),
    ("GPT list ids", lambda: gpt()([[1, 2]]), TypeError, ["idx", "tensor"]),
    ("GPT too long", lambda: gpt()(torch.zeros(1, 9, dtype=torch.long)), ValueError, ["block_size=8", "crop"]),
    ("GPT loss target shape", lambda: gpt().loss(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 4,
                                                                                                  dtype=torch.long)),
     ValueError, ["targets", "shape of idx"]),
    ("GPT loss float targets", lambda: gpt().loss(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 3)),
     TypeError, ["targets", "integer"]),
    ("generate max_new_tokens float", lambda: gpt().generate(torch.zeros(1, 2, dtype=torch.long), 2.5), TypeError,
     ["max_new_tokens", "integer"]),
    ("generate negative tokens", lambda: gpt().generate(torch.zeros(1, 2, dtype=torch.long), -1), ValueError,
     ["max_new_tokens", ">= 0"]),
    ("generate empty prompt", lambda: gpt().generate(torch.zeros(1, 0, dtype=torch.long), 2), ValueError,
     ["prompt", "T0 >= 1"]),
    ("generate nan temperature", lambda: gpt().generate(torch.zeros(1, 2, dtype=torch.long), 2, temperature=NAN),
     ValueError, ["temperature", "finite"]),
    ("generate top_k float", lambda: gpt().generate(torch.zeros(1, 2, dtype=torch.long), 2, top_k=2.5), TypeError,
     ["top_k", "integer"]),
    ("generate repetition_penalty nan", lambda: gpt().generate(torch.zeros(1, 2, dtype=torch.long), 2,
                                                               repetition_penalty=NAN), ValueError,
     ["repetition_penalty", "finite"]),
    ("generate use_cache string", lambda: gpt().generate(torch.zeros(1, 2, dtype=torch.long), 2, use_cache="no"),
     TypeError, ["use_cache", "True or False"]),
    ("generate sampling dict", lambda: gpt().generate(torch.zeros(1, 2, dtype=torch.long), 2,
                                                      sampling={"temperature": 0}), TypeError,
     ["sampling", "SamplingConfig"]),
    ("sequence_log_prob start float", lambda: gpt().sequence_log_prob(torch.zeros(1, 4, dtype=torch.long), 1.5),
     TypeError, ["start", "integer"]),
    ("sequence_log_prob start 0", lambda: gpt().sequence_log_prob(torch.zeros(1, 4, dtype=torch.long), 0),
     ValueError, ["start", "[1, T=4)"]),
    ("LanguageModelTask lr nan", lambda: LanguageModelTask(gpt(), lr=NAN), ValueError, ["lr", "finite"]),
    ("LanguageModelTask betas", lambda: LanguageModelTask(gpt(), betas=(0.9, 1.5)), ValueError,
     ["betas[1]", "[0, 1)"]),
    ("LanguageModelTask model type", lambda: LanguageModelTask(nn.Linear(2, 2)), TypeError, ["model", "GPT"]),
    ("hub_reachable timeout 0", lambda: hub_reachable(timeout_s=0), ValueError, ["timeout_s", "> 0"]),
    ("from_pretrained name None", lambda: from_pretrained(None), TypeError, ["name", "gpt2"]),
    ("convert config type", lambda: convert_hf_gpt2_state_dict({}, {"n_layer": 1}), TypeError,
     ["config", "GPTConfig"]),
    ("convert missing weight", lambda: convert_hf_gpt2_state_dict({}, GPTConfig(n_layer=1)), KeyError,
     ["transformer.wte.weight", "GPT2LMHeadModel"]),
    # ------------------------------------------------------------- sampling
    ("SamplingConfig temperature negative", lambda: SamplingConfig(temperature=-1), ValueError,
     ["temperature", ">= 0"]),
    ("SamplingConfig temperature string", lambda: SamplingConfig(temperature="1"), TypeError,
     ["temperature", "number"]),
    ("SamplingConfig top_p 0", lambda: SamplingConfig(top_p=0.0), ValueError, ["top_p", "(0, 1]"]),
    ("SamplingConfig top_p nan", lambda: SamplingConfig(top_p=NAN), ValueError, ["top_p", "finite"]),
    ("SamplingConfig top_k bool", lambda: SamplingConfig(top_k=True), TypeError, ["top_k", "integer"]),
    ("SamplingConfig repetition_penalty nan", lambda: SamplingConfig(repetition_penalty=NAN), ValueError,
     ["repetition_penalty", "finite"]),
    ("SamplingConfig repetition_penalty inf", lambda: SamplingConfig(repetition_penalty=INF), ValueError,
     ["repetition_penalty", "finite"]),
    ("sample_next_token nan logits", lambda: sample_next_token(torch.tensor([[0.0, NAN]])), ValueError,
     ["finite logits", "NaN"]),
    ("sample_next_token 1-D logits", lambda: sample_next_token(torch.zeros(5)), ValueError, ["logits", "(B, V)"]),
    ("sample_next_token integer logits", lambda: sample_next_token(torch.zeros(1, 5, dtype=torch.long)),
     TypeError, ["logits", "floating-point"]),
    ("sample_next_token config dict", lambda: sample_next_token(torch.zeros(1, 5), {"temperature": 0}),
     TypeError, ["config", "SamplingConfig"]),
    ("repetition penalty id out of vocab", lambda: apply_repetition_penalty(torch.zeros(1, 5),
                                                                            torch.tensor([[7]]), 1.2), IndexError,
     ["previous", "0 <= id < V=5"]),
    ("repetition penalty float ids", lambda: apply_repetition_penalty(torch.zeros(1, 5), torch.tensor([[1.0]]),
                                                                      1.2), TypeError, ["previous", "integer"]),
    ("apply_temperature 0", lambda: apply_temperature(torch.zeros(1, 5), 0.0), ValueError, ["temperature", "> 0"]),
    ("top_k_filter k float", lambda: top_k_filter(torch.zeros(1, 5), 2.5), TypeError, ["k", "integer"]),
    ("top_p_filter p 1.5", lambda: top_p_filter(torch.zeros(1, 5), 1.5), ValueError, ["p", "(0, 1]"]),
    ("distinct_n n float", lambda: distinct_n([[1, 2]], 1.5), TypeError, ["n", "integer"]),
    ("distinct_n a string", lambda: distinct_n("abc", 1), TypeError, ["sequences", "list of token sequences"]),
    ("distinct_n flat list", lambda: distinct_n([1, 2, 3], 1), TypeError, ["sequences", "wrap one sequence"]),
    # ------------------------------------------------------------- decoding
    ("beam_width float", lambda: beam_search(logp, [0], beam_width=2.5, max_new_tokens=2), TypeError,
     ["beam_width", "integer"]),
    ("beam_width 0", lambda: beam_search(logp, [0], beam_width=0, max_new_tokens=2), ValueError,
     ["beam_width", ">= 1"]),
    ("beam max_new_tokens 0", lambda: beam_search(logp, [0], beam_width=2, max_new_tokens=0), ValueError,
     ["max_new_tokens", ">= 1"]),
    ("beam alpha nan", lambda: beam_search(logp, [0], beam_width=2, max_new_tokens=2, alpha=NAN), ValueError,
     ["alpha", "finite"]),
    ("beam early_stopping string", lambda: beam_search(logp, [0], 2, 2, early_stopping="no"), TypeError,
     ["early_stopping", "True or False"]),
    ("beam eos float", lambda: beam_search(logp, [0], 2, 2, eos_id=2.0), TypeError, ["eos_id", "integer"]),
    ("beam eos outside vocab", lambda: beam_search(logp, [0], 2, 2, eos_id=9), IndexError,
     ["eos_id 9", "0 <= eos_id < 5"]),
    ("beam empty prompt", lambda: beam_search(logp, [], 2, 2), ValueError, ["prompt", "non-empty"]),
    ("beam prompt string", lambda: beam_search(logp, "ab", 2, 2), TypeError, ["prompt", "token ids"]),
    ("beam float prompt", lambda: beam_search(logp, [0.5], 2, 2), TypeError, ["prompt", "integer token ids"]),
    ("beam logits instead of log-probs", lambda: beam_search(lambda p: torch.ones(p.shape[0], 5), [0], 2, 2),
     ValueError, ["log-probabilities", "logits or probabilities"]),
    ("beam nan log-probs", lambda: beam_search(lambda p: torch.full((p.shape[0], 5), NAN), [0], 2, 2), ValueError,
     ["next_log_probs", "NaN"]),
    ("beam wrong rows", lambda: beam_search(lambda p: torch.zeros(5), [0], 2, 2), ValueError,
     ["next_log_probs", "(N=1, V)"]),
    ("beam function returns list", lambda: beam_search(lambda p: [[0.0]], [0], 2, 2), TypeError,
     ["next_log_probs", "tensor"]),
    ("beam not callable", lambda: beam_search("model", [0], 2, 2), TypeError, ["next_log_probs", "function"]),
    ("greedy nan log-probs", lambda: greedy_decode(lambda p: torch.full((p.shape[0], 5), NAN),
                                                   torch.tensor([[0]]), 2), ValueError, ["next_log_probs", "NaN"]),
    ("greedy max_new_tokens float", lambda: greedy_decode(logp, torch.tensor([[0]]), 2.5), TypeError,
     ["max_new_tokens", "integer"]),
    ("greedy prompt list", lambda: greedy_decode(logp, [0], 2), TypeError, ["prompt", "tensor"]),
    ("greedy eos negative", lambda: greedy_decode(logp, torch.tensor([[0]]), 2, eos_id=-1), ValueError,
     ["eos_id", ">= 0"]),
    ("length_penalty alpha nan", lambda: length_penalty(3, NAN), ValueError, ["alpha", "finite"]),
    ("length_penalty length float", lambda: length_penalty(2.5, 1.0), TypeError, ["length", "integer"]),
    # ------------------------------------------------------------- BLEU
    ("BLEU empty corpus", lambda: corpus_bleu([], []), ValueError, ["hypotheses", "at least one sentence"]),
    ("BLEU stats empty corpus", lambda: corpus_bleu_stats([], []), ValueError, ["hypotheses", "at least one"]),
    ("BLEU length mismatch", lambda: corpus_bleu(["a b"], ["a b", "c"]), ValueError,
     ["1 hypotheses", "2 reference"]),
    ("BLEU single string", lambda: corpus_bleu("the cat", ["the cat"]), TypeError, ["hypotheses", "list of strings"]),
    ("BLEU token lists to corpus_bleu", lambda: corpus_bleu([["the", "cat"]], ["the cat"]), TypeError,
     ["hypotheses as strings", "corpus_bleu_stats"]),
    ("BLEU max_n float", lambda: corpus_bleu(["a"], ["a"], max_n=2.5), TypeError, ["max_n", "integer"]),
    ("BLEU max_n 0", lambda: corpus_bleu(["a"], ["a"], max_n=0), ValueError, ["max_n", ">= 1"]),
    ("BLEU smooth", lambda: corpus_bleu(["a"], ["a"], smooth="add1"), ValueError, ["smooth", "'exp'"]),
    ("BLEU tokenize not callable", lambda: corpus_bleu(["a"], ["a"], tokenize="split"), TypeError,
     ["tokenize", "function"]),
    ("BLEU empty reference list", lambda: corpus_bleu(["a"], [[]]), TypeError, ["references", "non-empty list"]),
    ("BLEU stats string hypothesis", lambda: corpus_bleu_stats(["the cat"], [[["the", "cat"]]]), TypeError,
     ["hypothesis", "token list"]),
    ("bleu_from_stats correct > total", lambda: bleu_from_stats([3], [2], 2, 2), ValueError,
     ["correct", "total"]),
    ("bleu_from_stats negative length", lambda: bleu_from_stats([1], [2], -1, 2), ValueError, ["sys_len", ">= 0"]),
    ("ngrams n 0", lambda: ngrams(["a"], 0), ValueError, ["n", ">= 1"]),
    ("ngrams of a string", lambda: ngrams("abc", 1), TypeError, ["tokens", "list of tokens"]),
    # ------------------------------------------------------------- GANs
    ("MLPGANConfig latent float", lambda: MLPGANConfig(latent_dim=2.5), TypeError, ["latent_dim", "integer"]),
    ("MLPGANConfig output", lambda: MLPGANConfig(output="sigmoid"), ValueError, ["output", "'tanh'"]),
    ("MLPGANConfig data_shape", lambda: MLPGANConfig(data_shape=(0, 2)), ValueError, ["data_shape", "positive"]),
    ("MLPGANConfig d_dropout nan", lambda: MLPGANConfig(d_dropout=NAN), ValueError, ["d_dropout", "finite"]),
    ("DCGANConfig image_size 30", lambda: DCGANConfig(image_size=30), ValueError, ["image_size", "multiple of 4"]),
    ("DCGANConfig image_size float", lambda: DCGANConfig(image_size=28.0), TypeError, ["image_size", "integer"]),
    ("DCGANConfig d_norm", lambda: DCGANConfig(d_norm="spectral"), ValueError, ["d_norm", "'layer'"]),
    ("generator latent width", lambda: mlp_pair()[0](torch.zeros(3, 5)), ValueError, ["latent vectors", "(B, 2)"]),
    ("generator integer z", lambda: mlp_pair()[0](torch.zeros(3, 2, dtype=torch.long)), TypeError,
     ["latent vectors", "floating point"]),
    ("discriminator list input", lambda: mlp_pair()[1]([[0.0, 0.0]]), TypeError, ["x", "tensor"]),
    ("discriminator image size", lambda: DCGANDiscriminator(DCGANConfig(base_channels=4))(torch.zeros(2, 1, 32, 32)),
     ValueError, ["DCGANDiscriminator", "(B, 1, 28, 28)"]),
    ("conditional labels out of range", lambda: mlp_pair(n_classes=10)[0](torch.zeros(2, 2), torch.tensor([3, 10])),
     IndexError, ["labels", "0..9"]),
    ("conditional float labels", lambda: mlp_pair(n_classes=10)[0](torch.zeros(2, 2), torch.tensor([1.0, 2.0])),
     TypeError, ["labels", "integers"]),
    ("conditional bool labels", lambda: mlp_pair(n_classes=10)[0](torch.zeros(2, 2), torch.tensor([True, False])),
     TypeError, ["labels", "integers"]),
    ("conditional missing labels", lambda: mlp_pair(n_classes=10)[0](torch.zeros(2, 2)), ValueError,
     ["labels y", "(B,)"]),
    ("unconditional given labels", lambda: mlp_pair()[0](torch.zeros(2, 2), torch.tensor([1, 2])), ValueError,
     ["unconditional", "labels"]),
    ("generate n float", lambda: generate(mlp_pair()[0], 2.5), TypeError, ["n", "integer"]),
    ("generate seed negative", lambda: generate(mlp_pair()[0], 2, seed=-3), ValueError, ["seed", ">= 0"]),
    ("generate z count", lambda: generate(mlp_pair()[0], 3, z=torch.zeros(2, 2)), ValueError, ["z", "n=3"]),
    ("generate not a generator", lambda: generate(nn.Linear(2, 2), 2), TypeError, ["generator", "latent_dim"]),
    ("sample_latent n float", lambda: sample_latent(2.5, 3), TypeError, ["n", "integer"]),
    ("interpolate shapes", lambda: interpolate(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError,
     ["real and fake", "same shape"]),
    ("interpolate integer samples", lambda: interpolate(torch.zeros(2, 3, dtype=torch.long),
                                                        torch.zeros(2, 3, dtype=torch.long)), TypeError,
     ["real", "floating-point"]),
    ("gradient_penalty critic shape", lambda: gradient_penalty(lambda x: x.sum(), torch.zeros(2, 2),
                                                               torch.zeros(2, 2)), ValueError,
     ["critic", "one score per example"]),
    ("GANTask generator_loss", lambda: GANTask(*mlp_pair(), generator_loss="hinge"), ValueError,
     ["generator_loss", "'minimax'"]),
    ("GANTask lr_g nan", lambda: GANTask(*mlp_pair(), lr_g=NAN), ValueError, ["lr_g", "finite"]),
    ("GANTask betas", lambda: GANTask(*mlp_pair(), betas=0.5), TypeError, ["betas", "pair"]),
    ("GANTask plain modules", lambda: GANTask(nn.Linear(2, 2), nn.Linear(2, 1)), TypeError,
     ["generator", "data_shape"]),
    ("GANTask NaN real samples", lambda: GANTask(*tanh_pair()).training_loss(torch.full((4, 2), NAN), "D"),
     ValueError, ["real samples", "NaN"]),
    ("GANTask real samples out of tanh range", lambda: GANTask(*tanh_pair()).training_loss(torch.full((4, 2), 3.0),
                                                                                           "D"), ValueError,
     ["real samples", "[-1, 1]"]),
    ("WGANGPTask n_critic float", lambda: WGANGPTask(*mlp_pair(), n_critic=2.5), TypeError, ["n_critic", "integer"]),
    ("WGANGPTask gp_weight nan", lambda: WGANGPTask(*mlp_pair(), gp_weight=NAN), ValueError, ["gp_weight", "finite"]),
    ("WGANGPTask batch not divisible", lambda: WGANGPTask(*mlp_pair(), n_critic=3).training_loss(torch.zeros(4, 2),
                                                                                                  "D"), ValueError,
     ["batch size", "n_critic=3"]),
    ("WGANGPTask critic with batch norm", lambda: WGANGPTask(*(lambda c: (DCGANGenerator(c), DCGANDiscriminator(c)))(
        DCGANConfig(base_channels=4))), ValueError, ["critic", "batch norm"]),
    ("mode_coverage std nan", lambda: mode_coverage(torch.zeros(4, 2), ring_centers(), std=NAN), ValueError,
     ["std", "finite"]),
    ("mode_coverage min_samples float", lambda: mode_coverage(torch.zeros(4, 2), ring_centers(), 0.1,
                                                              min_samples=2.5), TypeError,
     ["min_samples", "integer"]),
    ("mode_coverage nan samples", lambda: mode_coverage(torch.full((4, 2), NAN), ring_centers(), 0.1), ValueError,
     ["samples", "finite"]),
    ("mode_coverage dims", lambda: mode_coverage(torch.zeros(4, 3), ring_centers(), 0.1), ValueError,
     ["samples", "same D"]),
    # ------------------------------------------------------------- MNIST classifier
    ("classifier NaN images", lambda: classifier()(torch.full((2, 1, 28, 28), NAN)), ValueError,
     ["MNIST classifier", "[0, 1]"]),
    ("classifier images in [-1, 1]", lambda: classifier()(IMG * 2 - 1), ValueError, ["[0, 1]", "(x + 1) / 2"]),
    ("classifier uint8 images", lambda: classifier()((IMG * 255).to(torch.uint8)), TypeError,
     ["floating-point", "/ 255"]),
    ("classifier wrong size", lambda: classifier()(torch.zeros(2, 1, 32, 32)), ValueError, ["(B, 1, 28, 28)"]),
    ("label_accuracy label 10", lambda: label_accuracy(classifier(), IMG, torch.tensor([1, 2, 3, 10])),
     ValueError, ["labels", "0..9"]),
    ("label_accuracy label -1", lambda: label_accuracy(classifier(), IMG, torch.tensor([1, 2, 3, -1])),
     ValueError, ["labels", "0..9"]),
    ("label_accuracy float labels", lambda: label_accuracy(classifier(), IMG, torch.zeros(4)), ValueError,
     ["labels", "integer digits"]),
    ("label_accuracy count mismatch", lambda: label_accuracy(classifier(), IMG, torch.zeros(3, dtype=torch.long)),
     ValueError, ["4 images", "3 labels"]),
    ("label_accuracy labels list", lambda: label_accuracy(classifier(), IMG, [1, 2, 3, 4]), TypeError,
     ["labels", "tensor"]),
    ("predict empty", lambda: predict(classifier(), IMG[:0]), ValueError, ["at least one image"]),
    ("predict batch_size 0", lambda: predict(classifier(), IMG, batch_size=0), ValueError, ["batch_size", ">= 1"]),
    ("feature_statistics one image", lambda: feature_statistics(classifier(), IMG[:1]), ValueError,
     ["at least 2 images"]),
    ("frechet nan mean", lambda: frechet_distance(np.array([NAN]), np.eye(1), np.zeros(1), np.eye(1)), ValueError,
     ["mu1", "finite"]),
    ("frechet shapes", lambda: frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(3)), ValueError,
     ["means (F,)", "covariances (F, F)"]),
    ("frechet eps negative", lambda: frechet_distance(np.zeros(1), np.eye(1), np.zeros(1), np.eye(1), eps=-1.0),
     ValueError, ["eps", ">= 0"]),
    # ------------------------------------------------------------- VAE
    ("VAEConfig latent float", lambda: VAEConfig(latent_dim=2.5), TypeError, ["latent_dim", "integer"]),
    ("VAEConfig hidden 0", lambda: VAEConfig(hidden=(0,)), ValueError, ["hidden", ">= 1"]),
    ("VAEConfig num_classes negative", lambda: VAEConfig(num_classes=-1), ValueError, ["num_classes", ">= 0"]),
    ("AutoencoderConfig image_shape", lambda: AutoencoderConfig(image_shape=(1, 28.5)), ValueError,
     ["image_shape", "positive integer"]),
    ("AutoencoderConfig dropout 1", lambda: AutoencoderConfig(dropout=1.0), ValueError, ["dropout", "[0, 1)"]),
    ("VAE images of the wrong size", lambda: vae()(torch.zeros(2, 1, 5, 5)), ValueError, ["VAE", "(B, 1, 4, 4)"]),
    ("VAE integer images", lambda: vae()(torch.zeros(2, 1, 4, 4, dtype=torch.long)), TypeError,
     ["floating-point images"]),
    ("VAE list images", lambda: vae()([[0.0]]), TypeError, ["x", "tensor"]),
    ("VAE latent width", lambda: vae().decode(torch.zeros(2, 3)), ValueError, ["latent_dim=2"]),
    ("VAE label out of range", lambda: vae(num_classes=3)(torch.zeros(2, 1, 4, 4), torch.tensor([0, 3])),
     ValueError, ["labels", "0..2"]),
    ("VAE float label", lambda: vae(num_classes=3)(torch.zeros(2, 1, 4, 4), 1.0), TypeError, ["y", "integer"]),
    ("VAE sample n float", lambda: vae().sample(2.5), TypeError, ["n", "integer"]),
    ("VAETask beta negative", lambda: VAETask(vae(), beta=-1.0), ValueError, ["beta", ">= 0"]),
    ("VAETask beta nan", lambda: VAETask(vae(), beta=NAN), ValueError, ["beta", "finite"]),
    ("VAETask kl_warmup float", lambda: VAETask(vae(), kl_warmup_steps=2.5), TypeError,
     ["kl_warmup_steps", "integer"]),
    ("VAETask model type", lambda: VAETask(nn.Linear(2, 2)), TypeError, ["model", "VAE"]),
    ("beta_vae_loss beta string", lambda: beta_vae_loss(None, beta="1"), TypeError, ["beta", "number"]),
    ("iwae k float", lambda: iwae_log_likelihood(vae(), torch.zeros(2, 1, 4, 4), k=2.5), TypeError,
     ["k", "integer"]),
    ("held_out empty", lambda: held_out_likelihood(vae(), torch.zeros(0, 1, 4, 4)), ValueError,
     ["at least one image"]),
    ("held_out batch_size 0", lambda: held_out_likelihood(vae(), torch.zeros(2, 1, 4, 4), batch_size=0), ValueError,
     ["batch_size", ">= 1"]),
    ("bernoulli x out of range", lambda: bernoulli_log_likelihood(torch.zeros(2, 3), torch.full((2, 3), 2.0)),
     ValueError, ["pixel values", "[0, 1]"]),
    ("bernoulli NaN x", lambda: bernoulli_log_likelihood(torch.zeros(2, 3), torch.full((2, 3), NAN)), ValueError,
     ["pixel values", "[0, 1]"]),
    ("binarize NaN images", lambda: binarize_dynamic(torch.full((2, 3), NAN)), ValueError, ["grey values", "[0, 1]"]),
    ("binarize integer images", lambda: binarize_dynamic(torch.ones(2, 3, dtype=torch.long)), TypeError,
     ["floating-point", "/ 255"]),
    ("binarize_fixed seed float", lambda: binarize_fixed(torch.zeros(2, 3), seed=1.5), TypeError,
     ["seed", "integer"]),
    ("reparameterize shapes", lambda: reparameterize(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError,
     ["mu and logvar", "same shape"]),
    ("reparameterize n_samples float", lambda: reparameterize(torch.zeros(2, 3), torch.zeros(2, 3), n_samples=2.5),
     TypeError, ["n_samples", "integer"]),
    ("log_mean_exp dim out of range", lambda: log_mean_exp(torch.zeros(2, 3), dim=5), ValueError, ["dim", "[-2, 1]"]),
    # ------------------------------------------------------------- seq2seq data
    ("format_date style float", lambda: format_date(dt.date(2020, 1, 1), 1.5), TypeError, ["style", "integer"]),
    ("format_date style out of range", lambda: format_date(dt.date(2020, 1, 1), 99), ValueError,
     ["style", "0..11"]),
    ("format_date string date", lambda: format_date("2020-01-01", 1), TypeError, ["d", "datetime.date"]),
    ("format_date case", lambda: format_date(dt.date(2020, 1, 1), 1, case="title"), ValueError,
     ["case", "'upper'"]),
    ("random_date_pairs n float", lambda: random_date_pairs(2.5), TypeError, ["n", "integer"]),
    ("random_date_pairs empty dates", lambda: random_date_pairs(2, dates=[]), ValueError, ["dates", "non-empty"]),
    ("split_dates fraction 1", lambda: split_dates(1.0), ValueError, ["test_fraction", "(0, 1)"]),
    ("split_dates fraction nan", lambda: split_dates(NAN), ValueError, ["test_fraction", "finite"]),
    ("CharVocab list", lambda: CharVocab(["a", "b"]), TypeError, ["chars", "string"]),
    ("CharVocab repeated", lambda: CharVocab("aa"), ValueError, ["CharVocab", "unique"]),
    ("CharVocab decode 2-D", lambda: CharVocab("ab").decode(torch.zeros(2, 2, dtype=torch.long)), ValueError,
     ["decode", "row by row"]),
    ("CharVocab decode floats", lambda: CharVocab("ab").decode([4.0]), TypeError, ["decode", "integer ids"]),
    ("encode_pairs too long", lambda: encode_pairs([("abcdef", "a")], CharVocab("abcdef"), 3, 5), ValueError,
     ["pair 0", "max_src_len=3"]),
    ("encode_pairs not pairs", lambda: encode_pairs(["ab"], CharVocab("ab"), 3, 5), TypeError, ["pairs", "(source"]),
    ("load_dates n_train 0", lambda: load_dates(n_train=0), ValueError, ["n_train", ">= 1"]),
    # ------------------------------------------------------------- plotting and the fast linear layer
    ("show_images NaN", lambda: show_images(torch.full((2, 1, 4, 4), NAN)), ValueError, ["images", "NaN"]),
    ("show_images empty", lambda: show_images(torch.zeros(0, 1, 4, 4)), ValueError, ["images", "at least one"]),
    ("show_images nrow 0", lambda: show_images(torch.zeros(2, 1, 4, 4), nrow=0), ValueError, ["nrow", ">= 1"]),
    ("show_images list", lambda: show_images([[0.0]]), TypeError, ["images", "tensor"]),
    ("show_images channels", lambda: show_images(torch.zeros(2, 2, 4, 4)), ValueError, ["images", "1 or 3"]),
    ("heatmap 3-D", lambda: heatmap(torch.zeros(2, 2, 2)), ValueError, ["heatmap", "2-D"]),
    ("heatmap label count", lambda: heatmap(torch.zeros(2, 3), xlabels=["a"]), ValueError, ["xlabels", "(3)"]),
    ("plot_history not a History", lambda: plot_history({"loss": [1.0]}), TypeError, ["history", "History"]),
    ("plot_history names string", lambda: plot_history(History(), names="loss"), TypeError, ["names", "list"]),
    ("plot_history logy", lambda: plot_history(History(), logy="yes"), ValueError, ["logy", "'auto'"]),
    ("LiveLossPlot every_s nan", lambda: LiveLossPlot(History(), every_s=NAN), ValueError, ["every_s", "finite"]),
    ("row_split_linear parts float", lambda: row_split_linear(torch.zeros(2, 3), torch.zeros(4, 3), None, 2.0),
     TypeError, ["parts", "integer"]),
    ("row_split_linear parts too many", lambda: row_split_linear(torch.zeros(2, 3), torch.zeros(4, 3), None, 5),
     ValueError, ["parts", "out_features=4"]),
    ("BLEU reference None", lambda: corpus_bleu(["a"], [None]), TypeError, ["references", "string"]),
    ("Seq2SeqTransformer config dict", lambda: Seq2SeqTransformer({"src_vocab": 3}), TypeError,
     ["config", "Seq2SeqConfig"]),
    ("Seq2SeqTask batch a tensor", lambda: Seq2SeqTask(s2s()).training_loss(torch.zeros(2, 3, dtype=torch.long)),
     TypeError, ["Seq2SeqTask", "(src (B, S), tgt (B, T+1))"]),
    ("LanguageModelTask batch a tensor", lambda: LanguageModelTask(gpt()).training_loss(torch.zeros(2, 3,
                                                                                                   dtype=torch.long)),
     TypeError, ["LanguageModelTask", "(x, y)"]),
    ("MHA cross context list", lambda: MultiHeadAttention(8, 2, cross=True)(torch.ones(1, 2, 8), context=[[1.0]]),
     TypeError, ["context", "tensor"]),
    ("row_split_linear width", lambda: row_split_linear(torch.zeros(2, 5), torch.zeros(4, 3), None, 2), ValueError,
     ["x", "in_features=3"]),
]


@contextlib.contextmanager
def no_hang(seconds: int = 20):
    """Fail a row that runs longer than ``seconds`` (a hang) instead of blocking the suite."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_the_table_is_large_and_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) >= 150
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("call, error, fragments", [pytest.param(c, e, f, id=i) for i, c, e, f in CASES])
def test_bad_input_gives_a_clear_error(call, error, fragments, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with no_hang(), pytest.raises(error) as info:
        call()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message lacks {missing}: {message!r}"
    assert "weights_only=False" not in message
