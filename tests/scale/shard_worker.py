"""Run by torchrun in tests/scale/test_sharded.py: a model built on the meta device (or the CPU),
sharded over the ranks (gloo, CPU) with FSDP2's ``fully_shard`` or with plain DTensors, initialized
in place by ``weightinit.scale.materialize()`` (each rank its own shard), then gathered; rank 0
saves the full state dict. ``python -m torch.distributed.run --standalone --nproc_per_node=4
tests/scale/shard_worker.py fsdp|dtensor MODEL SCHEME OUT``."""

import os
import sys
import warnings

import torch
import torch.distributed as dist
from torch import nn

import weightinit as wi
from weightinit.errors import UserError
from weightinit.scale import materialize

BLOCK = 64  # small stream blocks: every shard boundary cuts through some


def build(name: str) -> nn.Module:
    """The models of the test: each has a dimension that 2 and 4 ranks do not divide evenly."""
    if name == "gpt":
        from weightinit.models.gpt import GPT
        return GPT(51, layers=2, width=30, heads=3, context=10)  # 30 and 51 rows: 8+8+8+6, 13+13+13+12
    if name == "llama":
        import transformers as T
        return T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                num_key_value_heads=2, intermediate_size=90, vocab_size=301,
                                                max_position_embeddings=32))
    raise ValueError(name)


def shard_fsdp(model: nn.Module, mesh) -> None:
    from torch.distributed.fsdp import fully_shard
    for module in model.modules():
        if type(module).__name__ in ("Block", "LlamaDecoderLayer"):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)


def shard_dtensor(model: nn.Module, mesh) -> None:
    """Every weight matrix as a DTensor: Shard(0), Shard(1) (a column cut: the streams' gather
    path) and Replicate in turn; vectors Shard(0)."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor
    cuts = [[Shard(0)], [Shard(1)], [Replicate()]]
    for i, (_, module) in enumerate(model.named_modules()):
        for name, p in list(module.named_parameters(recurse=False)):
            placements = cuts[i % 3] if p.dim() > 1 else [Shard(0)]
            setattr(module, name, nn.Parameter(distribute_tensor(p.detach(), mesh, placements)))


def main(how: str, model_name: str, scheme: str, out: str) -> None:
    dist.init_process_group("gloo")
    from torch.distributed.device_mesh import init_device_mesh
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    warnings.simplefilter("ignore")
    said: list[str] = []
    warnings.showwarning = lambda message, *rest: said.append(str(message))  # what materialize says, kept
    warnings.filterwarnings("always", message="materialize:")
    if how == "fsdp":  # the large-model path: meta, shard, then each rank allocates and fills its shard
        with torch.device("meta"):
            model = build(model_name)
        shard_fsdp(model, mesh)
        materialize(model, scheme, seed=7, device="cpu", block_size=BLOCK)
    else:
        torch.manual_seed(0)
        model = build(model_name)
        shard_dtensor(model, mesh)
        materialize(model, scheme, seed=7, block_size=BLOCK)
    try:  # one generator in plan order cannot fill a shard alone: init_model says so and changes nothing
        wi.init_model(model, "he_normal")
        refused = ""
    except UserError as error:
        refused = str(error)
    full = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone()
            for k, v in model.state_dict().items()}
    locals_ok = all((p.to_local() if hasattr(p, "to_local") else p).isfinite().all() for p in model.parameters())
    buffers = {k: v.clone() for k, v in model.named_buffers()}  # not sharded: rotary inv_freq recomputed
    if dist.get_rank() == 0:
        torch.save({"state": full, "buffers": buffers, "finite": bool(locals_ok), "world": dist.get_world_size(),
                    "refused": refused, "said": said}, out)
    dist.barrier()
    dist.destroy_process_group()
    # Done, and rank 0's file written: leave without the interpreter's teardown, where gloo's threads
    # could race the process's exit on a loaded machine ("terminate called without an active exception",
    # about one run in four with two pytest workers on 2 cores, on this code and before it).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(*sys.argv[1:5])
