"""Instruction-tune the shipped base GPT (masked SFT) and write the shipped SFT weights.

    OMP_NUM_THREADS=1 python scripts/train_assistant_sft.py --write-weights

Loads :func:`aigc_lib.posttraining.load_assistant_base` (sha256-checked), trains it
with :class:`~aigc_lib.posttraining.SFTTask` (loss on the answer tokens only) on
``make_split(SplitConfig()).train`` (seed 0) through the course Trainer (AdamW,
warm-up then cosine decay), prints its budget and the held-out exact match, and
with ``--write-weights`` writes ``aigc_lib/data/files/assistant_sft_gpt.pt`` and
its sha256, to be put into ``aigc_lib/posttraining/pretrained.py`` with the
printed training record. Chapter 11 starts from this model.

The shipped weights (2026-12-07): the command above (defaults: 1,500 steps, batch 32, lr 2e-3), 274 s on one
CPU thread of a shared 2-core machine; held-out exact match 0.255 on the 200 prompts of ``split.eval``.
"""
import argparse
import time

import torch

from aigc_lib import Trainer, seed_everything
from aigc_lib.data import file_hash
from aigc_lib.posttraining import (SFTBatches, SFTTask, SplitConfig, assistant_tokenizer, exact_match,
                                   load_assistant_base, make_split)
from aigc_lib.posttraining.pretrained import SFT_WEIGHTS_PATH


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", default="checkpoints/assistant_sft")
    p.add_argument("--write-weights", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    tok = assistant_tokenizer()
    split = make_split(SplitConfig())
    model = load_assistant_base().train()
    print(f"budget: {args.steps} steps x batch {args.batch} = {args.steps * args.batch:,} examples "
          f"({len(split.train):,} distinct); {args.threads} CPU thread(s)", flush=True)
    trainer = Trainer(max_steps=args.steps, lr_schedule="cosine", warmup_steps=30, clip_grad_norm=1.0,
                      log_every=50, checkpoint_dir=args.out_dir, checkpoint_every=200, progress=False,
                      live_plot=False, device="cpu")
    t0 = time.perf_counter()
    trainer.fit(SFTTask(model, loss_on="answer", lr=args.lr),
                SFTBatches(split.train, tok, args.batch, model.config.block_size, seed=args.seed))
    seconds = time.perf_counter() - t0
    result = exact_match(model, tok, split.eval)
    print(f"trained {trainer.step} steps in {seconds:.0f} s; held-out exact match {result.score:.3f} "
          f"({len(split.eval)} prompts); by task {result.by_task()}", flush=True)
    if args.write_weights:
        torch.save(model.state_dict(), SFT_WEIGHTS_PATH)
        print(f"wrote {SFT_WEIGHTS_PATH} ({SFT_WEIGHTS_PATH.stat().st_size:,} bytes), sha256 "
              f"{file_hash(SFT_WEIGHTS_PATH)}")
        print(f"SFT_TRAINING_RECORD = {{'steps': {trainer.step}, 'batch_size': {args.batch}, 'device': 'cpu', "
              f"'threads': {args.threads}, 'train_seconds': {seconds:.0f}, "
              f"'heldout_exact_match': {result.score:.3f}}}")


if __name__ == "__main__":
    main()
