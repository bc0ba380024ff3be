import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_tensors

from inrcli import fileformat
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


def mutations():
    yield "not inr", lambda m: m.update(format="other"), None
    yield "future version", lambda m: m.update(version="99"), None
    yield "missing model", lambda m: m.pop("model"), None
    yield "model not json", lambda m: m.update(model="{"), None
    yield "unknown arch", lambda m: m.update(arch="nerf"), None
    yield "unknown modality", lambda m: m.update(modality="smell"), None
    yield "huge width", lambda m: m.update(model=json.dumps(json.loads(m["model"]) | {"local_width": 10 ** 9})), None
    yield "wrong width", lambda m: m.update(model=json.dumps(json.loads(m["model"]) | {"local_width": 5})), None
    yield "width as string", lambda m: m.update(model=json.dumps(json.loads(m["model"]) | {"local_width": "8"})), None
    yield "kept out of range", lambda m: m.update(model=json.dumps(_kept(json.loads(m["model"]), [[0, 9], [0, 4]]))), None
    yield "window mismatch", lambda m: m.update(signal=json.dumps(json.loads(m["signal"]) | {"window": [[0, 10], [0, 24]]})), None
    yield "channels mismatch", lambda m: m.update(signal=json.dumps(json.loads(m["signal"]) | {"channels": 4})), None
    yield "dtype claim", lambda m: m.update(dtype="float16"), None
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
