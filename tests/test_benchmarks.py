"""The GPT benchmark (`make bench`) runs end to end with tiny settings, so it cannot rot unnoticed."""
import pytest
import torch
from torch import nn

from aigc_lib.lm import GPT, GPTConfig
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


def test_quality_rows_are_scored_by_one_function_on_the_same_batches(monkeypatch, capsys):
    calls = []
    real = gpt_cpu.batch_losses

    def recording(loss_of, batches):
        calls.append(batches)
        return real(loss_of, batches)
    monkeypatch.setattr(gpt_cpu, "batch_losses", recording)
    threads = torch.get_num_threads()
    try:
        results = gpt_cpu.main(["--sections", "quality", "--threads", "1", "--budget-s", "0.5",
                                "--ms-per-iter", "100", "--warmup", "2", "--val-batches", "2",
                                "--quality-rows", "ours-bf16,ours,nanogpt-our-lr,nanogpt"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("| ours", "| nanoGPT"))]
    assert len(rows) == 4, out
    assert any("bf16, lr 0.003" in r for r in rows) and any("fp32, lr 0.003" in r for r in rows)
    assert any(r.startswith("| nanoGPT's model and loop") and "fp32, lr 0.003" in r for r in rows)
    assert any(r.startswith("| nanoGPT's CPU example") and "fp32, lr 0.001" in r for r in rows)
    assert len(calls) == 4 and all(b is calls[0] for b in calls) and len(calls[0]) == 2   # same batches, one function
    losses = [r["val_loss"] for r in results["quality"].values()]
    assert all(3.0 < v < 5.0 for v in losses), losses   # ~ln 65 = 4.17 after 4 steps: both models evaluated sanely
    # the one-factor differences, each with its interval, and no figure from another run
    for label in ("implementation: ours - nanoGPT's code", "learning rate: nanoGPT's code at our rate",
                  "whole recipe: ours - nanoGPT's CPU example"):
        assert any(line.startswith(label) and "(95% interval" in line for line in out.splitlines()), label
    assert "would take" not in out and "44.8" not in out


def test_quality_rows_with_fixed_steps_train_every_row_the_same_number_of_steps(capsys):
    threads = torch.get_num_threads()
    try:
        results = gpt_cpu.main(["--sections", "quality", "--threads", "1", "--steps", "3", "--warmup", "1",
                                "--val-batches", "2", "--quality-rows", "ours,nanogpt"])
    finally:
        torch.set_num_threads(threads)
    assert [r["steps"] for r in results["quality"].values()] == [3, 3]
    assert [r["examples"] for r in results["quality"].values()] == [36, 36]
    with pytest.raises(ValueError, match="unknown rows"):
        gpt_cpu.main(["--sections", "quality", "--quality-rows", "ours,theirs"])


def test_heldout_loss_is_the_same_for_nanogpt_and_ours_on_equal_weights():
    """The evaluation does not favour one model: a nanoGPT copy loaded with our weights scores the same."""
    cfg = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0, bias=False)
    torch.manual_seed(0)
    ours = GPT(cfg).eval()
    nano = gpt_cpu.NanoGPT(cfg).eval()
    rename = {"token_embedding.weight": "transformer.wte.weight",
              "position_embedding.embedding.weight": "transformer.wpe.weight",
              "final_norm.weight": "transformer.ln_f.weight"}
    for i in range(cfg.n_layer):
        for a, b in [("norm1.weight", "ln_1.weight"), ("self_attn.qkv.weight", "attn.c_attn.weight"),
                     ("self_attn.out_proj.weight", "attn.c_proj.weight"), ("norm2.weight", "ln_2.weight"),
                     ("ff.linear1.weight", "mlp.c_fc.weight"), ("ff.linear2.weight", "mlp.c_proj.weight")]:
            rename[f"blocks.{i}.{a}"] = f"transformer.h.{i}.{b}"
    state = ours.state_dict()
    with torch.no_grad():
        nano_state = {rename[k]: v for k, v in state.items() if k in rename}
        nano_state["lm_head.weight"] = state["token_embedding.weight"]
        nano.load_state_dict(nano_state)
    ids = torch.randint(0, 65, (2000,))
    batches = gpt_cpu.validation_batches(ids, 16, n=3)
    a = gpt_cpu.heldout_loss(ours.loss, batches)
    b = gpt_cpu.heldout_loss(lambda x, y: nano(x, y)[1], batches)
    assert abs(a - b) < 1e-5, (a, b)
