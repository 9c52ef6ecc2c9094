"""What each parameter of a model gets, planned before anything is written.

``plan_init(model, scheme)`` walks the model, asks the rule of each module kind (:mod:`.rules`)
which formula of the scheme (:mod:`.schemes`) each parameter block gets, with its true fans
(:mod:`.fans`) and the gain of the activation that follows it (:mod:`.activations`, traced by
:mod:`.tracing` where the model calls functions), scales residual branches (:mod:`.residual`) and
returns an :class:`InitPlan`; ``InitPlan.apply`` writes it. ``init_model`` is both in one call.
:mod:`.lsuv` registers the data-driven "lsuv" scheme, :mod:`.presets` the field's recipes for
transformers (gpt2, megatron, olmo2, small_init, wang_init), which find depth by structure (:mod:`.depth`).
"""

from .fans import layer_fans, layer_nonlinearities
from .lsuv import LSUVConfig, lsuv  # noqa: I001  after schemes: registers "lsuv"
from .plan import InitPlan, PlanRow, as_model_input, init_model, plan_init
from .presets import PRESETS, Preset
from .residual import Residual
from .rules import Block, register_rule
from .schemes import SCHEMES, Scheme, register_scheme
from .vit_modes import VIT_MODES  # noqa: F401  registers timm's ViT modes as presets

__all__ = ["plan_init", "init_model", "InitPlan", "PlanRow", "as_model_input", "Residual", "Block", "register_rule",
           "SCHEMES", "Scheme", "register_scheme", "layer_fans", "layer_nonlinearities", "LSUVConfig", "lsuv",
           "PRESETS", "Preset"]
