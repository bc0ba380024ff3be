"""Property-based attack on the file loader: mutated, truncated and spliced INR files of every
modality either load into a model that decodes, or fail with the project's own error."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from inrcli import api, fileformat
from inrcli.errors import InrError, InrFileError
from inrcli.signals import read_signal, shape
from tests.conftest import synthetic_image

# The suite runs a short version; INR_FUZZ_EXAMPLES=20000 runs a long one.
MAX_EXAMPLES = int(os.environ.get("INR_FUZZ_EXAMPLES", "150"))


def _encode(signal, **options):
    """A file of float weights unless ``bits`` says otherwise (the kinds' default is coded)."""
    return fileformat.to_bytes(api.encode(signal, api.EncodeOptions(**{"steps": 2, "bits": 32, **options})))


def _encode_set(members, conditioning: str = "latent") -> bytes:
    from inrcli import collection

    inr = collection.encode_set(["a", "b", "c"], members, api.EncodeOptions(steps=2, params=600),
                                collection.SetOptions(code_dim=4 if conditioning == "latent" else 2, conditioning=conditioning))
    return fileformat.to_bytes(inr)


@functools.cache
def valid_files() -> dict[str, bytes]:
    """One small valid file per modality (and a siren one), made once per test run."""
    import imageio.v3 as iio

    folder = Path(tempfile.mkdtemp(prefix="inr-fuzz-"))

    iio.imwrite(folder / "i.png", synthetic_image(12, 10))
    soundfile.write(folder / "a.wav", np.sin(np.arange(400) / 5).astype(np.float32), 8000)
    frames = folder / "frames"
    frames.mkdir()
    for k in range(3):
        iio.imwrite(frames / f"{k}.png", synthetic_image(8, 8, seed=k))
    trimesh.creation.icosphere(subdivisions=1).export(folder / "s.obj")
    sphere = trimesh.creation.icosphere(subdivisions=1)
    np.savez(folder / "g.npz", points=sphere.vertices, faces=sphere.faces, target=sphere.vertices[:, :1])
    z, y, x = np.mgrid[0:6, 0:5, 0:4]
    np.save(folder / "v.npy", np.sin(z + y / 2 + x / 3).astype(np.float32))
    saved = shape.RESOLUTION, shape.POOL_POINTS
    shape.RESOLUTION, shape.POOL_POINTS = 8, 2000
    try:
        return {
            "image": _encode(read_signal(str(folder / "i.png")), model_options={"partitions": (2, 2)}, params=3000),
            "image-siren": _encode(read_signal(str(folder / "i.png")), arch="siren", params=1000),
            "audio": _encode(read_signal(str(folder / "a.wav")), model_options={"partitions": (2,)}, params=2000),
            "video": _encode(read_signal(str(frames)), model_options={"partitions": (1, 2, 2)}, params=4000),
            "shape": _encode(read_signal(str(folder / "s.obj")), model_options={"partitions": (2, 2, 2)}, params=6000),
            "graph": _encode(read_signal(str(folder / "g.npz")), kind_options={"k": 4}, params=500),
            # quantised, entropy-coded files (format 4): one per kind, several widths
            "image-q8": _encode(read_signal(str(folder / "i.png")), model_options={"partitions": (2, 2)}, params=3000,
                                bits=8),
            "siren-q12": _encode(read_signal(str(folder / "i.png")), arch="siren", params=1000, bits=12),
            "audio-q4": _encode(read_signal(str(folder / "a.wav")), model_options={"partitions": (2,)}, params=2000,
                                bits=4),
            # format 5: at 12 bits the global first layer (12 + 2 shared + 4 first-layer) is stored as float32
            "audio-q12": _encode(read_signal(str(folder / "a.wav")), model_options={"partitions": (2,)}, params=2000,
                                 bits=12),
            "video-q6": _encode(read_signal(str(frames)), model_options={"partitions": (1, 2, 2)}, params=4000, bits=6),
            "shape-q8": _encode(read_signal(str(folder / "s.obj")), model_options={"partitions": (2, 2, 2)},
                                params=6000, bits=8),
            "volume-q8": _encode(read_signal(str(folder / "v.npy")), model_options={"partitions": (2, 1, 2)},
                                 params=3000, bits=8),
            "graph-q6": _encode(read_signal(str(folder / "g.npz")), kind_options={"k": 4}, params=500, bits=6),
            "set": _encode_set([read_signal(str(frames / f"{k}.png")) for k in range(3)]),
            "set-spatial": _encode_set([read_signal(str(frames / f"{k}.png")) for k in range(3)], "spatial"),
        }
    finally:
        shape.RESOLUTION, shape.POOL_POINTS = saved


def load_and_decode(data: bytes) -> None:
    """Either a clean refusal or a model that decodes; anything else fails the test."""
    try:
        inr = fileformat.from_bytes(data)
    except InrFileError:
        return
    if inr.modality == "graph":
        decoded = api.decode(inr)
    else:
        small = tuple(min(n, 6) for n in inr.signal.shape)
        decoded = api.decode(inr, small)
    assert np.all(np.isfinite(decoded.values))


mutation = st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255))


@pytest.mark.parametrize("kind", ["image", "image-siren", "audio", "video", "shape", "graph", "image-q8", "siren-q12",
                                  "graph-q6", "audio-q12", "set", "set-spatial"])
@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(data=st.data())
def test_mutated_files_fail_cleanly_or_decode(kind, data):
    files = valid_files()
    original = bytearray(files[kind])
    action = data.draw(st.sampled_from(["flip", "truncate", "splice", "header"]))
    if action == "flip":
        for position, value in data.draw(st.lists(mutation, min_size=1, max_size=8)):
            original[position % len(original)] = value
    elif action == "truncate":
        original = original[: data.draw(st.integers(0, len(original) - 1))]
    elif action == "splice":
        other = files[data.draw(st.sampled_from(sorted(files)))]
        cut = data.draw(st.integers(0, min(len(original), len(other))))
        original = original[:cut] + other[cut:]
    else:  # change bytes inside the JSON header, where the metadata lives
        length = int.from_bytes(original[:8], "little")
        for position, value in data.draw(st.lists(mutation, min_size=1, max_size=4)):
            original[8 + position % length] = value
    try:
        load_and_decode(bytes(original))
    except InrError as exc:  # a usage-level refusal (e.g. an oversized decode) is fine too
        assert str(exc)


def test_coded_bytes_without_a_shape_are_refused_not_crashed():
    """A coded file whose ``coded.local`` entry lost its "shape" key (a flipped header byte the
    fuzzer once found: the check then formatted the missing shape and raised TypeError)."""
    data = bytearray(valid_files()["image-q8"])
    length = int.from_bytes(data[:8], "little")
    header = data[8:8 + length]
    at = header.index(b'"shape"', header.index(b'"coded.local"'))
    data[8 + at + 1] = ord(" ")  # "shape" -> " hape": same length, valid JSON
    with pytest.raises(InrFileError, match="coded.local"):
        fileformat.from_bytes(bytes(data))


@functools.cache
def valid_checkpoint() -> tuple[bytes, str, api.EncodeOptions]:
    """A checkpoint of a tiny image encode, its fingerprint and the options that made it."""
    import imageio.v3 as iio

    folder = Path(tempfile.mkdtemp(prefix="inr-fuzz-ckpt-"))
    iio.imwrite(folder / "i.png", synthetic_image(12, 10))
    options = api.EncodeOptions(steps=4, model_options={"partitions": (2, 2)}, params=3000, checkpoint=str(folder / "ck"),
                                checkpoint_every=0)
    signal = read_signal(str(folder / "i.png"))

    def stop(info):
        if info.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.encode(signal, options, on_step=stop)
    return (folder / "ck").read_bytes(), str(folder / "i.png"), options


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(data=st.data())
def test_mutated_checkpoints_fail_cleanly_or_resume(data, tmp_path_factory):
    original, image, options = valid_checkpoint()
    damaged = bytearray(original)
    if data.draw(st.booleans()):
        for position, value in data.draw(st.lists(mutation, min_size=1, max_size=8)):
            damaged[position % len(damaged)] = value
    else:
        damaged = damaged[: data.draw(st.integers(0, len(damaged) - 1))]
    path = tmp_path_factory.mktemp("ck") / "ck"
    path.write_bytes(bytes(damaged))
    try:
        inr = api.encode(read_signal(image), api.EncodeOptions(**{**options.__dict__, "checkpoint": str(path)}))
    except InrFileError:
        return
    except InrError as exc:  # a coded file's grids are fitted at the end of encode: divergence shows there
        assert "diverged" in str(exc)
        return
    try:  # a plausible but odd state may still make training diverge: saving says so cleanly
        fileformat.to_bytes(inr)
    except InrError as exc:
        assert "diverged" in str(exc)
