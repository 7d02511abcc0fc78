"""Train chapter 13's two text-to-image models once and write their weights and records.

    OMP_NUM_THREADS=1 python scripts/train_text_to_image.py --only t2i --out-dir aigc_lib/data/files/multimodal
    OMP_NUM_THREADS=1 python scripts/train_text_to_image.py --only prior --out-dir aigc_lib/data/files/multimodal

* ``t2i``: the diffusion route (Stable Diffusion in miniature): conv autoencoder, then the caption
  encoder + cross-attention U-Net with flow matching (:func:`aigc_lib.multimodal.t2i_models.train_text_to_image`);
* ``prior``: the token route (DALL-E in miniature): a GPT over caption tokens and the chapter-12
  VQ-VAE's image tokens (:func:`aigc_lib.multimodal.t2i_models.train_token_prior`).

Data: the training split of captioned MNIST (``make_captioned_mnist("train")``, 8,000 images, the
training phrasings, no held-out digit-position pair). Seeded (``--seed``, default 0). Each model is
sized to train in at most ~8 minutes on one CPU thread. The script prints the budget first, then
the training time, a quick check on 200 test captions, and writes ``<name>.pt`` (fp32 state dict)
and ``<name>.json`` (sha256, steps, batch size, examples seen, seconds, threads, torch version, date).
Paste the sha256 and the record into :mod:`aigc_lib.multimodal.t2i_models`.

``--smoke``: 20 steps per stage, to check the pipeline.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aigc_lib import seed_everything  # noqa: E402
from aigc_lib.multimodal import captions as cap  # noqa: E402
from aigc_lib.multimodal.t2i_models import (GUIDANCE_SCALE, SAMPLE_STEPS, text_to_image_config,  # noqa: E402
                                            token_prior_config, train_text_to_image, train_token_prior)

#: steps of each stage in a real run (budget: <= ~8 minutes each on one CPU thread)
T2I_AE_STEPS, T2I_STEPS, T2I_BATCH = 400, 2000, 64
PRIOR_STEPS, PRIOR_BATCH = 1800, 64


def _save(state: dict, record: dict, out_dir: Path, name: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.pt"
    torch.save(state, path)
    record = dict(record, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size_bytes=path.stat().st_size,
                  torch=torch.__version__, date=datetime.date.today().isoformat(),
                  command="OMP_NUM_THREADS=1 python " + " ".join(sys.argv))
    (out_dir / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path} ({record['size_bytes'] / 1e6:.2f} MB)\n{json.dumps(record)}")


def _quick_check(images: torch.Tensor, test: cap.CaptionedMNIST, n: int) -> None:
    from aigc_lib.multimodal.checker import AttributeChecker
    from aigc_lib.multimodal.t2i_scoring import proportion_line, score_samples

    hits = score_samples(AttributeChecker(), images, test.attributes()[:n])
    print(proportion_line("quick check, digit accuracy", hits["digit"]))
    print(proportion_line("quick check, all attributes", hits["all"]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=["t2i", "prior"], required=True)
    p.add_argument("--out-dir", type=Path, default=Path("aigc_lib/data/files/multimodal"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--n-check", type=int, default=200)
    args = p.parse_args()
    seed_everything(args.seed)
    train = cap.make_captioned_mnist("train")
    test = cap.make_captioned_mnist("test")
    tokens = train.tokens()
    tok = train.tokenizer
    kw = dict(progress=False, live_plot=False, device="cpu")
    n = args.n_check
    if args.only == "t2i":
        ae_steps, steps = (20, 20) if args.smoke else (T2I_AE_STEPS, T2I_STEPS)
        print(f"budget: autoencoder {ae_steps} steps + U-Net {steps} steps, batch {T2I_BATCH}, "
              f"{torch.get_num_threads()} thread(s), seed {args.seed}")
        model, record = train_text_to_image(train.images, tokens, text_to_image_config(tok.vocab_size), ae_steps,
                                            steps, batch_size=T2I_BATCH, seed=args.seed, **kw)
        print(f"trained in {record['train_seconds']:.0f} s")
        images = model.sample(test.tokens()[:n], GUIDANCE_SCALE, SAMPLE_STEPS,
                              generator=torch.Generator().manual_seed(0))
        _quick_check(images, test, n)
        _save(model.state_dict(), dict(record, device="cpu"), args.out_dir, "text_to_image")
    else:
        from aigc_lib.multimodal.t2i_vq import encode_codes, load_course_vqvae

        vq = load_course_vqvae()
        codes = encode_codes(vq, train.images)
        cfg = token_prior_config(tok.vocab_size, vq.codebook_size, codes[0].numel())
        steps = 20 if args.smoke else PRIOR_STEPS
        print(f"budget: GPT {steps} steps, batch {PRIOR_BATCH}, {torch.get_num_threads()} thread(s), "
              f"seed {args.seed}; {codes.shape[1]}x{codes.shape[2]} codes of {vq.codebook_size}")
        prior, record = train_token_prior(tokens, codes, cfg, steps, batch_size=PRIOR_BATCH, seed=args.seed, **kw)
        print(f"trained in {record['train_seconds']:.0f} s")
        from aigc_lib.multimodal.t2i_vq import decode_codes
        sampled = prior.sample_codes(test.tokens()[:n], generator=torch.Generator().manual_seed(0))
        _quick_check(decode_codes(vq, sampled, codes.shape[1:]), test, n)
        _save(prior.state_dict(), dict(record, device="cpu"), args.out_dir, "token_prior")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
