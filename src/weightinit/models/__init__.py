"""The project's own models: MLPs from a spec string ("784-256-256-10", "lecture", "deep"), the
small recurrent and attention models of the comparison (RowLSTM, PatchTransformer), and a small
character-level GPT (:mod:`.gpt`)."""

from .builders import MODELS, NAMED_ARCHS, PatchTransformer, RowLSTM, build_model, describe_model, mlp, parse_arch
from .gpt import GPT

__all__ = ["NAMED_ARCHS", "MODELS", "parse_arch", "mlp", "RowLSTM", "PatchTransformer", "GPT", "build_model",
           "describe_model"]
