"""Quantised, entropy-coded files (issue 14): every kind round-trips, crops keep exact bytes and
pixels, the same seed gives the same bytes, and a coded file that lies is refused cleanly."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from inrcli import api, coded, entropy, fileformat
from inrcli.errors import InrFileError
from inrcli.quantize import Grid, round_to_own_grids, tensor_bits
from inrcli.signals import read_signal
from tests.conftest import invoke, synthetic_image
from tests.test_fuzz import valid_files


def _coded(kind: str) -> bytes:
    return valid_files()[kind]


@pytest.mark.parametrize("kind", ["image-q8", "siren-q12", "audio-q4", "video-q6", "shape-q8", "volume-q8",
                                  "graph-q6"])
def test_every_kind_round_trips_through_coded_storage(kind: str):
    data = _coded(kind)
    inr = fileformat.from_bytes(data)
    assert fileformat.read_header(data)[1]["inr.version"] == "4.0"
    assert inr.coding is not None and inr.bits == int(kind.split("-q")[1])
    assert fileformat.to_bytes(inr) == data  # re-quantising the decoded weights gives the same integers
    for name, tensor in inr.model.state_dict().items():  # every weight lies on its tensor's grid
        grid, values = inr.coding.grids[name], tensor.numpy()
        assert np.array_equal(grid.round(values), values), name
    assert np.all(np.isfinite(api.decode(inr, None if inr.modality == "graph" else
                                         tuple(min(n, 6) for n in inr.signal.shape)).values))


def test_a_coded_crop_keeps_its_partitions_bytes_and_decodes_to_the_region(runner, tmp_path: Path):
    iio.imwrite(tmp_path / "odd.png", synthetic_image(37, 29))
    model, cropped = tmp_path / "odd.safetensors", tmp_path / "crop.safetensors"
    assert invoke(runner, "encode", tmp_path / "odd.png", "-o", model, "--partitions", "5,4", "--params", "6000",
                  "--steps", "20", "--bits", "6", "-q").exit_code == 0
    assert invoke(runner, "crop", model, "--region", "1:4,2:4", "-o", cropped, "-q").exit_code == 0
    full, part = fileformat.load(model), fileformat.load(cropped)
    (r0, r1), (c0, c1) = part.signal.window
    assert np.array_equal(api.decode(full).values[r0:r1, c0:c1], api.decode(part).values)
    whole, kept = load_arrays(model.read_bytes()), load_arrays(cropped.read_bytes())
    lengths = whole[coded.LOCAL_BYTES]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    slots = [row * 4 + col for row in range(1, 4) for col in range(2, 4)]
    chunks = [whole[coded.LOCAL][starts[s]:starts[s + 1]].tobytes() for s in slots]
    assert kept[coded.LOCAL].tobytes() == b"".join(chunks)  # exactly the kept partitions' bytes
    assert kept[coded.LOCAL_BYTES].tolist() == lengths[slots].tolist()
    for name in (coded.SHARED, coded.PRIOR):
        assert np.array_equal(kept[name], whole[name])
    assert np.array_equal(api.decode(api.crop(part, "2:3,3:4")).values, api.decode(api.crop(full, "2:3,3:4")).values)


def test_same_seed_and_steps_give_the_same_coded_bytes(tmp_path: Path):
    iio.imwrite(tmp_path / "i.png", synthetic_image(12, 10))
    signal = read_signal(str(tmp_path / "i.png"))
    options = dict(steps=6, params=3000, bits=8, model_options={"partitions": (2, 2)})  # the last steps round
    first = fileformat.to_bytes(api.encode(signal, api.EncodeOptions(**options)))
    assert fileformat.to_bytes(api.encode(signal, api.EncodeOptions(**options))) == first


def test_the_default_is_coded_at_the_kinds_width_and_bits_32_is_the_float_file(runner, image_file: Path,
                                                                               tmp_path: Path):
    common = ["--steps", "3", "--params", "20000", "-q"]
    default_bits = api.kind_of("image").default_bits
    files = {name: tmp_path / f"{name}.safetensors" for name in ("plain", "coded", "float", "half")}
    for name, flags in (("plain", []), ("coded", ["--bits", str(default_bits)]), ("float", ["--bits", "32"]),
                        ("half", ["--dtype", "float16"])):
        assert invoke(runner, "encode", image_file, "-o", files[name], *flags, *common).exit_code == 0, name
    assert files["plain"].read_bytes() == files["coded"].read_bytes()
    assert fileformat.load(files["plain"]).bits == default_bits < 32
    assert fileformat.load(files["float"]).coding is None and fileformat.load(files["float"]).dtype == "float32"
    assert fileformat.load(files["half"]).coding is None and fileformat.load(files["half"]).dtype == "float16"
    assert files["plain"].stat().st_size < files["float"].stat().st_size / 2
    for flags in (["--bits", "1"], ["--bits", "17"], ["--bits", "8", "--dtype", "float16"]):
        result = invoke(runner, "encode", image_file, "-o", tmp_path / "c.safetensors", *flags, *common)
        assert result.exit_code == 2, flags


def test_info_and_encode_json_report_bytes_and_bits_per_sample(runner, image_file: Path, tmp_path: Path):
    out = tmp_path / "q.safetensors"
    result = invoke(runner, "encode", image_file, "-o", out, "--steps", "3", "--params", "2000", "--bits", "6",
                    "--json", "-q")
    summary = json.loads(result.stdout)
    size = out.stat().st_size
    assert summary["bytes"] == size and summary["bits"] == 6 and summary["bpp"] == round(8 * size / (20 * 24), 6)
    info = json.loads(invoke(runner, "info", out, "--json").stdout)
    assert info["file_bytes"] == size and info["bits"] == 6 and info["bpp"] == summary["bpp"]
    assert "6-bit coded" in invoke(runner, "info", out).stdout


def _rewrite(data: bytes, edit_arrays=None, edit_meta=None) -> bytes:
    meta = fileformat.read_header(data)[1]
    arrays = load_arrays(data)
    if edit_arrays:
        edit_arrays(arrays)
    if edit_meta:
        edit_meta(meta)
    return save_arrays(arrays, metadata=meta)


def _shift_lengths(arrays):
    lengths = arrays[coded.LOCAL_BYTES].copy()
    lengths[0] += 4
    lengths[1] -= 4
    arrays[coded.LOCAL_BYTES] = lengths


def _coding_edit(change):
    def edit(meta):
        coding = json.loads(meta["inr.coding"])
        change(coding)
        meta["inr.coding"] = json.dumps(coding)
    return edit


LIES = {
    "chunk lengths shifted": (_shift_lengths, None),
    "lengths past the data": (lambda a: a.update({coded.LOCAL_BYTES: a[coded.LOCAL_BYTES] * 2}), None),
    "negative length": (lambda a: a.update({coded.LOCAL_BYTES: -a[coded.LOCAL_BYTES]}), None),
    "bytes appended to a chunk": (lambda a: a.update({coded.SHARED: np.concatenate([a[coded.SHARED],
                                                                                    np.ones(4, np.uint8)])}), None),
    "not whole words": (lambda a: a.update({coded.SHARED: a[coded.SHARED][:-1]}), None),
    "trailing zero word": (lambda a: a.update({coded.SHARED: np.concatenate([a[coded.SHARED],
                                                                             np.zeros(4, np.uint8)])}), None),
    "empty histograms": (lambda a: a.update({coded.PRIOR: np.zeros_like(a[coded.PRIOR])}), None),
    "histogram of the wrong length": (lambda a: a.update({coded.PRIOR: a[coded.PRIOR][:-1]}), None),
    "17 bits": (None, _coding_edit(lambda c: c.update(bits=17))),
    "unknown coder": (None, _coding_edit(lambda c: c.update(coder="zip"))),
    "negative step": (None, _coding_edit(lambda c: c["tensors"][0].__setitem__(3, -0.5))),
    "huge offset": (None, _coding_edit(lambda c: c["tensors"][0].__setitem__(2, 1e9))),
    "a tensor of 17 bits": (None, _coding_edit(lambda c: c["tensors"][0].__setitem__(1, 17))),
    "a tensor of more bits than its histogram": (None, _coding_edit(lambda c: c["tensors"][0].__setitem__(1, 2))),
    "a tensor missing": (None, _coding_edit(lambda c: c["tensors"].pop())),
    "a tensor twice": (None, _coding_edit(lambda c: c["tensors"].append(c["tensors"][0]))),
}


@pytest.mark.parametrize("name", sorted(LIES))
def test_coded_files_that_lie_are_refused(name: str):
    edit_arrays, edit_meta = LIES[name]
    with pytest.raises(InrFileError):
        fileformat.from_bytes(_rewrite(_coded("image-q8"), edit_arrays, edit_meta))


def test_a_header_claiming_a_huge_model_is_refused_before_decoding(monkeypatch):
    """A few coded bytes could decode into any number of weights (rANS decodes past its end):
    the claim is weighed against the bytes before anything is allocated."""
    data = _coded("image-q8")
    grow = lambda meta: meta.update({"inr.model": json.dumps(json.loads(meta["inr.model"]) | {"local_width": 4000})})
    monkeypatch.setattr(coded.Coding, "unpack", lambda *a: pytest.fail("decoded a hostile claim"))
    with pytest.raises(InrFileError, match="claims"):
        fileformat.from_bytes(_rewrite(data, None, grow))


def test_a_bad_coded_file_is_one_error_line(runner, tmp_path: Path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_rewrite(_coded("image-q8"), _shift_lengths))
    result = invoke(runner, "decode", path, "-o", tmp_path / "x.png")
    assert result.exit_code == 1
    assert result.stderr.startswith("inr: error: ") and result.stderr.count("\n") == 1


def test_the_fixed_point_prior_is_what_constriction_codes_with():
    """The CDF docs/FORMAT.md and the viewer compute decodes constriction's bytes: decode them
    here by hand with it (the rANS steps of FORMAT.md) and compare."""
    counts = np.array([0, 3, 60000, 7, 1, 0, 0, 2], dtype=np.int64)
    rng = np.random.default_rng(0)
    symbols = rng.choice(8, 500, p=(counts + 0.01) / (counts + 0.01).sum())
    data = entropy.encode([(symbols, counts)])
    cdf = entropy.fixed_point_cdf(counts)
    words = list(struct.unpack(f"<{len(data) // 4}I", data))
    state = words.pop()
    while words and state < 1 << 32:
        state = (state << 32) | words.pop()
    decoded = []
    for _ in symbols:
        quantile = state & ((1 << 24) - 1)
        s = int(np.searchsorted(cdf, quantile, side="right") - 1)
        state = (state >> 24) * int(cdf[s + 1] - cdf[s]) + quantile - int(cdf[s])
        if state < 1 << 32 and words:
            state = (state << 32) | words.pop()
        decoded.append(s)
    assert decoded == symbols.tolist() and state == 0 and not words


def test_a_grid_dequantises_the_same_in_float64_as_it_quantises():
    values = np.random.default_rng(1).normal(0, 0.3, 1000).astype(np.float32)
    grid = Grid.fit(values, 8)
    q = grid.quantise(values)
    assert q.min() == 0 and q.max() == 255
    assert np.array_equal(grid.quantise(grid.dequantise(q)), q)
    assert np.abs(grid.dequantise(q) - values).max() <= grid.step * 0.5001


def test_rounding_many_members_at_once_gives_each_its_own_grids_bits():
    """An ensemble's members are rounded together: each must get exactly what its own file's grid gives."""
    rng = np.random.default_rng(2)
    members = rng.normal(0, 0.3, (5, 7, 3)).astype(np.float32) * rng.uniform(0.01, 3, (5, 1, 1)).astype(np.float32)
    members[3] = 0.25  # a constant member: Grid.fit's fallback step
    for bits in (2, 9, 16):
        together = round_to_own_grids(members, bits)
        for member, values in zip(together, members):
            assert np.array_equal(member, Grid.fit(values, bits).round(values)), bits


@pytest.mark.parametrize("flags, limit", [(["--max-bytes", "5000"], 5000), (["--bpp", "80"], 80 * 20 * 24 // 8),
                                          (["--max-bytes", "9000", "--bits", "32"], 9000)])
def test_a_size_target_chooses_the_network_and_the_file_fits(runner, image_file: Path, tmp_path: Path, flags, limit):
    out = tmp_path / "sized.safetensors"
    result = invoke(runner, "encode", image_file, "-o", out, "--steps", "3", "--json", "-q", *flags)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["bytes"] == out.stat().st_size <= limit
    # 8 bits unless the estimate of what coding saves was too hopeful (3 steps leave weights near
    # their uniform initialisation, which codes worst): then a bit less, never a larger file
    assert summary["bits"] in ((32,) if "32" in flags else (7, 8))
    assert summary["params"] > 0.5 * 8 * (limit - 3500) / summary["bits"]


@pytest.mark.parametrize("flags", [["--max-bytes", "1000"], ["--bpp", "0"], ["--bpp", "2", "--max-bytes", "900"],
                                   ["--bpp", "50", "--params", "3000"]])
def test_impossible_or_conflicting_size_targets_are_usage_errors(runner, image_file: Path, tmp_path: Path, flags):
    result = invoke(runner, "encode", image_file, "-o", tmp_path / "x.safetensors", "--steps", "2", *flags)
    assert result.exit_code == 2 and result.stderr.startswith("inr: error: "), result.stderr


def test_a_target_the_estimate_misses_is_met_with_fewer_bits(monkeypatch, tmp_path: Path):
    """The estimate sizes the network; the file itself decides: too large, fewer bits."""
    from inrcli import sizing

    iio.imwrite(tmp_path / "i.png", synthetic_image(20, 24))
    monkeypatch.setattr(sizing, "HEADER_BYTES", 0)  # an estimate that leaves no room for the header
    inr = api.encode(read_signal(str(tmp_path / "i.png")), api.EncodeOptions(steps=2, max_bytes=7000))
    assert inr.bits < 8 and len(fileformat.to_bytes(inr)) <= 7000


def test_extending_a_coded_file_keeps_its_grids_and_the_old_partitions_bytes(runner, tmp_path: Path):
    big = synthetic_image(24, 32)
    iio.imwrite(tmp_path / "big.png", big)
    iio.imwrite(tmp_path / "left.png", big[:, :16])
    left, grown, back = (tmp_path / f"{n}.safetensors" for n in ("left", "grown", "back"))
    assert invoke(runner, "encode", tmp_path / "left.png", "-o", left, "--bits", "6", "--steps", "10",
                  "--partitions", "3,2", "--params", "3000", "-q").exit_code == 0
    assert invoke(runner, "extend", left, tmp_path / "big.png", "--at", "0,0", "-o", grown, "--steps", "5",
                  "-q").exit_code == 0
    assert fileformat.load(grown).bits == 6
    assert invoke(runner, "crop", grown, "--region", "0:3,0:2", "-o", back, "-q").exit_code == 0
    before, after = load_arrays(left.read_bytes()), load_arrays(back.read_bytes())
    assert all(np.array_equal(before[name], after[name]) for name in before)


def _roles(**options):
    from inrcli.models.base import TensorRole

    return TensorRole(**options)


def test_a_first_layer_gets_a_bit_more_per_doubling_of_its_frequency():
    assert tensor_bits(8, _roles(first_w0=30.0)) == 12  # the +4 measured at ω0 = 30
    assert tensor_bits(8, _roles(first_w0=1.0)) == 12  # never fewer
    assert tensor_bits(8, _roles(first_w0=60.0)) == 13
    assert tensor_bits(8, _roles(first_w0=480.0)) == 16  # 16 = 30 · 2⁴: +8
    assert tensor_bits(8, _roles(first_w0=3000.0)) is None  # audio: +11 is past 16 bits: float32
    assert tensor_bits(8, _roles(first_w0=30.0, shared=True)) == 14
    assert tensor_bits(8, _roles(bias=True, phase_w0=3000.0, first_w0=3000.0)) == 10  # one period: +2 at any ω0
    assert tensor_bits(8, _roles(bias=True, first_w0=30.0)) == 12  # a first-layer bias not kept in one period
    assert tensor_bits(8, _roles(bias=True)) == 10 and tensor_bits(8, _roles()) == 8
    assert tensor_bits(15, _roles(bias=True, phase_w0=30.0, shared=True)) == 16  # others cap at 16
    assert tensor_bits(8, _roles(first_w0=30.0, start_gain=5.3)) == 13  # started wider than SIREN: +1
    assert tensor_bits(8, _roles(first_w0=3000.0, start_gain=5.3)) is None


def test_an_lg_siren_started_wider_than_siren_stores_its_local_first_layer_finer():
    """The local first layers' start (local_frequency) widens their weights: one bit more, and
    only for them; without the start, SIREN's bits."""
    from inrcli.models import model_class, tensor_roles
    from inrcli.models.base import ModelHints

    def roles(local_frequency):
        options = {"partitions": (4, 4), "local_frequency": local_frequency}
        model = model_class("lg-siren").for_budget(2, 3, 20000, ModelHints(grid_shape=(256, 256), options=options))
        return tensor_roles(model)

    wide, siren = roles(0.35), roles(None)
    assert wide("local_weight.0").start_gain > 1.0 and tensor_bits(8, wide("local_weight.0")) == 13
    assert siren("local_weight.0").start_gain == 1.0 and tensor_bits(8, siren("local_weight.0")) == 12
    assert tensor_bits(8, wide("global_layers.0.linear.weight")) == tensor_bits(8, siren("global_layers.0.linear.weight"))
    assert tensor_bits(8, wide("local_weight.1")) == 8


def test_an_lg_siren_names_the_role_of_every_tensor():
    from inrcli.models import model_class, tensor_roles
    from inrcli.models.base import ModelHints

    model = model_class("lg-siren").for_budget(1, 1, 3000, ModelHints(grid_shape=(400,), first_w0=3000.0,
                                                                      options={"partitions": (2,)}))
    role = tensor_roles(model)
    assert role("local_bias.1").bias and role("local_bias.1").phase_w0 == 30.0 and not role("local_bias.1").shared
    assert role("local_bias.0").phase_w0 == 3000.0 and role("global_layers.0.linear.bias").phase_w0 == 3000.0
    assert role("global_layers.0.linear.weight").first_w0 == 3000.0 and role("global_layers.0.linear.weight").shared
    assert role("merge.linear.weight").shared and not role("merge.linear.weight").bias
    assert role("out_bias").bias and role("out_bias").phase_w0 is None  # the linear head
    assert set(model.sine_biases()) <= set(model.state_dict())


def test_a_sine_bias_moved_into_one_period_gives_the_same_sine():
    from inrcli.quantize import wrapped_phases

    rng = np.random.default_rng(0)
    for w0 in (30.0, 3000.0):
        bias = rng.uniform(-1, 1, size=200).astype(np.float32)
        wrapped = wrapped_phases(bias, w0)
        assert wrapped.dtype == np.float32 and np.abs(wrapped).max() <= np.pi / w0 * (1 + 1e-6)
        x = rng.uniform(-1, 1, size=(50, 1))
        before, after = np.sin(w0 * (x + bias.astype(np.float64))), np.sin(w0 * (x + wrapped.astype(np.float64)))
        assert np.abs(before - after).max() < w0 * 1e-7  # float32 rounding of b, times ω0
    assert wrapped_phases(bias, None) is bias


def test_coded_audio_keeps_its_first_layer_weights_as_floats_in_format_5(runner, tmp_path: Path):
    """A first layer at ω0 = 3000 would need more than 16 bits: its weights are stored as plain
    float32 entries (format 5); the file round-trips, crops to exactly its region and its kept
    partitions' bytes, and everything else is coded as before."""
    rate = 44100
    t = np.arange(rate * 7 // 20) / rate  # 0.35 s: a first-layer ω0 of 150, 9 + 4 + 3 (+ 2 shared) bits
    soundfile.write(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    model, cut = tmp_path / "m.safetensors", tmp_path / "cut.safetensors"
    assert invoke(runner, "encode", tmp_path / "tone.wav", "-o", model, "--bits", "11", "--steps", "5",
                  "--params", "3000", "--partitions", "4", "-q").exit_code == 0
    data = model.read_bytes()
    arrays, meta = load_arrays(data), fileformat.read_header(data)[1]
    assert meta["inr.version"] == "5.0"
    floats = json.loads(meta["inr.coding"])["float"]
    assert floats == ["local_weight.0", "global_layers.0.linear.weight"]
    assert arrays["local_weight.0"].dtype == np.float32 and arrays["local_weight.0"].shape[0] == 4
    inr = fileformat.from_bytes(data)
    assert inr.coding.floats == tuple(floats) and fileformat.to_bytes(inr) == data
    assert invoke(runner, "crop", model, "--region", "1:3", "-o", cut, "-q").exit_code == 0
    kept = load_arrays(cut.read_bytes())
    assert np.array_equal(kept["local_weight.0"], arrays["local_weight.0"][1:3])
    cropped = fileformat.load(cut)
    (lo, hi), = cropped.signal.window
    assert np.array_equal(api.decode(cropped).values, api.decode(inr).values[lo:hi])


def test_a_float_list_that_lies_is_refused():
    data = _coded("audio-q12")
    assert fileformat.read_header(data)[1]["inr.version"] == "5.0"
    fileformat.from_bytes(data)
    for edit in (lambda c: c["float"].append(c["tensors"][0][0]),  # coded and float at once
                 lambda c: c["float"].append("not.a.tensor"),
                 lambda c: c.update(float="global_layers.0.linear.weight"),
                 lambda c: c.update(float=[])):  # its F32 entry is then unexpected, the tensor missing
        with pytest.raises(InrFileError):
            fileformat.from_bytes(_rewrite(data, None, _coding_edit(edit)))
    with pytest.raises(InrFileError):  # the float entry of the wrong shape
        fileformat.from_bytes(_rewrite(data, lambda a: a.update({"global_layers.0.linear.weight": np.zeros((3, 1), np.float32)}), None))


def test_coded_audio_keeps_its_first_layer_phases(tmp_path: Path):
    """ω0 = 3000 multiplies a first-layer grid step into a phase error: at the old +4 bits a coded
    clip lost ~5 dB against its float file (chime.wav); now it stays within a dB."""
    rate = 8000
    t = np.arange(rate // 2) / rate
    clip = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)).astype(np.float32)
    soundfile.write(tmp_path / "tone.wav", clip, rate)
    signal = read_signal(str(tmp_path / "tone.wav"))
    scores = {}
    for bits in (32, 8):
        inr = api.encode(signal, api.EncodeOptions(steps=150, params=3000, bits=bits))
        scores[bits] = api.evaluate(signal, inr)["psnr"]
    assert scores[8] > scores[32] - 1.0, scores
