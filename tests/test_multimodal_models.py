"""CLIP and VQ-VAE of chapter 12: references, broken variants, gradients, bad inputs, resume."""
import math

import pytest
import torch
from torch.nn import functional as F

from aigc_lib import Trainer, seed_everything
from aigc_lib.data import TensorBatches
from aigc_lib.multimodal.captions import TEXT_CONTEXT, CaptionTokenizer
from aigc_lib.multimodal.clip import CLIP, CLIPConfig, CLIPTask, contrastive_loss, sample_captions
from aigc_lib.multimodal.vqvae import (VQVAE, VQVAEConfig, VQVAETask, VectorQuantizer, load_vqvae_file,
                                       save_vqvae)

TINY_CLIP = CLIPConfig(embed_dim=16, channels=(4, 8, 8, 8), text_width=16, text_layers=1, text_heads=2)
TINY_VQ = VQVAEConfig(codebook_size=16, code_dim=4, hidden=8)


def broken_contrastive_loss(logits):
    """One direction only (image -> text): what a forgotten transpose gives."""
    return F.cross_entropy(logits, torch.arange(len(logits)))


@pytest.mark.parametrize("loss_fn, should_match", [(contrastive_loss, True), (broken_contrastive_loss, False)])
def test_clip_loss_equals_transformers(loss_fn, should_match):
    from transformers.models.clip.modeling_clip import image_text_contrastive_loss

    torch.manual_seed(0)
    img, txt = F.normalize(torch.randn(8, 16), dim=-1), F.normalize(torch.randn(8, 16), dim=-1)
    scale = torch.tensor(math.log(1 / 0.07)).exp()
    logits_per_image = scale * img @ txt.T
    ref = image_text_contrastive_loss(logits_per_image.T)           # transformers takes logits_per_text
    assert torch.allclose(loss_fn(logits_per_image), ref, atol=1e-6) == should_match


def test_clip_shapes_temperature_clamp_and_bad_tokens():
    seed_everything(0)
    model = CLIP(TINY_CLIP)
    tok = CaptionTokenizer()
    tokens = tok(["a small thick 7 at the top left", "a 3"])
    images = torch.rand(2, 1, 32, 32)
    assert model(images, tokens).shape == (2, 2)
    assert model.text_encoder.token_states(tokens).shape == (2, TEXT_CONTEXT, 16)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert torch.isclose(model.scale(), torch.tensor(100.0))
    with pytest.raises(ValueError, match="text context of 16"):
        model.encode_text(torch.ones(1, 20, dtype=torch.long))
    with pytest.raises(IndexError, match="outside the vocabulary"):
        model.encode_text(torch.tensor([[1, 99, 2]]))
    with pytest.raises(ValueError, match="<eos>"):
        model.encode_text(torch.tensor([[1, 5, 6]]))
    with pytest.raises(TypeError):
        model.encode_text(tokens.float())
    with pytest.raises(ValueError, match="32, 32"):
        model.encode_image(torch.rand(2, 1, 28, 28))


def test_text_encoder_ignores_padding():
    """A caption's vector must not depend on what fills the padding positions."""
    seed_everything(0)
    model = CLIP(TINY_CLIP).eval()
    tokens = CaptionTokenizer()(["a 7"])
    other = tokens.clone()
    other[0, 5:] = 0
    assert torch.allclose(model.encode_text(tokens), model.encode_text(other))


def test_clip_task_overfits_a_batch():
    seed_everything(0)
    model = CLIP(TINY_CLIP)
    images = torch.rand(8, 1, 32, 32)
    attrs = torch.tensor([[d, d % 2, (d // 2) % 2, d % 5] for d in range(8)])
    tokens = CaptionTokenizer()([f"a {d}" for d in range(8)])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = contrastive_loss(model(images, tokens))
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss) < 0.1 * first
    assert len(sample_captions(attrs)) == 8


def test_vq_quantizer_equals_vector_quantize_pytorch():
    """Same codebook, same inputs: same codes, same straight-through output and gradient, same commitment loss.

    vector-quantize-pytorch settings that make it the plain nearest-code lookup of the paper:
    rotation_trick=False (straight-through copy of gradients), freeze_codebook=True (no EMA step),
    kmeans_init=False, commitment_weight=beta, training mode (it computes the loss only then).
    """
    from vector_quantize_pytorch import VectorQuantize

    torch.manual_seed(0)
    ours = VectorQuantizer(VQVAEConfig(codebook_size=16, code_dim=4, beta=0.25, init="random",
                                       restart_dead=False)).train()
    ref = VectorQuantize(dim=4, codebook_size=16, commitment_weight=0.25, rotation_trick=False,
                         freeze_codebook=True, kmeans_init=False, accept_image_fmap=True).train()
    with torch.no_grad():
        ref._codebook.embed.copy_(ours.codebook[None])
    z = torch.randn(3, 4, 5, 5, requires_grad=True)
    z_ref = z.detach().clone().requires_grad_()
    q, idx, loss = ours(z)
    q_ref, idx_ref, loss_ref = ref(z_ref)
    assert torch.equal(idx, idx_ref)
    assert torch.allclose(q, q_ref) and torch.allclose(loss, loss_ref)
    weights = torch.randn_like(q)
    ((q * weights).sum() + loss).backward()
    ((q_ref * weights).sum() + loss_ref).backward()
    assert torch.allclose(z.grad, z_ref.grad)
    # broken variant: the farthest code instead of the nearest
    far = (torch.cdist(z.detach().permute(0, 2, 3, 1).reshape(-1, 4), ours.codebook)).argmax(1)
    assert not torch.equal(far.reshape(3, 5, 5), idx_ref)


def test_vq_straight_through_gradient():
    """d(sum(w * quantized)) / dz == w: the decoder's gradient is copied to the encoder output."""
    torch.manual_seed(0)
    vq = VectorQuantizer(VQVAEConfig(codebook_size=8, code_dim=3, beta=0.0, init="random",
                                     restart_dead=False)).eval()
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    w = torch.randn(2, 3, 4, 4)
    q, _, _ = vq(z)
    (q * w).sum().backward()
    assert torch.allclose(z.grad, w)
    z.grad = None                                           # broken variant: no straight-through, no gradient
    e = vq.codebook[vq.nearest(z.detach().permute(0, 2, 3, 1).reshape(-1, 3))]
    assert not e.requires_grad


def test_dead_codes_are_restarted():
    torch.manual_seed(0)
    cfg = VQVAEConfig(codebook_size=8, code_dim=2, init="random", restart_dead=True)
    vq = VectorQuantizer(cfg).train()
    with torch.no_grad():
        vq.codebook[1:] = 100.0                              # seven codes far from every input
        vq.embed_sum[1:] = 100.0
    for _ in range(30):
        vq(torch.randn(4, 2, 4, 4))
    _, idx, _ = vq.eval()(torch.randn(16, 2, 4, 4))
    assert len(idx.unique()) >= 6
    off = VectorQuantizer(VQVAEConfig(codebook_size=8, code_dim=2, init="random", restart_dead=False)).train()
    with torch.no_grad():
        off.codebook[1:] = 100.0
        off.embed_sum[1:] = 100.0
    for _ in range(30):
        off(torch.randn(4, 2, 4, 4))
    _, idx_off, _ = off.eval()(torch.randn(16, 2, 4, 4))
    assert len(idx_off.unique()) == 1                        # without restarts the codebook stays collapsed


def test_vqvae_shapes_round_trip_and_bad_codebook(tmp_path):
    seed_everything(0)
    model = VQVAE(TINY_VQ).train()
    images = torch.rand(4, 1, 32, 32)
    logits, idx, loss = model(images)
    assert logits.shape == (4, 1, 32, 32) and idx.shape == (4, 8, 8) and loss.ndim == 0
    model.eval()
    tokens = model.encode_indices(images)
    assert tokens.dtype == torch.long and int(tokens.max()) < 16
    assert model.decode_indices(tokens).shape == (4, 1, 32, 32)
    with pytest.raises(IndexError, match="codebook_size=16"):
        model.decode_indices(torch.full((1, 8, 8), 16))
    sha = save_vqvae(model, tmp_path / "vq.pt")
    again = load_vqvae_file(tmp_path / "vq.pt", sha)
    assert torch.equal(again.encode_indices(images), tokens)
    with pytest.raises(ValueError, match="holds a codebook of 16 codes, not 32"):
        load_vqvae_file(tmp_path / "vq.pt", sha, codebook_size=32)
    from aigc_lib.data.download import ChecksumError
    with pytest.raises(ChecksumError):
        load_vqvae_file(tmp_path / "vq.pt", "0" * 64)


def _fit(task, images, steps, folder):
    trainer = Trainer(max_steps=steps, checkpoint_dir=folder, checkpoint_every=3, progress=False, live_plot=False)
    trainer.fit(task, TensorBatches(images, batch_size=8, seed=0))


def test_vqvae_resume_is_exact(tmp_path):
    images = torch.rand(32, 1, 32, 32)
    seed_everything(0)
    straight = VQVAETask(VQVAE(TINY_VQ))
    _fit(straight, images, 6, tmp_path / "a")
    seed_everything(0)
    first = VQVAETask(VQVAE(TINY_VQ))
    _fit(first, images, 3, tmp_path / "b")
    seed_everything(1)                                      # a resumed run must not depend on the fresh seed
    resumed = VQVAETask(VQVAE(TINY_VQ))
    _fit(resumed, images, 6, tmp_path / "b")
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_shipped_weights_load_checked():
    from aigc_lib.multimodal.pretrained import load_clip, load_vqvae

    clip, vqvae = load_clip(), load_vqvae()
    images = torch.zeros(2, 1, 32, 32)
    images[:, :, 8:24, 14:18] = 1.0
    assert clip.encode_image(images).shape == (2, 64)
    assert vqvae.encode_indices(images).shape == (2, 8, 8)
    with pytest.raises(ValueError, match="holds a codebook of 128 codes, not 64"):
        load_vqvae(codebook_size=64)
