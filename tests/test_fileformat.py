import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_tensors

from inrcli import fileformat
from inrcli.fileformat import FORMAT_VERSION
from inrcli.errors import InrFileError


def rewrite(data: bytes, edit_meta=None, edit_tensors=None) -> bytes:
    """A copy of an INR file with its metadata and/or tensors changed."""
    from safetensors.torch import load

    header, meta = fileformat.read_header(data)
    tensors = load(data)
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    return save_tensors(tensors, metadata=meta)


def test_round_trip_keeps_weights_and_metadata(encoded_tiny: Path):
    inr = fileformat.load(encoded_tiny)
    again = fileformat.from_bytes(fileformat.to_bytes(inr))
    for (name, a), (_, b) in zip(inr.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert again.signal == inr.signal and again.training == inr.training and again.modality == "image"


def test_serialisation_is_deterministic(encoded_tiny: Path):
    inr = fileformat.load(encoded_tiny)
    assert fileformat.to_bytes(inr) == fileformat.to_bytes(inr) == encoded_tiny.read_bytes()


def test_float16_storage(encoded_tiny: Path):
    inr = fileformat.load(encoded_tiny)
    inr.dtype = "float16"
    data = fileformat.to_bytes(inr)
    assert len(data) < 0.6 * encoded_tiny.stat().st_size
    again = fileformat.from_bytes(data)
    assert again.dtype == "float16"


def _edit_json(key: str, change: dict):
    return lambda m: m.update({key: json.dumps(json.loads(m[key]) | change)})


def mutations():
    yield "not inr", lambda m: m.pop("inr.version"), None
    yield "future major version", lambda m: m.update({"inr.version": "%d.0" % (FORMAT_VERSION[0] + 1)}), None
    yield "version not major.minor", lambda m: m.update({"inr.version": "2"}), None
    yield "missing model", lambda m: m.pop("inr.model"), None
    yield "model not json", lambda m: m.update({"inr.model": "{"}), None
    yield "unknown arch", lambda m: m.update({"inr.arch": "nerf"}), None
    yield "unknown kind", lambda m: m.update({"inr.kind": "smell"}), None
    yield "huge width", _edit_json("inr.model", {"local_width": 10 ** 9}), None
    yield "wrong width", _edit_json("inr.model", {"local_width": 5}), None
    yield "width as string", _edit_json("inr.model", {"local_width": "8"}), None
    yield "unknown model field", _edit_json("inr.model", {"hash_levels": 16}), None
    yield "kept out of range", lambda m: m.update({"inr.model": json.dumps(_kept(json.loads(m["inr.model"]),
                                                                                 [[0, 9], [0, 4]]))}), None
    yield "window mismatch", _edit_json("inr.signal", {"window": [[0, 10], [0, 24]]}), None
    yield "channels mismatch", _edit_json("inr.signal", {"channels": 4}), None
    yield "dtype claim", lambda m: m.update({"inr.dtype": "float16"}), None
    yield "nan weight", None, lambda t: t["out_bias"].__setitem__((0, 0), float("nan"))
    yield "missing tensor", None, lambda t: t.pop("merge.linear.bias")
    yield "extra tensor", None, lambda t: t.update(extra=torch.zeros(1))
    yield "wrong shape", None, lambda t: t.update(out_bias=torch.zeros(3, 3))


def _kept(model: dict, kept) -> dict:
    model["partitioning"]["kept"] = kept
    return model


@pytest.mark.parametrize("name, edit_meta, edit_tensors", list(mutations()), ids=[m[0] for m in mutations()])
def test_invalid_files_are_refused_with_inr_file_error(encoded_tiny: Path, name, edit_meta, edit_tensors):
    data = rewrite(encoded_tiny.read_bytes(), edit_meta, edit_tensors)
    with pytest.raises(InrFileError):
        fileformat.from_bytes(data)


@pytest.mark.parametrize("cut", [0, 4, 8, 50, -10])
def test_truncated_files_are_refused(encoded_tiny: Path, cut: int):
    data = encoded_tiny.read_bytes()
    with pytest.raises(InrFileError):
        fileformat.from_bytes(data[:cut])


def test_header_length_larger_than_the_file_is_refused(encoded_tiny: Path):
    data = bytearray(encoded_tiny.read_bytes())
    data[:8] = struct.pack("<Q", 1 << 40)
    with pytest.raises(InrFileError, match="header length"):
        fileformat.from_bytes(bytes(data))


def test_non_json_header_is_refused():
    body = b"\xff" * 20
    with pytest.raises(InrFileError, match="JSON"):
        fileformat.from_bytes(struct.pack("<Q", len(body)) + body)


def test_files_use_namespaced_keys_and_a_major_minor_version(encoded_tiny: Path):
    _, meta = fileformat.read_header(encoded_tiny.read_bytes())
    assert meta["inr.version"] == "2.0" and meta["inr.kind"] == "image"
    assert all(key.startswith("inr.") for key in meta)  # nothing that other tools read as their own


def test_a_later_minor_version_adds_keys_and_aux_tensors_that_are_ignored(encoded_tiny: Path):
    """What a minor version may add; an older reader still decodes the file exactly."""
    def newer(meta):
        meta.update({"inr.version": "2.7", "inr.thumbnail": "…", "format": "pt"})

    data = rewrite(encoded_tiny.read_bytes(), newer, lambda t: t.update({"aux.preview": torch.zeros(4, 4)}))
    inr, original = fileformat.from_bytes(data), fileformat.load(encoded_tiny)
    for (name, a), (_, b) in zip(inr.model.state_dict().items(), original.model.state_dict().items()):
        assert torch.equal(a, b), name


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("path", sorted((FIXTURES / "v1").glob("*.safetensors")), ids=lambda p: p.stem)
def test_version_1_files_are_read_forever(path: Path):
    """Files written by inrcli before format 2 (tests/fixtures/v1/README.md): they load, and
    decode as the reference decoder (written from docs/FORMAT.md) says."""
    import importlib.util

    import numpy as np

    from inrcli import api

    _, meta = fileformat.read_header(path.read_bytes())
    assert meta["format"] == "inr" and meta["version"] == "1"
    inr = fileformat.load(path)
    spec = importlib.util.spec_from_file_location("ref", Path(__file__).parents[1] / "docs" / "reference_decoder.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    # a coarser grid for the shape (128³ stored): the numpy reference takes 13 s over the whole
    # grid; 40³ samples still go through every tensor of the file
    grid = (40, 40, 40) if inr.modality == "shape" else None
    expected = reference.decode(str(path), grid)
    decoded = api.decode(inr, grid).values
    if inr.modality in ("image", "video"):
        peak = 2 ** inr.signal.info.get("bit_depth", 8) - 1
        difference = np.abs(np.rint(np.clip(decoded, 0, 1) * peak) - expected.astype(np.float64))
        assert difference.max() <= 1
    elif inr.modality == "volume":
        assert np.abs(decoded.reshape(expected.shape) - expected.astype(np.float64)).max() <= 1.0
    else:
        assert np.abs(decoded.reshape(expected.shape) - expected).max() <= 1e-4


def test_a_file_that_would_not_load_is_never_written(encoded_tiny: Path, tmp_path: Path):
    """save() loads its own bytes back through the validating loader before writing them."""
    inr = fileformat.load(encoded_tiny)
    with torch.no_grad():
        inr.model.out_bias[0, 0] = 2e4  # past the loader's bound on weights (|w| ≤ 1e4)
    with pytest.raises(fileformat.InrError, match="would not load again.*implausible values"):
        fileformat.save(inr, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()
