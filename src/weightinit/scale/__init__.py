"""Initialization at scale: models built on the meta device, sharded across processes, the same
weights on any number of ranks.

``materialize(model, scheme, seed=0, device="cpu")`` plans as :func:`weightinit.init_model`
does, gives a meta-built model its storage, and fills every block of the plan from counter-based
streams (:mod:`.streams`): each value depends on the seed, the parameter's name, its shape and
the scheme only, so each rank of an FSDP2 / DTensor model fills its own shard with no
communication, and the gathered weights are bit-identical for 1, 2 or 4 ranks and any number of
threads. :mod:`.elementwise` runs a plan's fills on a piece of their tensor (the draws from the
streams), falling back to the whole block for the fills that need it (orthogonal); :mod:`.shards`
says which piece of a parameter a process holds.
"""

from .elementwise import FillResult, NeedsWholeTensor, streamed_fill
from .model_init import FillRecord, block_key, fill_streams, materialize
from .shards import Piece, block_piece, is_sharded, local_piece
from .streams import BLOCK_SIZE, fill_box, stream_generator, stream_seed

__all__ = ["materialize", "fill_streams", "FillRecord", "block_key", "streamed_fill", "FillResult",
           "NeedsWholeTensor", "Piece", "local_piece", "block_piece", "is_sharded", "BLOCK_SIZE", "fill_box",
           "stream_seed", "stream_generator"]
