"""Files: read saved activations (.npz, .npy, .pt/.pth) as ``{layer name: array}``."""

from ._activations import ACTIVATION_EXTENSIONS, load_activations

__all__ = ["ACTIVATION_EXTENSIONS", "load_activations"]
