"""load_activations: every supported format round-trips exactly; every bad file raises a clear error."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch

import featcorr as fc
from featcorr.errors import ActivationFileError, FeatcorrError
from featcorr.io import load_activations


@pytest.fixture
def acts(rng):
    return {
        "conv1": rng.normal(size=(16, 3, 4, 4)).astype(np.float32),
        "fc": rng.normal(size=(16, 7)),
        "ids": rng.integers(0, 5, size=(16, 2)),
    }


def test_npz_round_trip_keeps_names_order_values(tmp_path, acts):
    path = tmp_path / "a.npz"
    np.savez(path, **acts)
    got = load_activations(path)
    assert list(got) == ["conv1", "fc", "ids"]
    for k, v in acts.items():
        assert got[k].dtype == v.dtype
        np.testing.assert_array_equal(got[k], v)


def test_compressed_npz_and_str_path(tmp_path, acts):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, **acts)
    got = load_activations(str(path))
    np.testing.assert_array_equal(got["fc"], acts["fc"])


def test_npy_is_named_by_stem(tmp_path, acts):
    path = tmp_path / "layer4.npy"
    np.save(path, acts["fc"])
    got = load_activations(path)
    assert list(got) == ["layer4"]
    np.testing.assert_array_equal(got["layer4"], acts["fc"])


@pytest.mark.parametrize("ext", [".pt", ".pth", ".PT"])
def test_torch_dict_of_tensors(tmp_path, acts, ext):
    path = tmp_path / f"acts{ext}"
    tensors = {k: torch.from_numpy(v) for k, v in acts.items()}
    torch.save(tensors, path)
    got = load_activations(path)
    assert list(got) == list(acts)
    for k, v in acts.items():
        assert isinstance(got[k], torch.Tensor)
        np.testing.assert_array_equal(got[k].numpy(), v)


def test_torch_single_tensor_named_by_stem(tmp_path, rng):
    x = torch.from_numpy(rng.normal(size=(10, 3)))
    torch.save(x, tmp_path / "encoder.pt")
    got = load_activations(tmp_path / "encoder.pt")
    assert list(got) == ["encoder"]
    assert torch.equal(got["encoder"], x)


def test_torch_int_keys_become_strings(tmp_path):
    torch.save({0: torch.ones(4, 2), 1: torch.zeros(4, 2)}, tmp_path / "k.pt")
    assert list(load_activations(tmp_path / "k.pt")) == ["0", "1"]


def test_loaded_arrays_give_the_same_cka_as_in_memory(tmp_path, rng):
    X = rng.normal(size=(50, 6))
    Y = X @ rng.normal(size=(6, 4)) + rng.normal(size=(50, 4))
    np.savez(tmp_path / "xy.npz", x=X, y=Y)
    got = load_activations(tmp_path / "xy.npz")
    assert fc.similarity(got["x"], got["y"]) == fc.similarity(X, Y)


# ---- bad files -------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ActivationFileError, match=r"nope\.npz' does not exist; check the path"):
        load_activations(tmp_path / "nope.npz")


def test_directory(tmp_path):
    with pytest.raises(ActivationFileError, match="is a directory; pass one activation file"):
        load_activations(tmp_path)


@pytest.mark.parametrize("name, shown", [("a.csv", "'.csv'"), ("a.h5", "'.h5'"), ("noext", "'(no extension)'")])
def test_unknown_extension(tmp_path, name, shown):
    path = tmp_path / name
    path.write_text("1,2,3\n")
    with pytest.raises(ActivationFileError, match=rf"unknown file type {re.escape(shown)}.*\.npz.*\.npy.*\.pt"):
        load_activations(path)


@pytest.mark.parametrize("ext", [".npz", ".npy", ".pt", ".pth"])
def test_empty_file(tmp_path, ext):
    path = tmp_path / f"e{ext}"
    path.write_bytes(b"")
    with pytest.raises(ActivationFileError, match=r"is empty \(0 bytes\)"):
        load_activations(path)


@pytest.mark.parametrize("ext, kind", [(".npz", ".npz"), (".npy", ".npy"), (".pt", ".pt"), (".pth", ".pt")])
def test_garbage_file_is_reported_corrupt(tmp_path, ext, kind):
    path = tmp_path / f"g{ext}"
    path.write_bytes(b"this is not an array file at all\n" * 10)
    with pytest.raises(ActivationFileError, match=rf"could not read .* as a {kind} file .*corrupt, truncated"):
        load_activations(path)


def test_truncated_npz(tmp_path, acts):
    path = tmp_path / "t.npz"
    np.savez(path, **acts)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ActivationFileError, match="could not read .* as a .npz file"):
        load_activations(path)


def test_truncated_npy(tmp_path, acts):
    path = tmp_path / "t.npy"
    np.save(path, acts["fc"])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ActivationFileError, match="could not read .* as a .npy file"):
        load_activations(path)


def test_truncated_pt(tmp_path, acts):
    path = tmp_path / "t.pt"
    torch.save({k: torch.from_numpy(v) for k, v in acts.items()}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ActivationFileError, match="could not read .* as a .pt file"):
        load_activations(path)


def test_npz_with_no_arrays(tmp_path):
    path = tmp_path / "none.npz"
    np.savez(path)
    with pytest.raises(ActivationFileError, match="holds no arrays"):
        load_activations(path)


def test_empty_dict_pt(tmp_path):
    torch.save({}, tmp_path / "none.pt")
    with pytest.raises(ActivationFileError, match="holds no arrays"):
        load_activations(tmp_path / "none.pt")


def test_npz_string_array_is_named(tmp_path, acts):
    np.savez(tmp_path / "s.npz", fc=acts["fc"], labels=np.array(["cat", "dog"] * 8))
    with pytest.raises(ActivationFileError, match=r"array 'labels' .* dtype <U3, which is not real numeric"):
        load_activations(tmp_path / "s.npz")


def test_npz_object_array_is_named_and_never_unpickled(tmp_path, acts):
    np.savez(tmp_path / "o.npz", fc=acts["fc"], meta=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ActivationFileError, match=r"array 'meta' .* holds Python objects \(dtype=object\)"):
        load_activations(tmp_path / "o.npz")


def test_npy_object_array(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    with pytest.raises(ActivationFileError, match=r"array 'obj' .* holds Python objects"):
        load_activations(tmp_path / "obj.npy")


def test_complex_array(tmp_path):
    np.save(tmp_path / "z.npy", np.ones((4, 2), dtype=complex))
    with pytest.raises(ActivationFileError, match=r"array 'z' .* dtype complex128, which is not real numeric"):
        load_activations(tmp_path / "z.npy")


def test_complex_tensor(tmp_path):
    torch.save({"ok": torch.ones(4, 2), "spec": torch.ones(4, 2, dtype=torch.complex64)}, tmp_path / "c.pt")
    with pytest.raises(ActivationFileError, match=r"array 'spec' .* dtype complex64"):
        load_activations(tmp_path / "c.pt")


def test_zero_size_array_is_named(tmp_path):
    np.savez(tmp_path / "z.npz", ok=np.ones((3, 2)), hollow=np.ones((0, 5)))
    with pytest.raises(ActivationFileError, match=r"array 'hollow' .* is empty \(shape \(0, 5\)\)"):
        load_activations(tmp_path / "z.npz")


def test_pt_with_non_tensor_entry(tmp_path):
    torch.save({"fc": torch.ones(4, 2), "epoch": 3}, tmp_path / "m.pt")
    with pytest.raises(ActivationFileError, match=r"entry 'epoch' .* is a int, not a tensor"):
        load_activations(tmp_path / "m.pt")


def test_pt_with_list(tmp_path):
    torch.save([torch.ones(4, 2)], tmp_path / "l.pt")
    with pytest.raises(ActivationFileError, match=r"holds a list; expected a tensor or a dict"):
        load_activations(tmp_path / "l.pt")


class _Payload:
    def __reduce__(self):  # would run code under a plain pickle.load
        return (print, ("pwned",))


def test_pt_with_arbitrary_objects_is_refused(tmp_path, capsys):
    torch.save({"x": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ActivationFileError, match=r"weights_only=True\) refuses"):
        load_activations(tmp_path / "evil.pt")
    assert "pwned" not in capsys.readouterr().out


def test_npz_that_is_really_npy(tmp_path, acts):
    with open(tmp_path / "fake.npz", "wb") as fh:
        np.save(fh, acts["fc"])
    with pytest.raises(ActivationFileError, match="holds a single .npy array, not an .npz archive"):
        load_activations(tmp_path / "fake.npz")


def test_npy_that_is_really_npz(tmp_path, acts):
    with open(tmp_path / "fake.npy", "wb") as fh:
        np.savez(fh, **acts)
    with pytest.raises(ActivationFileError, match="is an .npz archive, not a single .npy array"):
        load_activations(tmp_path / "fake.npy")


def test_pickle_named_npy_is_refused(tmp_path):
    (tmp_path / "p.npy").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ActivationFileError, match="could not read .* as a .npy file"):
        load_activations(tmp_path / "p.npy")


def test_errors_are_featcorr_and_value_errors(tmp_path):
    with pytest.raises(FeatcorrError):
        load_activations(tmp_path / "missing.npy")
    with pytest.raises(ValueError):
        load_activations(tmp_path / "missing.npy")
