"""Plain forward against count_syops, each in a process of its own (no allocator state
shared between methods, unlike overhead.py's interleaved rounds in one process).

Run from the repository root::

    python tests/benchmarks/separate_processes.py fsnn50 --batch-size 8

Each method builds the model and one batch, runs it once to warm up, then ``--rounds``
times; every round prints its wall time and the process's user and system CPU time
(``resource.getrusage``). The medians end the output.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def measure(model_name: str, batch_size: int, method: str, rounds: int) -> list[dict]:
    import torch
    from spikingjelly.activation_based import functional

    from syops import count_syops
    from syops.models import create_model, model_info

    model = create_model(model_name).eval()
    batch = model_info(model_name).example_input(batch_size)

    def plain() -> None:
        with torch.no_grad():
            functional.reset_net(model)
            model(batch)

    def counted() -> None:
        count_syops(model, [batch], mode=method.removeprefix("syops-"))

    run = plain if method == "plain" else counted
    run()
    rows = []
    for _ in range(rounds):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        run()
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        rows.append({"wall": wall, "user": after.ru_utime - before.ru_utime,
                     "sys": after.ru_stime - before.ru_stime})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["plain", "syops-rate"],
                        choices=("plain", "syops-rate", "syops-exact"))
    parser.add_argument("--child", metavar="METHOD", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.batch_size, args.child, args.rounds)))
        return
    medians = {}
    for method in args.methods:
        out = subprocess.run([sys.executable, __file__, args.model, "--batch-size",
                              str(args.batch_size), "--rounds", str(args.rounds), "--child",
                              method], check=True, capture_output=True, text=True).stdout
        rows = json.loads(out.strip().splitlines()[-1])
        for row in rows:
            print(f"{method}: wall {row['wall']:.2f} s, user {row['user']:.2f} s, "
                  f"sys {row['sys']:.2f} s")
        medians[method] = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    base = medians[args.methods[0]]
    for method, median in medians.items():
        print(f"median {method}: wall {median['wall']:.2f} s ({median['wall'] / base['wall']:.2f}x), "
              f"user {median['user']:.2f} s ({median['user'] / base['user']:.2f}x)")


if __name__ == "__main__":
    main()
