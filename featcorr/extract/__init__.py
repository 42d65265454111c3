"""Activations from torch models: forward hooks on named layers, batch handling.

:class:`ActivationRecorder` adds forward hooks on the chosen modules on
enter and always removes them on exit (restoring train/eval flags);
:func:`resolve_layers` turns names and glob patterns into modules;
:func:`model_input` turns a loader's batch into model arguments;
:func:`extract_activations` keeps the activations of a whole pass in memory
(e.g. to save them for ``featcorr compare a.npz b.npz``).
"""

from ._collect import extract_activations
from ._batches import ModelInput, check_model_device, iterate_batches, model_device, model_input, to_device
from ._layers import ROOT_LABEL, leaf_layers, resolve_layers
from ._masks import batch_token_mask, check_mask_selector, pool_masked
from ._outputs import first_tensor, select_output
from ._progress import batch_progress
from ._recorder import ActivationRecorder
from ._stochastic import dropout_modules, repeat_input, repeat_rows

__all__ = [
    "extract_activations",
    "ActivationRecorder",
    "resolve_layers",
    "leaf_layers",
    "ROOT_LABEL",
    "select_output",
    "first_tensor",
    "ModelInput",
    "model_input",
    "to_device",
    "iterate_batches",
    "model_device",
    "check_model_device",
    "batch_progress",
    "batch_token_mask",
    "check_mask_selector",
    "pool_masked",
    "dropout_modules",
    "repeat_input",
    "repeat_rows",
]
