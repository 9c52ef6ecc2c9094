"""Sweep throughput of `weightinit compare` with 1 process against 2 (torchrun), same runs.

    .venv/bin/python benchmarks/bench_distributed.py [--runs 8] [--epochs 3] [--dataset digits]

Both sweeps train the same inits on the same data; the 2-process one splits the runs between
the ranks (rank r takes runs r, r + 2, ...). Each process gets half the cores
(OMP_NUM_THREADS), the 1-process sweep all of them. Prints runs/minute of each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

INITS = ["normal", "default", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "lecun_normal",
         "orthogonal", "lecun_uniform", "glorot_uniform", "kaiming_uniform", "kaiming_normal"]


def sweep(prefix: list[str], argv: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        done = subprocess.run([*prefix, *argv, "--out", f"{folder}/run"], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"sweep failed: {done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="inits in the sweep (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dataset", default="mnist")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    argv = ["compare", "--dataset", args.dataset, "--inits", ",".join(INITS[: args.runs]), "--epochs",
            str(args.epochs), "--no-progress"]
    one = sweep([sys.executable, "-m", "weightinit"], argv, cores)
    two = sweep([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                 "-m", "weightinit"], argv, max(cores // 2, 1))
    print(f"{args.runs} runs x {args.epochs} epochs on {args.dataset}, {cores} cores")
    print(f"1 process : {one:7.1f} s  {60 * args.runs / one:6.2f} runs/minute")
    print(f"2 processes: {two:7.1f} s  {60 * args.runs / two:6.2f} runs/minute")
    print(f"speed-up 2 vs 1: {one / two:.2f}x")


if __name__ == "__main__":
    main()
