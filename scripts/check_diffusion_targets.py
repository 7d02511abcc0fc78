"""Measure the diffusion part's targets (issue 15) outside the notebooks, with wall-clock times.

    OMP_NUM_THREADS=1 python scripts/check_diffusion_targets.py toy
    OMP_NUM_THREADS=1 python scripts/check_diffusion_targets.py mnist [--weights PATH] [--n 1000]

``toy``: trains an MLP denoiser as a DDPM and as a flow-matching model on chapter 6's ring of
8 Gaussians (std 0.05), samples 2,500 points with DDPM-1000, DDIM-50 and Euler-50, and prints
chapter 6's mode coverage (target: 8/8 modes, >= 90 % of samples within 3 std).

``mnist``: loads the shipped class-conditional U-Net (:func:`aigc_lib.diffusion.pretrained.load_mnist_diffusion`)
and prints the classifier FID against chapter 6's reference set (the first 1,000 test digits) of
``--n`` unconditional DDPM-1000 and DDIM-50 samples, and the label accuracy of guided DDIM-50
samples at several guidance scales.
"""
import argparse
import time

import torch

from aigc_lib import Trainer, seed_everything
from aigc_lib.data import TensorBatches, load_mnist, ring_centers, ring_of_gaussians
from aigc_lib.diffusion import (DDPMTask, FlowMatchingTask, MLPDenoiser, MLPDenoiserConfig, NoiseSchedule,
                                classifier_free_guidance, ddim_sample, ddpm_sample, flow_sample, to_image_range)
from aigc_lib.gan import mode_coverage

RING_STD = 0.05


def toy(args) -> None:
    seed_everything(0)
    data, _ = ring_of_gaussians(50_000, std=RING_STD, generator=torch.Generator().manual_seed(0))
    centers = ring_centers(8, radius=2.0)
    schedule = NoiseSchedule.cosine(1000)
    cfg = MLPDenoiserConfig(data_shape=(2,), hidden=args.hidden, depth=args.depth)
    for name, task in (("DDPM", DDPMTask(MLPDenoiser(cfg), schedule, lr=2e-3)),
                       ("flow matching", FlowMatchingTask(MLPDenoiser(cfg), lr=2e-3))):
        trainer = Trainer(max_steps=args.steps, lr_schedule="cosine", warmup_steps=100, ema_decay=0.995,
                          progress=False, live_plot=False)
        t0 = time.perf_counter()
        trainer.fit(task, TensorBatches(data, batch_size=args.batch))
        print(f"{name}: {args.steps} steps (batch {args.batch}) in {time.perf_counter() - t0:.1f} s, "
              f"final loss {trainer.history.last('train/loss'):.4f}", flush=True)
        model = task.model.eval()
        with trainer.ema.average_parameters(task):
            if name == "DDPM":
                samplers = {"DDPM-1000": lambda g: ddpm_sample(model, schedule, (2500, 2), generator=g),
                            "DDIM-50": lambda g: ddim_sample(model, schedule, (2500, 2), 50, generator=g)}
            else:
                samplers = {"Euler-50": lambda g: flow_sample(model, (2500, 2), 50, generator=g),
                            "Euler-10": lambda g: flow_sample(model, (2500, 2), 10, generator=g)}
            for s_name, sample in samplers.items():
                t0 = time.perf_counter()
                points = sample(torch.Generator().manual_seed(0))
                print(f"  {s_name}: {mode_coverage(points, centers, RING_STD)} "
                      f"(2,500 samples in {time.perf_counter() - t0:.1f} s)", flush=True)


def mnist(args) -> None:
    from aigc_lib.diffusion.pretrained import load_mnist_diffusion, mnist_schedule
    from aigc_lib.data import file_hash
    from aigc_lib.evaluation import classifier_fid, label_accuracy, load_mnist_classifier

    test = load_mnist("test")
    reference = test.images[:1000]
    classifier = load_mnist_classifier()
    # --weights: a file written by scripts/train_diffusion_mnist.py, not (yet) the shipped one: its own digest, printed
    if args.weights:
        digest = file_hash(args.weights)
        print(f"checking {args.weights} (sha256 {digest})")
        model = load_mnist_diffusion(args.weights, sha256=digest)
    else:
        model = load_mnist_diffusion()
    schedule = mnist_schedule()
    n = args.n
    shape = (n, 1, 28, 28)
    if args.conditional:   # labels drawn uniformly, no guidance (w = 1): a sampler of p(x) = mean_y p(x | y)
        labels = torch.arange(10).repeat(n // 10 + 1)[:n]
        uncond = lambda x, t: model(x, t, labels)   # noqa: E731  (w = 1 needs no unconditional pass)
    else:
        uncond = lambda x, t: model(x, t)   # noqa: E731  (label None = the null class)
    results = {}
    rows = (("DDIM-50", lambda g: ddim_sample(uncond, schedule, shape, 50, eta=args.eta, generator=g,
                                                           clip_x0=1.0)),
            ("DDPM-1000", lambda g: ddpm_sample(uncond, schedule, shape, generator=g, clip_x0=1.0)))
    for name, sample in rows:
        if name == "DDPM-1000" and args.skip_ddpm:
            continue
        t0 = time.perf_counter()
        images = to_image_range(sample(torch.Generator().manual_seed(123)))
        dt = time.perf_counter() - t0
        results[name] = classifier_fid(classifier, images, reference)
        print(f"{name}: classifier FID {results[name]:.1f} ({n} samples in {dt:.0f} s, "
              f"{100 * dt / n:.1f} s per 100 images{', eta ' + str(args.eta) if name == 'DDIM-50' else ''})", flush=True)
    if len(results) == 2:
        print(f"DDIM-50/DDPM-1000 classifier-FID ratio: {results['DDIM-50'] / results['DDPM-1000']:.2f}")
        print(f"DDPM/DCGAN classifier-FID ratio (DCGAN 252.7 in chapter 6): {results['DDPM-1000'] / 252.7:.2f}")
    labels = torch.arange(10).repeat(n // 10)
    for w in args.scales:
        t0 = time.perf_counter()
        x = ddim_sample(classifier_free_guidance(model, labels, w), schedule, shape, 50, eta=args.eta,
                        generator=torch.Generator().manual_seed(7), clip_x0=1.0)
        images = to_image_range(x)
        dt = time.perf_counter() - t0
        print(f"guidance scale {w}: label accuracy {label_accuracy(classifier, images, labels):.3f}, "
              f"classifier FID {classifier_fid(classifier, images, reference):.1f} (DDIM-50, eta {args.eta}, {dt:.0f} s)",
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["toy", "mnist"])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--weights", default=None)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--skip-ddpm", action="store_true")
    p.add_argument("--conditional", action="store_true",
                   help="FID rows from the conditional model with uniform labels at w=1 instead of the null label")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0: deterministic)")
    p.add_argument("--scales", type=float, nargs="*", default=[0.0, 1.0, 2.0, 3.0])
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"torch threads: {torch.get_num_threads()}", flush=True)
    toy(args) if args.what == "toy" else mnist(args)


if __name__ == "__main__":
    main()
