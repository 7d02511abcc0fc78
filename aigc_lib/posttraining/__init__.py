"""Post-training: from a pretrained GPT to a small assistant (chapters 10 and 11).

Chapter 10 (instruction tuning): task generators, chat template, masked SFT, LoRA.
Chapter 11 (preferences and rewards): :mod:`.logprobs`, :mod:`.preferences`,
:mod:`.reward_model`, :mod:`.dpo`, :mod:`.ppo`, :mod:`.grpo`, :mod:`.stats`.
Import the modules by their full path, e.g. ``from aigc_lib.posttraining.dpo import dpo_loss``.
"""
