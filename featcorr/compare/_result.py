"""ComparisonResult: layer x layer matrices per measure, long frames, save / load, heatmaps."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FeatcorrError, NotAResultError, UnknownMeasureError, close_matches_hint

__all__ = ["ComparisonResult", "load", "FORMAT_VERSION", "MARKER"]

#: Marker key written in result.json, with the format version as value.
MARKER = "featcorr_result"
FORMAT_VERSION = 1
_BASE_COLUMNS = ("layer_a", "layer_b", "measure", "value")


class ComparisonResult:
    """Values of one or more measures for every pair (layer of A, layer of B).

    Parameters
    ----------
    values : mapping str -> array of shape (len(layers_a), len(layers_b))
        One matrix per measure name, rows = layers of A, columns = layers of B.
    layers_a, layers_b : sequence of str
        Layer names, in the order the user listed them.
    metadata : dict, optional
        What was computed and how (n samples, dtype, estimator per measure,
        pooling, versions, models, device, batches, forward passes, time).
    extras : mapping str -> mapping str -> array, optional
        Further per-pair columns of a measure (e.g. ``p_value``, ``ci_low``,
        ``ci_high``), same shape as its matrix; they appear as columns of
        :meth:`to_frame` and are saved and loaded with the values.

    Attributes
    ----------
    measures : list of str
    layers_a, layers_b : list of str
    metadata : dict

    Examples
    --------
    >>> import numpy as np
    >>> from featcorr.compare import ComparisonResult
    >>> res = ComparisonResult({"linear_cka": np.array([[1.0, 0.5], [0.5, 1.0]])}, ["fc1", "fc2"], ["fc1", "fc2"])
    >>> res.matrix().loc["fc1", "fc2"]
    np.float64(0.5)
    >>> res.to_frame().shape
    (4, 4)
    """

    def __init__(
        self,
        values: Mapping[str, Any],
        layers_a: Sequence[str],
        layers_b: Sequence[str],
        metadata: Mapping[str, Any] | None = None,
        extras: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._layers_a = [str(x) for x in layers_a]
        self._layers_b = [str(x) for x in layers_b]
        shape = (len(self._layers_a), len(self._layers_b))
        self._values: dict[str, np.ndarray] = {}
        for name, mat in values.items():
            arr = np.asarray(mat, dtype=np.float64)
            if arr.shape != shape:
                raise FeatcorrError(
                    f"ComparisonResult: the matrix of {name!r} has shape {arr.shape}, expected {shape} "
                    "(len(layers_a), len(layers_b))."
                )
            self._values[str(name)] = arr
        self._extras: dict[str, dict[str, np.ndarray]] = {}
        for name, cols in (extras or {}).items():
            if name not in self._values:
                raise FeatcorrError(f"ComparisonResult: extras for {name!r}, which has no values.")
            for col, mat in cols.items():
                arr = np.asarray(mat, dtype=np.float64)
                if arr.shape != shape or col in _BASE_COLUMNS:
                    raise FeatcorrError(
                        f"ComparisonResult: extra column {col!r} of {name!r} has shape {arr.shape} (expected "
                        f"{shape}) or a reserved name {_BASE_COLUMNS}."
                    )
                self._extras.setdefault(str(name), {})[str(col)] = arr
        from ._engine import jsonable

        self._metadata = jsonable(dict(metadata or {}))  # JSON-safe, so save/load round-trips exactly

    # -------------------------------------------------------------- accessors
    @property
    def measures(self) -> list[str]:
        """Names of the measures held, in the order computed."""
        return list(self._values)

    @property
    def layers_a(self) -> list[str]:
        """Layer names of model A (rows of every matrix)."""
        return list(self._layers_a)

    @property
    def layers_b(self) -> list[str]:
        """Layer names of model B (columns of every matrix)."""
        return list(self._layers_b)

    @property
    def metadata(self) -> dict[str, Any]:
        """How the result was computed (a copy)."""
        return json.loads(json.dumps(self._metadata))

    def _measure(self, measure: str | None, caller: str) -> str:
        if measure is None:
            if not self._values:
                raise FeatcorrError(f"ComparisonResult.{caller}: the result holds no measure.")
            return next(iter(self._values))
        if measure not in self._values:
            raise UnknownMeasureError(
                f"ComparisonResult.{caller}: measure {measure!r} was not computed." + close_matches_hint(measure, self._values)
                + f" This result holds: {self.measures}; pass measures=[...] to compare() to compute others."
            )
        return measure

    def matrix(self, measure: str | None = None):
        """One measure as a layer x layer table.

        Parameters
        ----------
        measure : str, optional
            Measure name; default: the first one computed (``"linear_cka"`` by default).

        Returns
        -------
        pandas.DataFrame of shape (len(layers_a), len(layers_b))
            Index ``layer_a`` (layers of A), columns ``layer_b`` (layers of B).
        """
        import pandas as pd

        m = self._measure(measure, "matrix")
        return pd.DataFrame(
            self._values[m].copy(),
            index=pd.Index(self._layers_a, name="layer_a", dtype=object),
            columns=pd.Index(self._layers_b, name="layer_b", dtype=object),
        )

    def extra_columns(self) -> list[str]:
        """Names of the per-pair columns beyond ``value`` (e.g. ``p_value``), in first-seen order."""
        cols: dict[str, None] = {}
        for per in self._extras.values():
            cols.update(dict.fromkeys(per))
        return list(cols)

    def to_frame(self):
        """Long form: one row per (layer_a, layer_b, measure).

        Returns
        -------
        pandas.DataFrame
            Columns ``layer_a``, ``layer_b``, ``measure``, ``value``, then
            any extra per-pair columns (NaN for measures without them).
            Rows follow the measures, then layers of A, then layers of B.
        """
        import pandas as pd

        la, lb = len(self._layers_a), len(self._layers_b)
        extra = self.extra_columns()
        parts = []
        for m, mat in self._values.items():
            cols = {
                "layer_a": np.repeat(np.array(self._layers_a, dtype=object), lb),
                "layer_b": np.tile(np.array(self._layers_b, dtype=object), la),
                "measure": np.full(la * lb, m, dtype=object),
                "value": mat.reshape(-1),
            }
            for c in extra:
                cols[c] = self._extras.get(m, {}).get(c, np.full((la, lb), np.nan)).reshape(-1)
            parts.append(pd.DataFrame(cols))
        if not parts:
            return pd.DataFrame(columns=[*_BASE_COLUMNS, *extra])
        return pd.concat(parts, ignore_index=True)

    # ------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> Path:
        """Write the result into directory ``path`` (created if needed).

        Parameters
        ----------
        path : str or pathlib.Path
            Directory to write into; existing files of the same names are replaced.

        Notes
        -----
        Files: ``result.json`` (metadata, layers, measures, and the marker
        key ``"featcorr_result"`` with the format version), one matrix CSV per
        measure (``<measure>.csv``) and ``values.csv`` (the long form of
        :meth:`to_frame`). :func:`featcorr.load` reads it back exactly.

        Returns
        -------
        pathlib.Path
            The directory written.
        """
        out = Path(path)
        if out.exists() and not out.is_dir():
            raise FeatcorrError(f"ComparisonResult.save: {str(out)!r} exists and is not a directory; pass a directory.")
        out.mkdir(parents=True, exist_ok=True)
        files = {m: _csv_name(m) for m in self._values}
        for m, fname in files.items():
            self.matrix(m).to_csv(out / fname, float_format="%.17g")
        self.to_frame().to_csv(out / "values.csv", index=False, float_format="%.17g")
        doc = {
            MARKER: FORMAT_VERSION,
            "measures": self.measures,
            "layers_a": self._layers_a,
            "layers_b": self._layers_b,
            "files": files,
            "extra_columns": {m: list(cols) for m, cols in self._extras.items()},
            "metadata": self._metadata,
        }
        (out / "result.json").write_text(json.dumps(doc, indent=2, allow_nan=True) + "\n")
        return out

    # ------------------------------------------------------------------ plot
    def plot(self, measure: str | None = None, *, annotate: bool | None = None, cmap: str = "viridis", ax: Any = None):
        """Annotated heatmap of one measure, layer names on both axes.

        Parameters
        ----------
        measure : str, optional
            Default: the first measure computed.
        annotate : bool, optional
            Write each value in its cell; default when both sides have at most 20 layers.
        cmap : str, default="viridis"
            Matplotlib colormap; values in [0, 1] use a fixed [0, 1] scale.
        ax : matplotlib Axes, optional
            Draw into this Axes instead of a new Figure.

        Returns
        -------
        matplotlib.figure.Figure
            Never shown; save it with ``fig.savefig(...)``.
        """
        from matplotlib.figure import Figure

        m = self._measure(measure, "plot")
        mat = self._values[m]
        la, lb = mat.shape
        if ax is None:
            w = min(3.0 + 0.55 * lb, 30.0)
            h = min(2.5 + 0.45 * la, 30.0)
            fig = Figure(figsize=(w, h), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        finite = mat[np.isfinite(mat)]
        vmin = vmax = None
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            vmin, vmax = 0.0, 1.0
        im = ax.imshow(mat, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(lb), labels=self._layers_b, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(la), labels=self._layers_a)
        models = self._metadata.get("models") or {}
        ax.set_xlabel(f"layers of {models.get('b') or 'B'}")
        ax.set_ylabel(f"layers of {models.get('a') or 'A'}")
        ax.set_title(m)
        fig.colorbar(im, ax=ax, label=m)
        if annotate is None:
            annotate = la <= 20 and lb <= 20
        if annotate:
            lo, hi = im.norm.vmin, im.norm.vmax
            size = 9 if max(la, lb) <= 10 else 7
            for i in range(la):
                for j in range(lb):
                    v = mat[i, j]
                    frac = 0.5 if not (math.isfinite(v) and hi > lo) else (v - lo) / (hi - lo)
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=size,
                            color="black" if frac > 0.6 else "white")
        return fig

    def __repr__(self) -> str:
        n = self._metadata.get("n_samples")
        return (
            f"ComparisonResult(measures={self.measures}, layers_a={len(self._layers_a)}, "
            f"layers_b={len(self._layers_b)}" + (f", n_samples={n}" if n is not None else "") + ")"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ComparisonResult):
            return NotImplemented
        return (
            self._layers_a == other._layers_a
            and self._layers_b == other._layers_b
            and list(self._values) == list(other._values)
            and all(np.array_equal(self._values[m], other._values[m], equal_nan=True) for m in self._values)
            and self._extras.keys() == other._extras.keys()
            and all(
                self._extras[m].keys() == other._extras[m].keys()
                and all(np.array_equal(v, other._extras[m][c], equal_nan=True) for c, v in self._extras[m].items())
                for m in self._extras
            )
            and self._metadata == other._metadata
        )

    __hash__ = None  # type: ignore[assignment]


def _csv_name(measure: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in measure)
    return f"{safe}.csv"


def load(path: str | Path) -> ComparisonResult:
    """Read a result written by :meth:`ComparisonResult.save`.

    Parameters
    ----------
    path : str or pathlib.Path
        The directory, or its ``result.json``.

    Returns
    -------
    ComparisonResult
        Equal to the saved one (values bit for bit, layers, metadata).

    Raises
    ------
    NotAResultError
        When ``path`` is not a featcorr result: missing or invalid
        ``result.json``, no ``"featcorr_result"`` marker, a newer format, or
        missing / malformed CSV files.
    """
    p = Path(path)
    d = p.parent if p.is_file() else p
    meta_file = p if p.is_file() else p / "result.json"
    hint = "pass a directory written by ComparisonResult.save() (or featcorr compare --out)."
    if not meta_file.exists():
        what = "does not exist" if not p.exists() else "has no result.json"
        raise NotAResultError(f"featcorr.load: {str(p)!r} {what}, so it is not a featcorr result; " + hint)
    try:
        doc = json.loads(meta_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAResultError(f"featcorr.load: {str(meta_file)!r} is not valid JSON ({exc}); " + hint) from None
    if not isinstance(doc, dict) or MARKER not in doc:
        raise NotAResultError(
            f"featcorr.load: {str(meta_file)!r} has no {MARKER!r} marker key, so it is not a featcorr result; " + hint
        )
    version = doc[MARKER]
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise NotAResultError(
            f"featcorr.load: {str(meta_file)!r} has format version {version!r}; this featcorr reads versions up to "
            f"{FORMAT_VERSION}. Upgrade featcorr to read it."
        )
    try:
        measures = [str(m) for m in doc["measures"]]
        layers_a = [str(x) for x in doc["layers_a"]]
        layers_b = [str(x) for x in doc["layers_b"]]
        files = dict(doc["files"])
        extra_cols = {str(m): list(c) for m, c in dict(doc.get("extra_columns", {})).items()}
        metadata = dict(doc.get("metadata", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAResultError(f"featcorr.load: {str(meta_file)!r} lacks a field ({exc!r}); " + hint) from None
    values = {}
    for m in measures:
        fname = files.get(m)
        if fname is None:
            raise NotAResultError(f"featcorr.load: result.json lists measure {m!r} but no CSV file for it; " + hint)
        values[m] = _read_matrix(d / fname, layers_a, layers_b, hint=hint)
    extras: dict[str, dict[str, np.ndarray]] = {}
    if extra_cols:
        extras = _read_extras(d / "values.csv", extra_cols, layers_a, layers_b, hint=hint)
    return ComparisonResult(values, layers_a, layers_b, metadata=metadata, extras=extras)


def _read_csv_text(path: Path, hint: str) -> list[list[str]]:
    import csv

    if not path.exists():
        raise NotAResultError(f"featcorr.load: missing file {str(path)!r}; " + hint)
    try:
        with open(path, newline="") as fh:
            return [row for row in csv.reader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NotAResultError(f"featcorr.load: could not read {str(path)!r} ({exc}); " + hint) from None


def _to_float(s: str, path: Path, hint: str) -> float:
    try:
        return float(s)
    except ValueError:
        raise NotAResultError(f"featcorr.load: {str(path)!r} holds {s!r} where a number was expected; " + hint) from None


def _read_matrix(path: Path, layers_a: list[str], layers_b: list[str], *, hint: str) -> np.ndarray:
    rows = _read_csv_text(path, hint)
    if not rows or rows[0][1:] != layers_b or [r[0] for r in rows[1:]] != layers_a:
        raise NotAResultError(
            f"featcorr.load: {str(path)!r} does not hold a {len(layers_a)} x {len(layers_b)} matrix with the layers "
            "listed in result.json; " + hint
        )
    if any(len(r) != len(layers_b) + 1 for r in rows[1:]):
        raise NotAResultError(f"featcorr.load: {str(path)!r} has rows of the wrong length; " + hint)
    return np.array([[_to_float(s, path, hint) for s in r[1:]] for r in rows[1:]], dtype=np.float64).reshape(
        len(layers_a), len(layers_b)
    )


def _read_extras(path: Path, extra_cols: dict[str, list[str]], layers_a, layers_b, *, hint: str):
    rows = _read_csv_text(path, hint)
    if not rows:
        raise NotAResultError(f"featcorr.load: {str(path)!r} is empty; " + hint)
    header = rows[0]
    if tuple(header[:4]) != _BASE_COLUMNS:
        raise NotAResultError(f"featcorr.load: {str(path)!r} does not start with columns {_BASE_COLUMNS}; " + hint)
    ia = {x: i for i, x in enumerate(layers_a)}
    ib = {x: i for i, x in enumerate(layers_b)}
    out: dict[str, dict[str, np.ndarray]] = {}
    for m, cols in extra_cols.items():
        for c in cols:
            if c not in header:
                raise NotAResultError(f"featcorr.load: {str(path)!r} lacks column {c!r}; " + hint)
            out.setdefault(m, {})[c] = np.full((len(layers_a), len(layers_b)), np.nan)
    for r in rows[1:]:
        if len(r) != len(header):
            raise NotAResultError(f"featcorr.load: {str(path)!r} has rows of the wrong length; " + hint)
        if r[2] in out:
            try:
                i, j = ia[r[0]], ib[r[1]]
            except KeyError:
                raise NotAResultError(f"featcorr.load: {str(path)!r} names a layer not in result.json; " + hint) from None
            for c in out[r[2]]:
                out[r[2]][c][i, j] = _to_float(r[header.index(c)], path, hint)
    return out
