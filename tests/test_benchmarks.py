"""The GPT benchmark (`make bench`) runs end to end with tiny settings, so it cannot rot unnoticed."""
import pytest
import torch
from torch import nn

from aigc_lib.gpt import GPT, GPTConfig
from benchmarks import gpt_cpu


def test_benchmark_runs_every_cpu_section_with_tiny_settings(capsys):
    threads = torch.get_num_threads()
    try:
        gpt_cpu.main(["--sections", "speed,quality,generation,sweep", "--threads", "1",
                      "--speed-steps", "2", "--speed-rounds", "1", "--budget-s", "1", "--ms-per-iter", "100",
                      "--warmup", "2", "--gen-tokens", "2", "--sweep-prompts", "1,3", "--split-rows", "1,3"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    for heading in ("## Training speed", "## Quality per wall-clock", "## Generation",
                    "## KV-cache speed-up against prompt length", "One cached step",
                    "Every linear layer as one plain F.linear call", "| rows | F.linear GB/s | split GB/s |"):
        assert heading in out, heading
    assert "All runs produced the same tokens: True" in out
    sweep = [line for line in out.splitlines()
             if line.startswith(("| 1 |", "| 3 |")) and line.endswith(("| True |", "| False |"))]
    assert len(sweep) == 2 and all(line.endswith("| True |") for line in sweep)


def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32)).eval()


def test_onednn_linears_give_the_same_logits_and_are_undone():
    if not torch.backends.mkldnn.is_available():
        return
    model = tiny_gpt()
    x = torch.randint(0, 50, (2, 10))
    with torch.no_grad():
        ref = model(x)
        with gpt_cpu.onednn_linears(model):
            assert any("forward" in vars(m) for m in model.modules() if isinstance(m, nn.Linear))
            fast = model(x)
        assert not any("forward" in vars(m) for m in model.modules())
    torch.testing.assert_close(fast, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("threads", [2], indirect=True)   # the model's own layers split the one row
def test_unsplit_linears_give_the_same_logits_and_are_undone(threads):
    model = tiny_gpt()
    x = torch.randint(0, 50, (1, 1))
    with torch.no_grad():
        ref = model(x)
        with gpt_cpu.unsplit_linears(model):
            assert all("forward" in vars(m) for m in model.modules() if isinstance(m, nn.Linear))
            plain = model(x)
        assert not any("forward" in vars(m) for m in model.modules())
    torch.testing.assert_close(plain, ref, atol=1e-5, rtol=1e-5)
