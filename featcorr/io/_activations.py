"""Load saved activations (one array per layer) from .npz, .npy and .pt/.pth files."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ActivationFileError

__all__ = ["ACTIVATION_EXTENSIONS", "load_activations"]

#: File extensions :func:`load_activations` reads, and what each holds.
ACTIVATION_EXTENSIONS = {
    ".npz": "one array per layer, named by its key (numpy.savez)",
    ".npy": "one array, the layer named by the file stem (numpy.save)",
    ".pt": "a tensor (layer named by the file stem) or a dict {layer name: tensor} (torch.save)",
    ".pth": "same as .pt",
}

# numpy dtype kinds we accept: bool, signed/unsigned int, float
_NUMERIC_KINDS = "biuf"
_READ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    pickle.UnpicklingError,
    RuntimeError,
    KeyError,
    IndexError,
)


def load_activations(path: str | os.PathLike) -> dict[str, Any]:
    """Read saved activations from a file, as ``{layer name: array}``.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` archive (one array per layer, named by its key), a ``.npy``
        file (one array, named by the file stem), or a ``.pt``/``.pth`` file
        holding a tensor (named by the file stem) or a dict of tensors
        (read with ``torch.load(..., weights_only=True)``, so no code runs).

    Returns
    -------
    dict of str to numpy.ndarray or torch.Tensor
        Layer name -> activation of shape (n_samples, ...), in the file's
        order; numpy arrays for .npz/.npy, CPU tensors for .pt/.pth. These
        go straight into :func:`featcorr.compare.compare_activations`.

    Raises
    ------
    featcorr.errors.ActivationFileError
        If the file does not exist, is a directory, is empty, has an
        extension other than .npz/.npy/.pt/.pth, cannot be read (corrupt,
        truncated, pickled objects), or holds a non-numeric or empty array
        (the message names the array).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from featcorr.io import load_activations
    >>> path = os.path.join(tempfile.mkdtemp(), "acts.npz")
    >>> np.savez(path, conv1=np.zeros((8, 4)), fc=np.ones((8, 2)))
    >>> {k: v.shape for k, v in load_activations(path).items()}
    {'conv1': (8, 4), 'fc': (8, 2)}
    """
    p = Path(path)
    ext = p.suffix.lower()
    if not p.exists():
        raise ActivationFileError(
            f"load_activations: file {str(p)!r} does not exist; check the path (working directory: {os.getcwd()!r})."
        )
    if p.is_dir():
        raise ActivationFileError(
            f"load_activations: {str(p)!r} is a directory; pass one activation file ("
            + ", ".join(ACTIVATION_EXTENSIONS)
            + ")."
        )
    if ext not in ACTIVATION_EXTENSIONS:
        raise ActivationFileError(
            f"load_activations: unknown file type {ext or '(no extension)'!r} for {str(p)!r}; "
            "featcorr reads " + "; ".join(f"{e}: {what}" for e, what in ACTIVATION_EXTENSIONS.items()) + "."
        )
    if p.stat().st_size == 0:
        raise ActivationFileError(f"load_activations: file {str(p)!r} is empty (0 bytes); it holds no activations.")
    if ext == ".npz":
        arrays = _load_npz(p)
    elif ext == ".npy":
        arrays = {p.stem: _load_npy(p)}
    else:
        arrays = _load_torch(p)
    if not arrays:
        raise ActivationFileError(
            f"load_activations: file {str(p)!r} holds no arrays; save at least one layer's activations in it."
        )
    for name, arr in arrays.items():
        _check_array(arr, name=name, path=p)
    return arrays


def _corrupt(p: Path, kind: str, exc: BaseException) -> ActivationFileError:
    return ActivationFileError(
        f"load_activations: could not read {str(p)!r} as a {kind} file ({type(exc).__name__}: {exc}); "
        f"the file is corrupt, truncated or not a {kind} file — re-save it with "
        + ("numpy.savez" if kind == ".npz" else "numpy.save" if kind == ".npy" else "torch.save")
        + "."
    )


def _object_array(p: Path, name: str) -> ActivationFileError:
    return ActivationFileError(
        f"load_activations: array {name!r} in {str(p)!r} holds Python objects (dtype=object), not numbers; "
        "featcorr never unpickles arrays. Save numeric arrays, e.g. np.asarray(x, dtype=np.float32)."
    )


def _load_npz(p: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(p, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _corrupt(p, ".npz", exc) from None
    if isinstance(archive, np.ndarray):
        raise ActivationFileError(
            f"load_activations: {str(p)!r} holds a single .npy array, not an .npz archive; "
            "rename it to .npy, or save it with numpy.savez(path, layer_name=array)."
        )
    out: dict[str, np.ndarray] = {}
    with archive:
        for key in archive.files:
            try:
                out[key] = archive[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise _object_array(p, key) from None
                raise _corrupt(p, ".npz", exc) from None
            except _READ_ERRORS as exc:
                raise _corrupt(p, ".npz", exc) from None
    return out


def _load_npy(p: Path) -> np.ndarray:
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) and _has_npy_magic(p):
            raise _object_array(p, p.stem) from None
        raise _corrupt(p, ".npy", exc) from None
    except _READ_ERRORS as exc:
        raise _corrupt(p, ".npy", exc) from None
    if not isinstance(arr, np.ndarray):
        raise ActivationFileError(
            f"load_activations: {str(p)!r} is an .npz archive, not a single .npy array; rename it to .npz."
        )
    return arr


def _has_npy_magic(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(6) == b"\x93NUMPY"


def _load_torch(p: Path) -> dict[str, Any]:
    import torch

    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Weights only" in str(exc):
            raise ActivationFileError(
                f"load_activations: {str(p)!r} holds Python objects that torch.load(weights_only=True) refuses "
                "to unpickle (featcorr never runs code from a file); save a tensor or a dict "
                "{layer name: tensor} with torch.save instead."
            ) from None
        raise _corrupt(p, ".pt", exc) from None
    except Exception as exc:  # torch's unpickler fails on garbage in many ways (IndexError, RuntimeError, ...)
        raise _corrupt(p, ".pt", exc) from None
    if isinstance(obj, torch.Tensor):
        return {p.stem: obj.detach()}
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(value, (torch.Tensor, np.ndarray)):
                raise ActivationFileError(
                    f"load_activations: entry {str(key)!r} in {str(p)!r} is a {type(value).__name__}, not a tensor; "
                    "save a dict that maps each layer name to its activation tensor."
                )
            out[str(key)] = value.detach() if isinstance(value, torch.Tensor) else value
        return out
    raise ActivationFileError(
        f"load_activations: {str(p)!r} holds a {type(obj).__name__}; expected a tensor or a dict "
        "{layer name: tensor} (save one with torch.save)."
    )


def _check_array(arr: Any, *, name: str, path: Path) -> None:
    """Raise ActivationFileError unless ``arr`` is a non-empty real numeric array."""
    if hasattr(arr, "numpy") and not isinstance(arr, np.ndarray):  # torch tensor
        dtype = str(arr.dtype).replace("torch.", "")
        numeric = not (arr.is_complex() or dtype.startswith(("quint", "qint")))
        size = arr.numel()
    else:
        dtype = str(arr.dtype)
        numeric = arr.dtype.kind in _NUMERIC_KINDS
        size = arr.size
    shape = tuple(arr.shape)
    if not numeric:
        raise ActivationFileError(
            f"load_activations: array {name!r} in {str(path)!r} has dtype {dtype}, which is not real numeric; "
            "activations must be int, float or bool (encode strings/categories, take the real part of complex)."
        )
    if size == 0:
        raise ActivationFileError(
            f"load_activations: array {name!r} in {str(path)!r} is empty (shape {shape}); "
            "save activations of at least 2 samples."
        )
