"""The real CLI, in-process through typer's CliRunner: every command and its error paths."""

import json
from pathlib import Path

import imageio.v3 as iio
import pytest

from inrcli.signals import read_signal
from tests.conftest import invoke, synthetic_image


def test_encode_json_summary_and_default_output(runner, image_file: Path):
    result = invoke(runner, "encode", image_file, "--steps", "5", "--params", "3000", "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["output"] == str(image_file.with_suffix(".safetensors"))
    assert {"output", "params", "steps", "seconds", "psnr"} <= set(summary)
    assert summary["steps"] == 5 and summary["params"] <= 3000
    assert image_file.with_suffix(".safetensors").exists()


def test_encode_shows_progress_and_summary_on_stderr_only(runner, image_file: Path, tmp_path: Path):
    result = invoke(runner, "encode", image_file, "-o", tmp_path / "x.safetensors", "--steps", "3", "--params", "3000")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "PSNR" in result.stderr and "params" in result.stderr


def test_existing_output_needs_force(runner, image_file: Path, tmp_path: Path):
    out = tmp_path / "x.safetensors"
    out.write_bytes(b"keep me")
    result = invoke(runner, "encode", image_file, "-o", out, "--steps", "2", "--params", "3000", "-q")
    assert result.exit_code == 1
    assert result.stderr.startswith("inr: error:") and "--force" in result.stderr
    assert out.read_bytes() == b"keep me"
    assert invoke(runner, "encode", image_file, "-o", out, "--steps", "2", "--params", "3000", "-q", "--force").exit_code == 0
    assert out.read_bytes() != b"keep me"


def test_output_may_not_be_the_input(runner, image_file: Path):
    before = image_file.read_bytes()
    result = invoke(runner, "encode", image_file, "-o", image_file, "--steps", "2", "--force", "-q")
    assert result.exit_code == 2 and "input" in result.stderr
    assert image_file.read_bytes() == before


def test_decode_scale_and_size(runner, encoded_tiny: Path, tmp_path: Path):
    assert invoke(runner, "decode", encoded_tiny, "-o", tmp_path / "x2.png", "--scale", "2", "-q").exit_code == 0
    assert iio.imread(tmp_path / "x2.png").shape == (40, 48, 3)
    assert invoke(runner, "decode", encoded_tiny, "-o", tmp_path / "s.jpg", "--size", "30x10", "-q").exit_code == 0
    assert iio.imread(tmp_path / "s.jpg").shape == (10, 30, 3)
    assert invoke(runner, "decode", encoded_tiny, "-o", tmp_path / "d.png", "--bit-depth", "16", "-q").exit_code == 0
    assert (tmp_path / "d.png").read_bytes()[24] == 16  # PNG header: bit depth
    assert read_signal(str(tmp_path / "d.png")).info["bit_depth"] == 16


def test_decode_json_and_stdout(runner, encoded_tiny: Path):
    result = invoke(runner, "decode", encoded_tiny, "-o", "-", "--format", "png", "-q")
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"\x89PNG")
    assert iio.imread(result.stdout_bytes).shape == (20, 24, 3)


def test_stdin_to_stdout_pipeline(runner, image_file: Path, tmp_path: Path):
    result = invoke(runner, "encode", "-", "-o", "-", "--format", "png", "--steps", "3", "--params", "3000", "-q",
                    input=image_file.read_bytes())
    assert result.exit_code == 0, result.stderr
    model = result.stdout_bytes
    decoded = invoke(runner, "decode", "-", "-o", "-", "--format", "png", "-q", input=model)
    assert decoded.exit_code == 0, decoded.stderr
    assert iio.imread(decoded.stdout_bytes).shape == (20, 24, 3)
    info = invoke(runner, "info", "-", "--json", input=model)
    assert json.loads(info.stdout)["shape"] == [20, 24]


def test_info_json_keys(runner, encoded_tiny: Path):
    result = invoke(runner, "info", encoded_tiny, "--json")
    data = json.loads(result.stdout)
    assert {"modality", "arch", "partitions", "params", "shape"} <= set(data)
    assert data["partitions"] == [3, 4] and data["arch"] == "lg-siren"
    counts = data["param_counts"]
    assert counts["total"] == counts["local"] + counts["global"] + counts["merge"] == data["params"]
    human = invoke(runner, "info", encoded_tiny)
    assert "lg-siren" in human.stdout and "3×4 grid" in human.stdout and "24×20 × 3 channels" in human.stdout


def test_eval_against_image_and_inr(runner, image_file: Path, encoded_tiny: Path, tmp_path: Path):
    decoded = tmp_path / "d.png"
    invoke(runner, "decode", encoded_tiny, "-o", decoded, "-q")
    by_image = json.loads(invoke(runner, "eval", image_file, decoded, "--json").stdout)
    by_inr = json.loads(invoke(runner, "eval", image_file, encoded_tiny, "--json").stdout)
    assert by_image["psnr"] == pytest.approx(by_inr["psnr"]) and by_image["ssim"] == pytest.approx(by_inr["ssim"])
    assert 10 < by_image["psnr"] < 60
    human = invoke(runner, "eval", image_file, decoded)
    assert "PSNR" in human.stdout and "SSIM" in human.stdout


def test_eval_error_map(runner, image_file: Path, encoded_tiny: Path, tmp_path: Path):
    result = invoke(runner, "eval", image_file, encoded_tiny, "--error-map", tmp_path / "err.png", "--json")
    assert result.exit_code == 0, result.stderr
    picture = iio.imread(tmp_path / "err.png")
    assert picture.ndim == 3 and picture.shape[0] >= 20 and picture.shape[0] % 20 == 0


def test_crop_cli_and_errors(runner, encoded_tiny: Path, tmp_path: Path):
    out = tmp_path / "c.safetensors"
    result = invoke(runner, "crop", encoded_tiny, "--region", "1:3,0:2", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["kept"] == [[1, 3], [0, 2]]
    for region in ("0:0,0:1", "0:4,0:1", "0:1"):
        bad = invoke(runner, "crop", encoded_tiny, "--region", region, "-o", tmp_path / "bad.safetensors")
        assert bad.exit_code == 2 and bad.stderr.startswith("inr: error:"), region
    # a region outside what a cropped file keeps is refused; inside it works
    assert invoke(runner, "crop", out, "--region", "0:1,0:1", "-o", tmp_path / "bad.safetensors").exit_code == 2
    assert invoke(runner, "crop", out, "--region", "2:3,1:2", "-o", tmp_path / "cc.safetensors").exit_code == 0


def test_crop_of_a_siren_file_is_a_clear_error(runner, image_file: Path, tmp_path: Path):
    model = tmp_path / "s.safetensors"
    assert invoke(runner, "encode", image_file, "-o", model, "--arch", "siren", "--steps", "3", "--params", "2000", "-q").exit_code == 0
    result = invoke(runner, "crop", model, "--region", "0:1,0:1", "-o", tmp_path / "c.safetensors")
    assert result.exit_code == 2 and "siren" in result.stderr


@pytest.mark.parametrize("args, code, message", [
    (["encode", "missing.png"], 1, "no such file"),
    (["encode", "{img}", "--arch", "nerf"], 2, "unknown architecture"),
    (["encode", "{img}", "--partitions", "0,2"], 2, "--partitions"),
    (["encode", "{img}", "--partitions", "100,1", "--steps", "1"], 2, "partitions"),
    (["encode", "{img}", "--dtype", "int8"], 2, "--dtype"),
    (["encode", "{img}", "--local-frequency", "4"], 2, "--local-frequency"),
    (["encode", "{img}", "--local-frequency", "nan"], 2, "--local-frequency"),
    (["encode", "{img}", "--local-frequency", "fast"], 2, "--local-frequency"),
    (["encode", "{img}", "--arch", "siren", "--local-frequency", "0.3"], 2, "--local-frequency does not apply to siren"),
    (["encode", "{img}", "--steps", "-1"], 2, "--steps"),
    (["encode", "{img}", "--device", "cuda:0", "--steps", "1", "-o", "{tmp}/x.safetensors"], 2, "cuda"),
    (["encode", "-"], 2, "-o"),
    (["decode", "{img}"], 1, "inr file"),
    (["decode", "{model}", "-o", "{tmp}/x.wav"], 2, "cannot write image data as .wav"),
    (["decode", "{model}", "-o", "{tmp}/x.xyz"], 2, "unsupported format"),
    (["decode", "{model}", "-o", "{tmp}/x.png", "--rate", "8000"], 2, "--scale or --size"),
    (["decode", "{model}", "-o", "{tmp}/x.png", "--scale", "2", "--size", "4x4"], 2, "not both"),
    (["decode", "{model}", "-o", "{tmp}/x.png", "--scale", "100000"], 1, "GiB"),
    (["decode", "{model}", "-o", "{tmp}/noext"], 2, "--format"),
    (["info", "{tmp}"], 1, "directory"),
    (["eval", "{img}", "{tmp}/nothing.png"], 1, "no such file"),
])
def test_error_paths_print_one_line_and_exit_code(runner, image_file, encoded_tiny, tmp_path, args, code, message):
    args = [a.format(img=image_file, model=encoded_tiny, tmp=tmp_path) for a in args]
    result = invoke(runner, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("inr: error:"), result.stderr
    assert message.lower() in lines[0].lower()
    assert "Traceback" not in result.stderr


def test_eval_reports_shape_mismatch(runner, image_file: Path, tmp_path: Path):
    other = tmp_path / "other.png"
    iio.imwrite(other, synthetic_image(10, 10))
    result = invoke(runner, "eval", image_file, other)
    assert result.exit_code == 2 and "shapes differ" in result.stderr


def test_version_and_help(runner):
    assert invoke(runner, "--version").stdout.startswith("inr ")
    assert "encode" in invoke(runner, "--help").stdout


def test_version_help_and_info_start_without_torch(encoded_tiny: Path):
    """An instant start: these commands never import torch (info reads the header alone)."""
    import subprocess
    import sys

    for args in (["--version"], ["--help"], ["info", str(encoded_tiny)], ["info", str(encoded_tiny), "--json"]):
        probe = ("import sys, runpy; sys.argv = ['inr', *sys.argv[1:]]\n"
                 "try:\n    runpy.run_module('inrcli', run_name='__main__')\n"
                 "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
                 "assert 'torch' not in sys.modules, 'torch was imported'\n")
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, timeout=120)
        assert done.returncode == 0, (args, done.stderr.decode()[-500:])


def test_info_skips_the_command_framework_and_says_the_same(runner, encoded_tiny: Path):
    """``inr info FILE [--json]`` takes a short path without typer or rich (most of a start-up's
    imports) and prints what the command prints; anything else goes the usual way."""
    import subprocess
    import sys

    for args in (["info", str(encoded_tiny)], ["info", "--json", str(encoded_tiny)]):
        probe = ("import sys, runpy; sys.argv = ['inr', *sys.argv[1:]]\n"
                 "runpy.run_module('inrcli', run_name='__main__')\n"
                 "assert not {'typer', 'rich', 'imageio'} & set(sys.modules), 'a framework was imported'\n")
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (args, done.stderr[-500:])
        assert done.stdout == invoke(runner, *args).stdout
    damaged = encoded_tiny.parent / "damaged.safetensors"
    damaged.write_bytes(encoded_tiny.read_bytes()[:100])
    done = subprocess.run([sys.executable, "-m", "inrcli", "info", str(damaged)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("inr: error: ") and done.stderr.count("\n") == 1
    assert done.stderr == invoke(runner, "info", damaged).stderr


def test_decode_without_output_names_the_file_by_format(runner, encoded_tiny: Path):
    """``--format`` alone picks the ending of the default output name (it wrote .npy bytes into a .ply)."""
    result = invoke(runner, "decode", encoded_tiny, "--format", "jpg", "-q")
    assert result.exit_code == 0, result.stderr
    written = encoded_tiny.with_suffix(".jpg")
    assert written.read_bytes()[:2] == b"\xff\xd8"  # JPEG bytes under a .jpg name


@pytest.mark.parametrize("args, message", [
    (["encode"], "Missing argument 'inputs'; see 'inr encode --help'"),
    (["decode", "x.safetensors", "--scale", "abc"], "Invalid value for '--scale'"),
    (["encode", "a.png", "--nope"], "No such option: --nope"),
    (["bogus"], "No such command 'bogus'"),
])
def test_usage_errors_are_one_line_not_a_box(args, message):
    """Typer draws usage errors in a box; inr's errors are all one line (exit code 2)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "inrcli", *args], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("inr: error: ")
    assert result.stderr.count("\n") == 1 and message in result.stderr and "╭" not in result.stderr
