"""Initializing a TinyLlama-1.1B-shaped model: transformers' ways, one ``normal_`` fill, and weightinit.

    .venv/bin/python benchmarks/bench_init.py [--scale 1] [--dtypes float32,bfloat16] [--scheme gpt2]
    .venv/bin/python benchmarks/bench_init.py --scale 0.0625      # a quick smoke run: 1/16 of the width

The model is transformers' ``LlamaForCausalLM`` of TinyLlama-1.1B's shape (hidden 2048, 22 layers,
32 heads, 4 key-value heads, intermediate 5632, vocabulary 32000: 1.1 B values, 4.4 GB in float32).
``--scale s`` multiplies the width, the intermediate size, the heads and the layers by ``s`` (the
vocabulary stays), for a run in seconds. Each row runs in a fresh process (so its peak resident
memory is its own) and times:

  construct     ``LlamaForCausalLM(config)``: transformers builds and initializes on the CPU
  meta+hf       built on the meta device, ``to_empty(device="cpu")``, the model's own ``init_weights()``
  normal_       ``torch.empty(n).normal_()`` of the model's value count: one call of torch's generator
  floor         the same count drawn as ``materialize`` draws, with nothing else: torch's ``normal_``
                on every thread (``--threads``), a fresh generator per block of 2^18 values, each
                block drawn in a float32 buffer that stays in the core's cache and copied into
                fresh memory; what this CPU's generator and first-touch page faults allow
  weightinit    built on the meta device, ``weightinit.materialize(model, scheme, seed=0)``:
                block streams on every thread (``--threads``, default all cores), then on one thread;
                the two must hold the same bits (a blake2b digest of every tensor is compared)

and prints seconds, values per second, peak resident memory (its excess over the process after
imports, and that as a multiple of the model's bytes) and each time as a ratio to ``construct``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time

TINYLLAMA = {"hidden_size": 2048, "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
             "intermediate_size": 5632, "vocab_size": 32000, "max_position_embeddings": 2048}
ROWS = ("construct", "meta+hf", "normal_", "floor", "weightinit", "weightinit-1thread")


def config(scale: float) -> dict:
    """TinyLlama's shape with the width, heads and layers times ``scale`` (heads a multiple of the
    key-value heads, the width a multiple of the heads)."""
    kv = max(1, round(TINYLLAMA["num_key_value_heads"] * scale))
    heads = max(kv, round(TINYLLAMA["num_attention_heads"] * scale) // kv * kv)
    head_dim = TINYLLAMA["hidden_size"] // TINYLLAMA["num_attention_heads"]
    return {**TINYLLAMA, "hidden_size": heads * head_dim if scale < 1 else TINYLLAMA["hidden_size"],
            "num_attention_heads": heads, "num_key_value_heads": kv,
            "num_hidden_layers": max(1, round(TINYLLAMA["num_hidden_layers"] * scale)),
            "intermediate_size": max(8, round(TINYLLAMA["intermediate_size"] * scale))}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _digest(model) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _floor(values, threads: int) -> None:
    """Blocks of 2^18 values, each from its own generator, drawn in a cached float32 buffer and
    copied in, on ``threads`` threads: materialize's draws with no plan, no names, no dispatch."""
    from concurrent.futures import ThreadPoolExecutor

    blocks = values.split(1 << 18)
    local = threading.local()

    def one(k: int) -> None:
        generator = torch.Generator().manual_seed(k)
        if getattr(local, "scratch", None) is None:  # drawn in a block that stays in the cache, then copied
            local.scratch = torch.empty(1 << 18, dtype=torch.float32)
        blocks[k].copy_(local.scratch[:blocks[k].numel()].normal_(0, 0.02, generator=generator))

    with ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:  # no oversubscription
        list(pool.map(one, range(len(blocks))))


def child(row: str, dtype_name: str, scale: float, scheme: str, threads: int) -> dict:
    """One row, in this process: imports first, then the timed work."""
    global torch
    import torch
    import transformers

    from weightinit.modelinit.recipes import TransformersRecipe
    from weightinit.scale import materialize

    torch.set_num_threads(threads)
    dtype = getattr(torch, dtype_name)
    cfg = transformers.LlamaConfig(**config(scale))
    with torch.device("meta"):
        numel = sum(p.numel() for p in transformers.LlamaForCausalLM(cfg).parameters())
    torch.set_default_dtype(dtype)
    before = _rss_mb()
    start = time.perf_counter()
    digest = ""
    if row == "construct":
        model = transformers.LlamaForCausalLM(cfg)
    elif row == "meta+hf":
        with torch.device("meta"):
            model = transformers.LlamaForCausalLM(cfg)
        model.to_empty(device="cpu")
        recipe = TransformersRecipe(model, targets={id(p) for p in model.parameters()})  # every weight drawn
        recipe.run(torch.Generator().manual_seed(0))  # init_weights(), its _is_hf_initialized flags cleared
    elif row == "normal_":
        torch.empty(numel, dtype=dtype).normal_()
    elif row == "floor":
        _floor(torch.empty(numel, dtype=dtype), threads)
    else:
        with torch.device("meta"):
            model = transformers.LlamaForCausalLM(cfg)
        materialize(model, scheme, seed=0, device="cpu", threads=threads)
    seconds = time.perf_counter() - start
    if row.startswith("weightinit"):
        digest = _digest(model)
    return {"row": row, "dtype": dtype_name, "seconds": seconds, "numel": numel, "threads": threads,
            "peak_mb": _rss_mb(), "base_mb": before, "digest": digest}


def run(row: str, dtype: str, scale: float, scheme: str, threads: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", row, "--dtypes", dtype, "--scale", str(scale),
                           "--scheme", scheme, "--threads", str(threads)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if done.returncode != 0:
        sys.exit(f"bench_init: row {row} ({dtype}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="width, heads and layers times this (default 1)")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--scheme", default="gpt2", help="weightinit's scheme (default gpt2: N(0, 0.02²), "
                        "residual outputs scaled, as the model's own init draws N(0, 0.02²))")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", choices=ROWS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error(f"--scale must be in (0, 1], got {args.scale}")
    if args.child:
        threads = 1 if args.child == "weightinit-1thread" else args.threads
        print(json.dumps(child(args.child, args.dtypes, args.scale, args.scheme, threads)))
        return 0
    shape = config(args.scale)
    print(f"LlamaForCausalLM {shape['num_hidden_layers']} layers, hidden {shape['hidden_size']}, "
          f"{shape['num_attention_heads']}/{shape['num_key_value_heads']} heads, intermediate "
          f"{shape['intermediate_size']}, vocab {shape['vocab_size']} (scale {args.scale:g}); {os.cpu_count()} cores, "
          f"--threads {args.threads}; weightinit scheme {args.scheme}")
    for dtype in args.dtypes.split(","):
        rows = [run(row, dtype, args.scale, args.scheme, args.threads) for row in ROWS]
        numel = rows[0]["numel"]
        model_mb = numel * (4 if dtype == "float32" else 2) / 2**20
        construct = rows[0]["seconds"]
        print(f"\n{dtype}: {numel / 1e9:.3f} B values, {model_mb:,.0f} MB")
        print(f"{'row':20s} {'seconds':>8s} {'M values/s':>11s} {'peak MB':>9s} {'over base':>10s} "
              f"{'/ model':>8s} {'vs construct':>13s}")
        for r in rows:
            excess = r["peak_mb"] - r["base_mb"]
            print(f"{r['row']:20s} {r['seconds']:8.2f} "
                  f"{numel / r['seconds'] / 1e6:11.0f} {r['peak_mb']:9.0f} {excess:10.0f} "
                  f"{excess / model_mb:8.2f} {construct / r['seconds']:12.2f}x")
        floor, ours, one = rows[3], rows[4], rows[5]
        print(f"weightinit takes {ours['seconds'] / floor['seconds']:.2f}x the floor's time on {args.threads} threads")
        same = ours["digest"] == one["digest"]
        print(f"weightinit on {args.threads} threads and on 1: {'bit-identical' if same else 'DIFFERENT'} "
              f"(blake2b {ours['digest'][:16]})")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
