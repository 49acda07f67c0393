"""Where does count_syops spend its time next to a plain forward? (cProfile, one model.)

Run from the repository root::

    python tests/benchmarks/where_time_goes.py fsnn50 --batch-size 8
    python tests/benchmarks/where_time_goes.py sew18 --batch-size 8 --device cuda

Times a plain no-grad forward and ``count_syops`` over the same batches once each (after a
warm-up of both), then profiles one more ``count_syops`` run and prints its syops functions
by cumulative time and every function by own time. Single timings are noisy: use
``overhead.py`` for ratios, this script to see which part to work on.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import torch
from spikingjelly.activation_based import functional

from syops import count_syops
from syops.models import create_model, model_info

SYOPS_FILES = r"syops/"


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--mode", choices=("exact", "rate"), default="exact")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    model = create_model(args.model).eval().to(args.device)
    images = model_info(args.model).example_input(args.images).to(args.device)
    batches = list(images.split(args.batch_size))

    def plain() -> None:
        with torch.no_grad():
            for batch in batches:
                functional.reset_net(model)
                model(batch)
        synchronize(args.device)

    def counted() -> None:
        count_syops(model, batches, mode=args.mode)
        synchronize(args.device)

    seconds = {}
    for name, run in (("plain", plain), ("count_syops", counted)):
        run()
        start = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - start
    print(f"plain {seconds['plain']:.4f} s, count_syops {seconds['count_syops']:.4f} s "
          f"({seconds['count_syops'] / seconds['plain']:.2f}x)")

    profiler = cProfile.Profile()
    profiler.runcall(counted)
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(SYOPS_FILES, args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
