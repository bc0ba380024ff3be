"""Sets: many images in one network with a code each — encode, decode a member, interpolate,
crop to members, add members, evaluate, and refuse what does not make sense."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from inrcli import api, collection, fileformat
from inrcli.errors import InrFileError
from inrcli.signals import read_signal
from tests.conftest import invoke, synthetic_image
from tests.test_fileformat import rewrite

TINY = ["--params", "2500", "--conditioning", "latent", "--code-dim", "8", "-q"]


def make_images(folder: Path, count: int, size: tuple[int, int] = (8, 10), first_seed: int = 0) -> Path:
    """``count`` unlike pictures ``m{first_seed}.png …``: one pattern flipped and its colours rolled."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(first_seed, first_seed + count):
        picture = synthetic_image(*size, seed=index)
        picture = picture[::-1] if index % 2 else picture
        picture = picture[:, ::-1] if index // 2 % 2 else picture
        iio.imwrite(folder / f"m{index}.png", np.roll(picture, index // 4, axis=-1))
    return folder


@pytest.fixture(scope="module")
def set_file(tmp_path_factory) -> Path:
    """A set of four 8×10 pictures (two of them flipped), trained briefly."""
    folder = tmp_path_factory.mktemp("set")
    make_images(folder / "images", 4)
    out = folder / "set.safetensors"
    from typer.testing import CliRunner

    result = invoke(CliRunner(), "encode", folder / "images", "-o", out, "--steps", "150", *TINY)
    assert result.exit_code == 0, result.stderr
    return out


def decode_png(runner, model: Path, out: Path, *flags) -> np.ndarray:
    result = invoke(runner, "decode", model, "-o", out, *flags, "-q")
    assert result.exit_code == 0, result.stderr
    return iio.imread(out)


def test_a_folder_becomes_one_set_file_that_names_its_members(runner, set_file: Path):
    inr = api.load(str(set_file))
    assert collection.is_set(inr) and collection.member_names(inr) == ["m0", "m1", "m2", "m3"]
    assert inr.model.codes.shape == (4, 8) and inr.signal.shape == (8, 10)
    assert inr.dtype == "float16"  # sets are stored as float16 unless --dtype says otherwise
    result = invoke(runner, "info", set_file)
    assert result.exit_code == 0 and "members     4: m0, m1, m2, m3" in result.stdout
    described = json.loads(invoke(runner, "info", set_file, "--json").stdout)
    assert described["signal_info"]["members"] == ["m0", "m1", "m2", "m3"]
    assert described["param_counts"]["codes"] == 32
    header = set_file.read_bytes()
    meta = json.loads(header[8:8 + int.from_bytes(header[:8], "little")])["__metadata__"]
    assert meta["inr.version"] == "4.0" and meta["inr.arch"] == "set-siren"  # a 3.x reader refuses it by version


def test_members_are_learned_apart(set_file: Path, tmp_path: Path):
    """Each member decodes closer to its own picture than to the others (the codes carry identity)."""
    inr = api.load(str(set_file))
    images = [read_signal(str(path)) for path in sorted((set_file.parent / "images").glob("*.png"))]
    decoded = [api.decode(collection.view(inr, m)).values for m in range(4)]
    for m, picture in enumerate(decoded):
        errors = [np.mean((picture - image.values) ** 2) for image in images]
        assert int(np.argmin(errors)) == m, errors


def test_member_by_name_index_and_all_decode_alike(runner, set_file: Path, tmp_path: Path):
    by_name = decode_png(runner, set_file, tmp_path / "a.png", "--member", "m2")
    by_index = decode_png(runner, set_file, tmp_path / "b.png", "--member", "2")
    (tmp_path / "all").mkdir()
    result = invoke(runner, "decode", set_file, "--all", "-o", tmp_path / "all" / "%02d.png", "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["00.png", "01.png", "02.png", "03.png"]
    assert np.array_equal(by_name, by_index) and np.array_equal(by_name, iio.imread(tmp_path / "all" / "02.png"))
    bigger = decode_png(runner, set_file, tmp_path / "big.png", "--member", "m2", "--scale", "3")
    assert bigger.shape == (24, 30, 3)


def test_between_runs_from_one_member_to_the_other(runner, set_file: Path, tmp_path: Path):
    first = decode_png(runner, set_file, tmp_path / "a.png", "--member", "m0")
    last = decode_png(runner, set_file, tmp_path / "b.png", "--member", "m1")
    start = decode_png(runner, set_file, tmp_path / "s.png", "--between", "m0", "m1", "--at", "0")
    end = decode_png(runner, set_file, tmp_path / "e.png", "--between", "m0", "m1", "--at", "1")
    middle = decode_png(runner, set_file, tmp_path / "m.png", "--between", "m0", "m1")
    assert np.array_equal(start, first) and np.array_equal(end, last)
    assert not np.array_equal(middle, first) and not np.array_equal(middle, last)
    result = invoke(runner, "decode", set_file, "--between", "m0", "m1", "--steps", "5", "-o", tmp_path / "f.gif", "-q")
    assert result.exit_code == 0, result.stderr
    frames = iio.imread(tmp_path / "f.gif", index=None)
    assert frames.shape[0] == 5 and np.abs(frames[0][..., :3].astype(int) - first).max() <= 1


def test_crop_keeps_members_and_their_pictures(runner, set_file: Path, tmp_path: Path):
    out = tmp_path / "two.safetensors"
    result = invoke(runner, "crop", set_file, "--members", "m3,m0", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["members"] == ["m3", "m0"]
    assert out.stat().st_size <= set_file.stat().st_size - 2 * 8 * 2 + 64  # two codes of 8 float16 fewer
    kept = decode_png(runner, out, tmp_path / "k.png", "--member", "m3")
    assert np.array_equal(kept, decode_png(runner, set_file, tmp_path / "o.png", "--member", "m3"))
    refused = invoke(runner, "crop", set_file, "--region", "0:1,0:1", "-o", tmp_path / "r.safetensors")
    assert refused.exit_code != 0 and "--members" in refused.stderr
    unknown = invoke(runner, "crop", set_file, "--members", "m9", "-o", tmp_path / "u.safetensors")
    assert unknown.exit_code != 0 and "no member 'm9'" in unknown.stderr


def test_add_fits_a_new_code_and_leaves_the_others_untouched(runner, set_file: Path, tmp_path: Path):
    new = make_images(tmp_path / "new", 1, first_seed=7)
    out = tmp_path / "grown.safetensors"
    result = invoke(runner, "add", set_file, new / "m7.png", "-o", out, "--steps", "60", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["members"] == 5 and report["added"] == 1 and report["score_name"] == "psnr"
    grown, original = api.load(str(out)), api.load(str(set_file))
    assert collection.member_names(grown)[-1] == "m7"
    assert torch.equal(grown.model.codes[:4], original.model.codes)  # old codes as they were
    for name in ("first.weight", "head.weight", "modulation.weight"):  # the shared network frozen
        assert torch.equal(grown.model.state_dict()[name], original.model.state_dict()[name])
    mean_code = collection.with_codes(original, original.model.codes.mean(0, keepdim=True), ["m7"])
    picture = read_signal(str(new / "m7.png"))
    assert report["mean_score"] > api.score(picture, mean_code)["psnr"]  # fitting the code helped
    clash = invoke(runner, "add", set_file, new / "m7.png", "-o", tmp_path / "again.safetensors")
    assert clash.exit_code == 0  # a fresh name in the original set
    twice = invoke(runner, "add", out, new / "m7.png", "-o", tmp_path / "twice.safetensors")
    assert twice.exit_code != 0 and "already has members named m7" in twice.stderr


def test_eval_scores_each_member_against_its_picture(runner, set_file: Path):
    result = invoke(runner, "eval", set_file.parent / "images", set_file, "--json")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)
    assert sorted(scores["members"]) == ["m0", "m1", "m2", "m3"] and scores["count"] == 4
    psnrs = [member["psnr"] for member in scores["members"].values()]
    assert scores["mean_psnr"] == pytest.approx(np.mean(psnrs)) and scores["worst_psnr"] == min(psnrs)
    inr = api.load(str(set_file))
    own = api.evaluate(read_signal(str(set_file.parent / "images" / "m1.png")), collection.view(inr, 1))
    assert scores["members"]["m1"]["psnr"] == pytest.approx(own["psnr"])
    text = invoke(runner, "eval", set_file.parent / "images", set_file)
    assert "mean" in text.stdout and "worst" in text.stdout


def test_eval_refuses_references_of_another_size(runner, set_file: Path, tmp_path: Path):
    make_images(tmp_path / "big", 1, size=(16, 20))
    result = invoke(runner, "eval", tmp_path / "big", set_file)
    assert result.exit_code != 0 and "this set's are" in result.stderr


def test_the_index_baseline_encodes_and_decodes(runner, tmp_path: Path):
    images = make_images(tmp_path / "images", 3)
    out = tmp_path / "index.safetensors"
    result = invoke(runner, "encode", images, "-o", out, "--steps", "20", "--params", "2500", "--conditioning",
                    "index", "--dtype", "float32", "-q")
    assert result.exit_code == 0, result.stderr
    inr = api.load(str(out))
    assert inr.dtype == "float32"  # asked for, over the sets' float16
    assert inr.model.config.conditioning == "index" and inr.model.codes.shape == (3, 2)
    assert torch.equal(inr.model.codes, torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]))
    refused = invoke(runner, "add", out, images / "m0.png", "-o", tmp_path / "x.safetensors")
    assert refused.exit_code != 0 and "learned codes" in refused.stderr


def test_same_seed_same_bytes(runner, tmp_path: Path):
    images = make_images(tmp_path / "images", 2)
    outs = [tmp_path / f"{n}.safetensors" for n in "ab"]
    for out in outs:
        assert invoke(runner, "encode", images, "-o", out, "--steps", "10", *TINY).exit_code == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()


def test_size_resizes_every_member(runner, tmp_path: Path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    iio.imwrite(folder / "a.png", synthetic_image(8, 10))
    iio.imwrite(folder / "b.png", synthetic_image(16, 20, seed=1))
    out = tmp_path / "s.safetensors"
    refused = invoke(runner, "encode", folder, "-o", out, "--steps", "5", *TINY)
    assert refused.exit_code != 0 and "--size" in refused.stderr and not out.exists()
    resized = invoke(runner, "encode", folder, "-o", out, "--steps", "5", "--size", "10x8", *TINY)
    assert resized.exit_code == 0, resized.stderr
    stored = api.load(str(out))
    assert stored.signal.shape == (8, 10) and stored.training["resized"] == {"to": [8, 10], "from": {"b": [16, 20]}}


def test_refusals_are_one_line(runner, set_file: Path, tmp_path: Path, image_file: Path, encoded_tiny: Path):
    cases = [
        (["decode", set_file, "-o", tmp_path / "x.png"], "choose one of --member"),
        (["decode", set_file, "--member", "nobody", "-o", tmp_path / "x.png"], "no member 'nobody'"),
        (["decode", set_file, "--member", "m0", "--all", "-o", tmp_path / "x.png"], "choose one of"),
        (["decode", set_file, "--between", "m0", "m1", "--steps", "1", "-o", tmp_path / "x.gif"], "at least 2"),
        (["decode", encoded_tiny, "--member", "m0", "-o", tmp_path / "x.png"], "--member applies to sets"),
        (["crop", encoded_tiny, "--members", "m0", "-o", tmp_path / "x.safetensors"], "--members"),
        (["add", encoded_tiny, image_file, "-o", tmp_path / "x.safetensors"], "is not a set"),
        (["view", set_file, "--no-browser"], "does not show sets yet"),
    ]
    for args, message in cases:
        result = invoke(runner, *args)
        assert result.exit_code != 0 and message in result.stderr, (args, result.stderr)
        assert result.stderr.startswith("inr: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "x.png").exists()


def test_numbered_frames_stay_a_video_unless_set_is_asked(runner, tmp_path: Path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(3):
        iio.imwrite(folder / f"{index:04d}.png", synthetic_image(8, 10, seed=index))
    video, members = tmp_path / "video.safetensors", tmp_path / "set.safetensors"
    assert invoke(runner, "encode", folder, "-o", video, "--steps", "2", "--params", "8000", "-q").exit_code == 0
    assert api.load(str(video)).modality == "video"
    assert invoke(runner, "encode", folder, "-o", members, "--set", "--steps", "2", *TINY).exit_code == 0
    assert collection.member_names(api.load(str(members))) == ["0000", "0001", "0002"]
    refused = invoke(runner, "encode", folder, "-o", tmp_path, "--set", "--steps", "2", *TINY)
    assert refused.exit_code != 0 and "--set writes one file" in refused.stderr


def test_sets_refuse_coded_storage_for_now(runner, tmp_path: Path):
    images = make_images(tmp_path / "images", 2)
    for flags in (["--bits", "8"], ["--bpp", "2"]):
        result = invoke(runner, "encode", images, "-o", tmp_path / "s.safetensors", "--steps", "2", *flags, "-q")
        assert result.exit_code != 0 and "sets are stored as float weights" in result.stderr, result.stderr


def test_a_set_needs_one_kind(runner, tmp_path: Path):
    import soundfile

    folder = make_images(tmp_path / "mixed", 2)
    soundfile.write(folder / "z.wav", np.zeros(100, np.float32), 8000)
    result = invoke(runner, "encode", folder, "-o", tmp_path / "s.safetensors", "--steps", "2", *TINY)
    assert result.exit_code != 0 and "one kind" in result.stderr


def _with_names(data: bytes, names) -> bytes:
    """``data`` with its members' names replaced (the header rewritten, the weights kept)."""

    def rename(meta: dict) -> None:
        signal = json.loads(meta["inr.signal"])
        signal["info"]["members"] = names
        meta["inr.signal"] = json.dumps(signal)

    return rewrite(data, edit_meta=rename)


@pytest.mark.parametrize("names", [["m0", "m1", "m2"], ["m0", "m0", "m1", "m2"], ["m0", "../up", "m2", "m3"],
                                   ["m0", "", "m2", "m3"], "m0,m1,m2,m3", ["m0", 1, "m2", "m3"], None])
def test_files_whose_names_lie_are_refused(set_file: Path, names):
    data = set_file.read_bytes()
    assert fileformat.from_bytes(_with_names(data, ["a", "b", "c", "d"])) is not None  # the rewrite itself is sound
    with pytest.raises(InrFileError):
        fileformat.from_bytes(_with_names(data, names))


def test_member_sampler_rows_are_members():
    values = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4, 1)
    sampler = collection.MemberSampler(values, fraction=0.5)
    coords, targets = sampler.sample(torch.Generator().manual_seed(0), 0)
    assert coords.shape == (2, sampler.per_member, 2) and targets.shape == (2, sampler.per_member, 1)
    rows = ((coords[..., 0] + 1) / 2 * 3 - 0.5).round().long()  # back from [-1, 1] centres to indices
    cols = ((coords[..., 1] + 1) / 2 * 4 - 0.5).round().long()
    for member in range(2):
        assert torch.equal(targets[member, :, 0], values[member, rows[member], cols[member], 0])


@pytest.fixture(scope="module")
def spatial_set(tmp_path_factory) -> Path:
    """A set of four 8×10 pictures with spatial codes (2×2 cells; 8×10 samples round to 2 and 2)."""
    folder = tmp_path_factory.mktemp("spatial")
    make_images(folder / "images", 4)
    out = folder / "set.safetensors"
    from typer.testing import CliRunner

    result = invoke(CliRunner(), "encode", folder / "images", "-o", out, "--steps", "150", "--params", "4000",
                    "-q")  # spatial is the default
    assert result.exit_code == 0, result.stderr
    return out


def test_spatial_codes_lay_a_grid_over_each_member(runner, spatial_set: Path, tmp_path: Path):
    inr = api.load(str(spatial_set))
    config = inr.model.config
    assert config.conditioning == "spatial" and config.code_grid == (2, 2)
    assert inr.model.codes.shape == (4, 4 * config.code_channels) and config.code_channels > 1
    assert inr.model.modulation.weight.shape == (config.width * 4, config.code_channels)
    scores = json.loads(invoke(runner, "eval", spatial_set.parent / "images", spatial_set, "--json").stdout)
    assert scores["worst_psnr"] > 20  # members learned apart, each from its own codes
    described = json.loads(invoke(runner, "info", spatial_set, "--json").stdout)
    assert described["config"]["code_grid"] == [2, 2]


def test_spatial_sets_add_crop_and_interpolate(runner, spatial_set: Path, tmp_path: Path):
    new = make_images(tmp_path / "new", 1, first_seed=7)
    grown_path = tmp_path / "grown.safetensors"
    result = invoke(runner, "add", spatial_set, new / "m7.png", "-o", grown_path, "--steps", "60", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    grown, original = api.load(str(grown_path)), api.load(str(spatial_set))
    assert torch.equal(grown.model.codes[:4], original.model.codes)
    assert torch.equal(grown.model.modulation.weight, original.model.modulation.weight)
    mean_code = collection.with_codes(original, original.model.codes.mean(0, keepdim=True), ["m7"])
    assert json.loads(result.stdout)["mean_score"] > api.score(read_signal(str(new / "m7.png")), mean_code)["psnr"] + 1
    kept = tmp_path / "kept.safetensors"
    assert invoke(runner, "crop", grown_path, "--members", "m7,m1", "-o", kept, "-q").exit_code == 0
    assert np.array_equal(decode_png(runner, kept, tmp_path / "a.png", "--member", "m7"),
                          decode_png(runner, grown_path, tmp_path / "b.png", "--member", "m7"))
    ends = [decode_png(runner, spatial_set, tmp_path / f"{m}.png", "--member", m) for m in ("m0", "m1")]
    start = decode_png(runner, spatial_set, tmp_path / "t0.png", "--between", "m0", "m1", "--at", "0")
    assert np.array_equal(start, ends[0])
    big = decode_png(runner, spatial_set, tmp_path / "big.png", "--member", "m2", "--scale", "3")
    assert big.shape == (24, 30, 3)


def test_grid_features_interpolate_between_cell_centres():
    from inrcli.models.set_siren import grid_features

    grids = torch.arange(12.0).reshape(1, 3, 4, 1)  # 3 rows × 4 columns of cells
    rows, cols = ((torch.arange(n) + 0.5) / n * 2 - 1 for n in (3, 4))
    centres = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), -1).reshape(1, -1, 2)
    assert torch.allclose(grid_features(grids, centres).flatten(), torch.arange(12.0), atol=1e-5)
    between = grid_features(grids, torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]])).flatten()
    assert torch.allclose(between, torch.tensor([0.0, 11.0, 5.5]))  # borders hold, the middle blends four cells
    line = grid_features(torch.arange(4.0).reshape(1, 4, 1), torch.tensor([[[-0.75], [-0.5], [1.0]]])).flatten()
    assert torch.allclose(line, torch.tensor([0.0, 0.5, 3.0]))
    cube = grid_features(torch.arange(8.0).reshape(1, 2, 2, 2, 1), torch.tensor([[[-0.5, -0.5, 0.5], [0.5, -0.5, -0.5]]]))
    assert torch.allclose(cube.flatten(), torch.tensor([1.0, 4.0]))  # (depth, row, column) = (0, 0, 1) and (1, 0, 0)


def _with_config(data: bytes, edit) -> bytes:
    def change(meta: dict) -> None:
        config = json.loads(meta["inr.model"])
        edit(config)
        meta["inr.model"] = json.dumps(config)

    return rewrite(data, edit_meta=change)


@pytest.mark.parametrize("edit", [lambda c: c.pop("code_grid"), lambda c: c.update(code_grid=[2, 3]),
                                  lambda c: c.update(code_grid=[2]), lambda c: c.update(code_grid=[2, 0]),
                                  lambda c: c.update(code_grid="2,2"), lambda c: c.update(conditioning="latent")])
def test_spatial_files_whose_grid_lies_are_refused(spatial_set: Path, edit):
    data = spatial_set.read_bytes()
    assert fileformat.from_bytes(_with_config(data, lambda c: None)) is not None
    with pytest.raises(InrFileError):
        fileformat.from_bytes(_with_config(data, edit))


def test_a_latent_file_has_no_code_grid(set_file: Path):
    _, meta = fileformat.read_header(set_file.read_bytes())
    assert "code_grid" not in json.loads(meta["inr.model"])  # latent and index files are as before
    assert api.load(str(set_file)).model.config.code_grid is None
