"""Pretrain the base GPT of chapters 10 and 11 and write its shipped weights.

    OMP_NUM_THREADS=1 python scripts/train_assistant_base.py --write-weights

Chapter 4's recipe (:class:`aigc_lib.lm.gpt.LanguageModelTask`, AdamW, warm-up then
cosine decay, batch 32 windows of 64 characters), seeded, on
:func:`aigc_lib.posttraining.pretrained.pretraining_text` (Tiny Shakespeare plus
10 % generated numbers and capitalised words), with the model shape of
:func:`~aigc_lib.posttraining.pretrained.assistant_gpt_config`. The last 5 % of
the text is held out for the validation loss. It prints its budget (steps,
examples seen, seconds), writes a checkpoint to ``--out-dir/last.pt`` (run the
same command again to resume) and, with ``--write-weights``, the weights to
``aigc_lib/data/files/assistant_base_gpt.pt`` and their sha256, to be put into
``aigc_lib/posttraining/pretrained.py`` with the printed training record.

The shipped weights (2026-12-07): the command above, 3,000 steps of 32 x 64 characters in 620 s on one CPU
thread of a 2-core machine shared with other jobs (about 0.11 s per step when the machine is quiet, so about
330 s); final validation loss 0.984 nats per character (on the last 5 % of the text, which is skill text).
"""
import argparse
import time

import torch

from aigc_lib import Trainer, seed_everything
from aigc_lib.data import RandomWindows, file_hash
from aigc_lib.lm.gpt import GPT, LanguageModelTask
from aigc_lib.posttraining.pretrained import (BASE_WEIGHTS_PATH, assistant_gpt_config, assistant_tokenizer,
                                              pretraining_text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", default="checkpoints/assistant_base")
    p.add_argument("--write-weights", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    tok = assistant_tokenizer()
    ids = torch.tensor(tok.encode(pretraining_text()))
    n_val = len(ids) // 20
    cfg = assistant_gpt_config(tok.vocab_size)
    model = GPT(cfg)
    print(f"budget: {args.steps} steps x batch {args.batch} x {cfg.block_size} tokens = "
          f"{args.steps * args.batch * cfg.block_size:,} tokens; {model.num_parameters():,} parameters; "
          f"{args.threads} CPU thread(s)", flush=True)
    train = RandomWindows(ids[:-n_val], cfg.block_size, args.batch, seed=args.seed)
    val = RandomWindows(ids[-n_val:], cfg.block_size, 64, seed=12345, num_batches=5)
    task = LanguageModelTask(model, lr=args.lr, weight_decay=0.1)
    trainer = Trainer(max_steps=args.steps, lr_schedule="cosine", warmup_steps=100, clip_grad_norm=1.0,
                      eval_every=500, log_every=100, checkpoint_dir=args.out_dir, checkpoint_every=500,
                      progress=False, live_plot=False, device="cpu")
    t0 = time.perf_counter()
    history = trainer.fit(task, train, val)
    seconds = time.perf_counter() - t0
    for step, loss in zip(history.steps("val/loss"), history.values("val/loss")):
        print(f"  step {step}: validation loss {loss:.3f}")
    print(f"trained {trainer.step} steps in {seconds:.0f} s; final validation loss "
          f"{trainer.evaluate(task, val)['loss']:.3f} nats/char", flush=True)
    if args.write_weights:
        torch.save(model.state_dict(), BASE_WEIGHTS_PATH)
        print(f"wrote {BASE_WEIGHTS_PATH} ({BASE_WEIGHTS_PATH.stat().st_size:,} bytes), sha256 "
              f"{file_hash(BASE_WEIGHTS_PATH)}")
        print(f"TRAINING_RECORD = {{'steps': {trainer.step}, 'batch_size': {args.batch}, 'device': 'cpu', "
              f"'threads': {args.threads}, 'train_seconds': {seconds:.0f}}}")


if __name__ == "__main__":
    main()
