"""The registry of the course's image generators: completeness, sampling, recipes, saving and checked loading."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_lib import generators as cg
from aigc_lib.generators import store, training
from aigc_lib.data import ChecksumError

EXPECTED = ["mlp_gan", "dcgan", "wgan_gp", "cond_gan", "vae", "cond_vae", "ddpm", "ddim50", "flow", "latent"]


def fresh(name: str) -> torch.nn.Module:
    """A randomly initialised model of ``name``, ready to sample (the latent model gets a scale)."""
    torch.manual_seed(0)
    model = cg.build_generator(name)
    if name == "latent":
        model.fit_latent_scale(torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    return model


def test_registry_has_every_image_generator_of_the_course():
    assert list(cg.NAMES) == EXPECTED
    assert set(cg.TRAINABLE) == set(EXPECTED) - {"ddpm", "ddim50"}
    assert {n for n in EXPECTED if cg.get_spec(n).conditional} == {"cond_gan", "cond_vae", "ddpm", "ddim50", "flow",
                                                                    "latent"}


def test_models_use_the_chapters_configurations():
    from aigc_lib.diffusion.pretrained import mnist_unet_config
    assert cg.build_generator("flow").config == mnist_unet_config()
    assert cg.build_generator("dcgan").config.base_channels == 32
    assert cg.build_generator("wgan_gp").config.d_norm == "layer"
    assert cg.build_generator("cond_gan").config.n_classes == 10
    assert cg.build_generator("vae").config.latent_dim == 32
    assert cg.build_generator("cond_vae").config.num_classes == 10
    assert cg.build_generator("mlp_gan").config.hidden_dim == 256


def test_weights_are_small():
    sizes = {n: 4 * sum(v.numel() for v in cg.build_generator(n).state_dict().values()) for n in cg.TRAINABLE}
    assert max(sizes.values()) <= 5e6, sizes
    assert sum(sizes.values()) <= 15e6, sizes


@pytest.mark.parametrize("name", EXPECTED)
def test_sample_shape_and_range_for_every_name(name, monkeypatch):
    from aigc_lib.diffusion import NoiseSchedule
    if name == "ddpm":   # ancestral sampling runs every step of the schedule: use 20 instead of 1,000 here
        monkeypatch.setattr(store, "mnist_schedule", lambda: NoiseSchedule.cosine(20))
    model = fresh(name)
    steps = {"ddim50": 2, "flow": 2, "latent": 2}.get(name)
    n = 3
    x = cg.sample(name, n, generator=torch.Generator().manual_seed(0), model=model, num_steps=steps)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and bool(torch.isfinite(x).all())
    again = cg.sample(name, n, generator=torch.Generator().manual_seed(0), model=model, num_steps=steps)
    assert torch.equal(x, again)                                   # seeded
    if cg.get_spec(name).conditional:
        y = cg.sample(name, n, labels=torch.tensor([1, 2, 3]), generator=torch.Generator().manual_seed(0),
                      model=model, num_steps=steps)
        assert y.shape == (n, 1, 28, 28)


def test_labels_reach_the_conditional_models():
    for name, kw in (("cond_gan", {}), ("cond_vae", {}), ("flow", {"num_steps": 2}), ("latent", {"num_steps": 2})):
        model = fresh(name)
        with torch.no_grad():   # a freshly initialised flow U-Net / denoiser outputs zeros; give the labels weight
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        a = cg.sample(name, 4, labels=torch.tensor([0, 0, 0, 0]), generator=torch.Generator().manual_seed(0),
                      model=model, **kw)
        b = cg.sample(name, 4, labels=torch.tensor([7, 7, 7, 7]), generator=torch.Generator().manual_seed(0),
                      model=model, **kw)
        assert not torch.allclose(a, b), name


def test_conditional_models_without_labels_get_balanced_labels():
    model = fresh("cond_gan")
    default = cg.sample("cond_gan", 12, generator=torch.Generator().manual_seed(0), model=model)
    balanced = cg.sample("cond_gan", 12, labels=torch.arange(12) % 10, generator=torch.Generator().manual_seed(0),
                         model=model)
    assert torch.equal(default, balanced)


def test_bad_names_and_labels_give_clear_errors():
    with pytest.raises(ValueError, match="name must be one of mlp_gan"):
        cg.sample("stylegan", 2)
    with pytest.raises(TypeError, match="name must be a string"):
        cg.build_generator(3)
    model = fresh("cond_gan")
    with pytest.raises(ValueError, match=r"digits in 0\.\.9, got values in 3\.\.10"):
        cg.sample("cond_gan", 2, labels=torch.tensor([3, 10]), model=model)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        cg.sample("cond_gan", 2, labels=torch.tensor([3]), model=model)
    with pytest.raises(TypeError, match="integer"):
        cg.sample("cond_gan", 2, labels=torch.tensor([3.0, 1.0]), model=model)
    with pytest.raises(ValueError, match="unconditional"):
        cg.sample("dcgan", 2, labels=torch.tensor([3, 1]), model=fresh("dcgan"))
    with pytest.raises(ValueError, match="guidance_scale"):
        cg.sample("flow", 2, labels=torch.tensor([3, 1]), guidance_scale=-1.0, model=fresh("flow"))
    with pytest.raises(ValueError, match="diffusion models only"):
        cg.sample("vae", 2, guidance_scale=2.0, model=fresh("vae"))
    with pytest.raises(ValueError, match="num_steps"):
        cg.sample("ddpm", 2, num_steps=10, model=fresh("ddpm"))
    with pytest.raises(ValueError, match="n must be"):
        cg.sample("vae", 0, model=fresh("vae"))
    with pytest.raises(ValueError, match="train_diffusion_mnist"):
        cg.training_setup("ddpm")


def test_save_and_load_round_trip_through_the_manifest(tmp_path):
    model = fresh("vae")
    rec = cg.save_course_generator("vae", model, {"steps": 3, "train_seconds": 0.1, "batch_size": 100}, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())["generators"]
    assert manifest["vae"]["sha256"] == rec["sha256"] and manifest["vae"]["steps"] == 3
    for key in ("torch", "date", "bytes", "config"):
        assert key in manifest["vae"]
    assert cg.course_generator_record("vae", tmp_path)["batch_size"] == 100
    assert cg.course_generator_record("ddpm", tmp_path) is None
    loaded = cg.load_course_generator("vae", tmp_path)
    assert not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_modified_or_missing_weights_are_refused_naming_the_command(tmp_path):
    cg.save_course_generator("dcgan", fresh("dcgan"), {"steps": 1}, tmp_path)
    path = tmp_path / "dcgan.pt"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="train_course_generators.py --device cuda .* --only dcgan"):
        cg.load_course_generator("dcgan", tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="missing: train them with .*train_course_generators.py"):
        cg.load_course_generator("dcgan", tmp_path)
    with pytest.raises(FileNotFoundError, match="no record of 'vae'"):
        cg.load_course_generator("vae", tmp_path)
    with pytest.raises(FileNotFoundError, match="no manifest.json .*train_course_generators.py"):
        cg.load_course_generator("vae", tmp_path / "empty")


def test_records_written_separately_merge_into_one_manifest(tmp_path):
    cg.save_course_generator("vae", fresh("vae"), {"steps": 1}, tmp_path, merge=False)
    cg.save_course_generator("mlp_gan", fresh("mlp_gan"), {"steps": 2}, tmp_path, merge=False)
    assert not (tmp_path / "manifest.json").exists()
    records = cg.merge_manifest(tmp_path)
    assert set(records) == {"vae", "mlp_gan"}
    assert cg.read_manifest(tmp_path)["mlp_gan"]["steps"] == 2
    cg.load_course_generator("mlp_gan", tmp_path)


@pytest.mark.parametrize("name", ["vae", "latent", "cond_gan"])
def test_training_runs_its_recipe_and_records_the_steps(name):
    x = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(300) % 10
    lines = []
    model, info = cg.train_course_generator(name, x, y, max_steps=3, chunk=2, log=lines.append)
    assert not model.training
    assert info["steps"] == 3 * len(cg.get_spec(name).stages)
    assert [s["steps"] for s in info["stages"]] == [3] * len(info["stages"])
    assert any("step 3/3" in line for line in lines)
    if name == "latent":
        assert info["latent_scale"] == pytest.approx(float(model.latent_scale)) and info["latent_scale"] > 0


def test_time_budget_stops_training_early():
    x = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    lines = []
    _, info = cg.train_course_generator("vae", x, torch.zeros(200, dtype=torch.long), max_steps=10, chunk=2,
                                        time_budget_s=1e-6, log=lines.append)
    assert info["stages"][0]["steps"] == 2 and info["stages"][0]["planned_steps"] == 10
    assert any("time budget" in line for line in lines)


def test_training_input_errors():
    x = torch.rand(20, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        cg.train_course_generator("vae", torch.rand(20, 1, 8, 8), torch.zeros(20, dtype=torch.long))
    with pytest.raises(TypeError, match="labels"):
        cg.train_course_generator("vae", x, torch.zeros(20))
    with pytest.raises(ValueError, match="steps_scale"):
        cg.train_course_generator("vae", x, torch.zeros(20, dtype=torch.long), steps_scale=0)


def _script():
    path = Path(__file__).resolve().parent.parent / "scripts" / "train_course_generators.py"
    spec = importlib.util.spec_from_file_location("train_course_generators", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_reads_mnist_from_an_npz(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(6, 1, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "m.npz", train_images=images, train_labels=np.arange(6), train_source=np.array("test"))
    x, y, source = _script().load_split("train", str(tmp_path / "m.npz"))
    assert x.dtype == torch.float32 and x.shape == (6, 1, 28, 28) and float(x.max()) <= 1
    assert torch.equal((x * 255).round().to(torch.uint8), torch.from_numpy(images)) and source == "test"
    assert y.tolist() == list(range(6))


def test_plan_shrinks_to_the_time_budget_and_the_cosine_schedule_follows(monkeypatch):
    class FakeClock:   # every reading advances one second: each chunk of 5 steps "takes" 2 s (0.4 s/step)
        now = 0.0

        @classmethod
        def perf_counter(cls):
            cls.now += 1.0
            return cls.now

    monkeypatch.setattr(training, "time", FakeClock)
    x = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    lines = []
    _, info = cg.train_course_generator("vae", x, torch.zeros(200, dtype=torch.long), max_steps=40, chunk=5,
                                        time_budget_s=10.0, log=lines.append)
    stage = info["stages"][0]
    assert any("plan 40 -> 25 steps" in line for line in lines), lines
    assert stage["planned_steps"] == 40 and 5 <= stage["steps"] <= 25
    sched = training._AdjustableCosine(100, 40)
    sched.total = 25
    assert sched(24) > sched(25) == pytest.approx(0.1)          # the decay ends at the new plan


SHIPPED = ["mlp_gan", "dcgan", "wgan_gp", "cond_gan", "vae", "cond_vae", "flow"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_with_their_checksum_and_sample_digits(name):
    """The weights chapter 9's table uses ship with the package, match the manifest and give images in [0, 1]."""
    record = cg.read_manifest()[name]
    assert record["steps"] > 0 and record["sha256"] and record["train_seconds"] > 0
    model = cg.load_course_generator(name)
    n = 20
    x = cg.sample(name, n, generator=torch.Generator().manual_seed(0), model=model)
    assert x.shape == (n, 1, 28, 28) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # A trained generator is not the untrained one: its samples differ from a fresh model's on the same noise.
    y = cg.sample(name, n, generator=torch.Generator().manual_seed(0), model=fresh(name))
    assert (x - y).abs().mean() > 0.05


def test_conditional_vae_record_matches_chapter_7s_recipe():
    """The table's conditional VAE has chapter 7's narrow latent (Z = 2), the setting that makes it use the label."""
    assert cg.build_generator("cond_vae").config.latent_dim == 2
    assert cg.read_manifest()["cond_vae"]["config"]["latent_dim"] == 2
