"""Fuzz every signal reader through ``inr encode``: mutated, truncated and spliced files of every
format, and files whose headers lie about their size (docs/SECURITY.md, issue 12).

    python scripts/fuzz_signals.py --cases 300                 # what the test suite runs (fewer)
    python scripts/fuzz_signals.py --cases 50000 --workers 2   # the long run in bench/RESULTS.md

Each case is one input file (or frame folder) and one run of ``inr encode INPUT --steps 2`` in a
child forked from a parent that has already imported torch and every reader, so a case costs
its own work, not start-up.  A case passes when

* the encode exits 0 and ``inr decode`` of its output exits 0, or it exits non-zero and its
  last stderr line is one ``inr: error: …`` line — no traceback, no "internal error";
* the child was not killed by a signal and finished within ``--timeout`` seconds;
* nothing is left in the output folder but the finished outputs, and the input is unchanged;
* the child's peak resident memory stayed under ``--max-rss-mb`` (default 1536).

Shapes are voxelised on a 16³ grid instead of 128³ in the children (``shape.RESOLUTION``), so
that a mesh that parses costs a fraction of a second; the reading and validation are the same.
Prints one JSON summary line; exits 1 if any case failed (each failure is listed, with the
input kept under ``--keep``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INTERESTING = [0, 1, 0x7F, 0x80, 0xFF]
BIG_NUMBERS = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x00010000, 0x0FFFFFFF]


# ---------------------------------------------------------------- seeds: one small valid file per format

def _image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    planes = [np.sin(6 * x + 3 * y + k) * 0.4 + 0.5 for k in range(channels)]
    return np.clip(np.stack(planes, -1) + rng.normal(0, 0.02, (height, width, channels)), 0, 1)


def make_seeds(folder: Path) -> list[Path]:
    """Valid files of every format the readers take, written by inr's own writers and trimesh."""
    import PIL.Image
    import soundfile
    import trimesh

    from inrcli.signals import save_signal as save
    from inrcli.signals.base import Signal

    def save_signal(signal: Signal, path: Path) -> None:
        save(signal, str(path), None, {}, force=True)

    seeds = []
    picture = Signal("image", _image(12, 10).astype(np.float32), {"bit_depth": 8})
    for ext in ("png", "jpg", "tiff", "webp", "bmp"):
        seeds.append(folder / f"image.{ext}")
        save_signal(picture, seeds[-1])
    seeds.append(folder / "still.gif")  # inr writes .gif as video; a one-frame GIF is read as one too
    PIL.Image.fromarray(np.uint8(picture.values * 255)).save(seeds[-1])
    seeds.append(folder / "image16.png")
    save_signal(Signal("image", _image(9, 11, 4).astype(np.float32), {"bit_depth": 16}), seeds[-1])
    seeds.append(folder / "grey.png")
    save_signal(Signal("image", _image(8, 8, 1).astype(np.float32), {"bit_depth": 8}), seeds[-1])
    sound = (0.4 * np.sin(np.arange(800)[:, None] / np.array([[5.0, 7.0]]))).astype(np.float32)
    for ext, subtype in (("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS")):
        seeds.append(folder / f"audio.{ext}")
        soundfile.write(str(seeds[-1]), sound, 8000, subtype=subtype)
    clip = Signal("video", np.stack([_image(16, 16, seed=k) for k in range(4)]).astype(np.float32), {"fps": 10.0})
    for ext in ("mp4", "webm", "avi", "gif"):
        seeds.append(folder / f"video.{ext}")
        save_signal(clip, seeds[-1])
    frames = folder / "frames"
    frames.mkdir()
    for k in range(3):
        save_signal(Signal("image", _image(8, 8, seed=k).astype(np.float32), {"bit_depth": 8}), frames / f"{k}.png")
    seeds.append(frames)
    mesh = trimesh.creation.icosphere(subdivisions=1)
    for ext in ("obj", "ply", "stl", "off", "glb"):
        seeds.append(folder / f"shape.{ext}")
        mesh.export(str(seeds[-1]), file_type=ext)
    seeds.append(folder / "graph.npz")
    np.savez(seeds[-1], points=mesh.vertices, faces=mesh.faces, target=mesh.vertices[:, :1] ** 2)
    seeds.append(folder / "volume.npy")
    np.save(seeds[-1], _image(6, 7, 5).astype(np.float32))
    return seeds


# ---------------------------------------------------------------- liars: headers that claim more than the data

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, depth: int, colour: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _zeros_deflated(nbytes: int) -> bytes:
    packer, block, out = zlib.compressobj(9), bytes(1 << 20), []
    for _ in range(nbytes >> 20):
        out.append(packer.compress(block))
    return b"".join(out) + packer.flush()


def make_liars(folder: Path, seeds: list[Path]) -> list[Path]:
    """Files whose headers misstate their decoded size, each a known class of attack."""
    liars = []

    def write(name: str, data: bytes) -> None:
        liars.append(folder / name)
        liars[-1].write_bytes(data)

    # PNG: a 16-bit RGBA image declared 64×48 whose IDAT inflates to 256 MB
    write("bomb16.png", _png(64, 48, 16, 6, _zeros_deflated(256 << 20)))
    write("huge.png", _png(60000, 60000, 8, 2, zlib.compress(bytes(4096))))
    write("huge16.png", _png(30000, 30000, 16, 2, zlib.compress(bytes(4096))))
    jpeg = bytearray((folder / "image.jpg").read_bytes())
    marker = jpeg.find(b"\xff\xc0")
    jpeg[marker + 5:marker + 9] = struct.pack(">HH", 12000, 12000)  # height, width in SOF0
    write("huge.jpg", bytes(jpeg[:700]))
    write("claims12000.jpg", bytes(jpeg))
    write("frames.gif", _animated_gif(1000, 1000, 120))
    wav = bytearray((folder / "audio.wav").read_bytes())
    data = wav.find(b"data")
    wav[data + 4:data + 8] = struct.pack("<I", 0xFFFFFFF0)
    wav[4:8] = struct.pack("<I", 0xFFFFFFF0)
    write("long.wav", bytes(wav))
    flac = bytearray((folder / "audio.flac").read_bytes())
    # STREAMINFO: total samples are the low 36 bits of bytes 21..25 after "fLaC" + block header
    flac[8 + 13] = (flac[8 + 13] & 0xF0) | 0x0F
    flac[8 + 14:8 + 18] = b"\xff\xff\xff\xff"
    write("long.flac", bytes(flac))
    write("rawh264.mp4", _raw_h264(folder))
    write("unused-member.npz", _npz_with_member(folder / "graph.npz", "junk", (400_000_000,)))
    write("lying-target.npz", _npz_with_member(folder / "graph.npz", "target", (2_000_000_000, 4), data=bytes(64)))
    write("vertices.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000\nproperty float x\n"
                          b"property float y\nproperty float z\nelement face 3\nproperty list uchar int vertex_indices\n"
                          b"end_header\n" + bytes(200))
    stl = bytearray((folder / "shape.stl").read_bytes())
    stl[80:84] = struct.pack("<I", 0x7FFFFFFF)
    write("count.stl", bytes(stl))
    write("huge.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100), }"
                      .ljust(128 - 1, b" ") + b"\n" + bytes(64))
    return liars


def _animated_gif(width: int, height: int, frames: int) -> bytes:
    """An animated GIF of flat frames (a few hundred bytes each once LZW-coded)."""
    from PIL import Image

    pictures = [Image.new("P", (width, height), k % 2) for k in range(frames)]
    for picture in pictures:
        picture.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    out = io.BytesIO()
    pictures[0].save(out, format="GIF", save_all=True, append_images=pictures[1:], duration=40, optimize=False)
    return out.getvalue()


def _raw_h264(folder: Path) -> bytes:
    """A raw H.264 elementary stream (no container, so no duration) of 400 static 1280×720 frames."""
    import imageio_ffmpeg

    target = folder / "raw.h264"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=gray:s=1280x720:r=25:d=16", "-c:v", "libx264", "-f", "h264", str(target)], check=True)
    return target.read_bytes()


def _npz_with_member(base: Path, name: str, shape: tuple[int, ...], data: bytes | None = None) -> bytes:
    """``base`` with a member ``name`` whose .npy header declares ``shape`` (float32); its data is
    zeros deflated (the real size, for an unused member) or ``data`` (a header that lies)."""
    import zipfile

    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %r, }" % (shape,)
    npy_head = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + header.encode().ljust(117) + b"\n"
    out = io.BytesIO()
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename != f"{name}.npy":
                target.writestr(item, source.read(item))
        with target.open(f"{name}.npy", "w", force_zip64=True) as member:
            member.write(npy_head)
            if data is not None:
                member.write(data)
            else:
                block, left = bytes(1 << 22), int(np.prod(shape)) * 4
                while left > 0:
                    member.write(block[:min(left, len(block))])
                    left -= len(block)
    return out.getvalue()


# ---------------------------------------------------------------- mutations

def mutate(data: bytes, rng: random.Random, donors: list[bytes]) -> bytes:
    """One to three random byte-level edits: flips, interesting bytes, big integers, inserts,
    deletions, truncation, duplication, splicing with another file of the same format."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        at = rng.randrange(len(data))
        choice = rng.randrange(9)
        if choice == 0:
            data[at] ^= 1 << rng.randrange(8)
        elif choice == 1:
            data[at] = rng.choice(INTERESTING)
        elif choice == 2:
            data[at:at + 4] = struct.pack(rng.choice("<>") + "I", rng.choice(BIG_NUMBERS))
        elif choice == 3:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif choice == 4:
            del data[at:at + rng.randint(1, 64)]
        elif choice == 5:
            del data[at:]
        elif choice == 6:
            end = min(len(data), at + rng.randint(1, 256))
            data[end:end] = data[at:end] * rng.randint(1, 8)
        elif choice == 7 and donors:
            donor = rng.choice(donors)
            data[at:] = donor[rng.randrange(len(donor)):]
        else:
            for k in range(at, min(len(data), at + 8)):
                data[k] = rng.randrange(256)
    return bytes(data)


def make_case(seed_path: Path, folder: Path, rng: random.Random, seeds_by_ext: dict) -> Path:
    """A mutated copy of ``seed_path`` (for a frame folder: the folder with one frame mutated)."""
    if seed_path.is_dir():
        target = folder / "input_frames"
        shutil.copytree(seed_path, target)
        victim = rng.choice(sorted(target.iterdir()))
        victim.write_bytes(mutate(victim.read_bytes(), rng, []))
        return target
    ext = seed_path.name.split(".", 1)[1] if seed_path.name.count(".") else ""
    target = folder / f"input.{seed_path.suffix.lstrip('.')}"
    donors = [p.read_bytes() for p in seeds_by_ext.get(ext, []) if p != seed_path]
    target.write_bytes(mutate(seed_path.read_bytes(), rng, donors))
    return target


# ---------------------------------------------------------------- running a case in a forked child

def child(input_path: Path, out_dir: Path) -> None:
    """In the forked child: encode, then decode what was written; results to ``out_dir/result.json``."""
    from inrcli.signals import shape

    shape.RESOLUTION = 16
    results = {"encode": _run_cli(["encode", str(input_path), "-o", str(out_dir / "out.safetensors"),
                                   "--steps", "2", "--params", "20000"], out_dir / "encode")}
    if results["encode"] == 0 and (out_dir / "out.safetensors").exists():
        from inrcli.fileformat import describe_source

        # a shape trained two steps may have no surface yet: its field decodes, to .npy
        as_field = ["--format", "npy"] if describe_source(str(out_dir / "out.safetensors"))["modality"] == "shape" else []
        results["decode"] = _run_cli(["decode", str(out_dir / "out.safetensors"), *as_field], out_dir / "decode")
    (out_dir / "result.json").write_text(json.dumps(results))


def _run_cli(arguments: list[str], log: Path) -> int:
    """One ``inr`` command in this process, its stdout and stderr into ``log.out``/``log.err``."""
    from inrcli.cli import app

    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout, sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), write_through=True), \
            io.TextIOWrapper(os.fdopen(os.dup(2), "wb"), write_through=True)
        try:
            app(args=arguments, prog_name="inr", standalone_mode=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # noqa: BLE001 - reported as a failure by the parent
            sys.stderr.write(f"FUZZ: escaped exception {type(exc).__name__}: {exc}\n")
            code = 99
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
    return code


def judge(case_dir: Path, out_dir: Path, status: int, rusage, input_digest: str, input_path: Path,
          max_rss_mb: float) -> list[str]:
    """The failures of one finished case (empty when it passed)."""
    problems = []
    if os.WIFSIGNALED(status):
        problems.append(f"killed by signal {os.WTERMSIG(status)}")
    rss_mb = rusage.ru_maxrss / 1024
    if rss_mb > max_rss_mb:
        problems.append(f"peak RSS {rss_mb:.0f} MB over {max_rss_mb:.0f} MB")
    result_file = out_dir / "result.json"
    if not result_file.exists():
        return problems or ["no result written"]
    results = json.loads(result_file.read_text())
    for step in ("encode", "decode"):
        if step not in results:
            continue
        err = (out_dir / f"{step}.err").read_text(errors="replace")
        if results[step] != 0:
            lines = [line for line in err.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("inr: error:")]
            if not lines or not lines[-1].startswith("inr: error:") or len(errors) != 1:
                problems.append(f"{step} exit {results[step]} without one closing 'inr: error:' line: {err[-300:]!r}")
        if "Traceback" in err or "internal error" in err or "FUZZ:" in err:
            problems.append(f"{step}: {err[-300:]!r}")
    expected = {"result.json", "encode.out", "encode.err", "decode.out", "decode.err"}
    leftovers = [p.name for p in out_dir.iterdir() if p.name not in expected and not p.name.startswith("out.")]
    if leftovers:
        problems.append(f"left behind: {leftovers}")
    if results["encode"] == 0 and results.get("decode") != 0:
        problems.append("encode exit 0 but its output does not decode")
    if _digest(input_path) != input_digest:
        problems.append("the input was changed")
    return problems


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if file.is_file():
            digest.update(file.read_bytes())
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--max-rss-mb", type=float, default=1536.0)
    parser.add_argument("--keep", type=Path, help="folder to copy failing inputs into")
    parser.add_argument("--progress", type=int, default=0, help="print a line every N cases")
    args = parser.parse_args()

    os.environ.update(OMP_NUM_THREADS="1", INR_THREADS="1")
    import torch  # noqa: F401 - imported once here so that every forked child starts warm
    import inrcli.api  # noqa: F401
    import inrcli.cli  # noqa: F401
    from inrcli.signals import KINDS, signal_kind

    for name in KINDS:  # the kinds and their own libraries
        signal_kind(name)
    import imageio.plugins.ffmpeg  # noqa: F401
    import PIL.Image
    import soundfile  # noqa: F401
    import trimesh  # noqa: F401

    PIL.Image.init()
    work = Path(tempfile.mkdtemp(prefix="inr-signal-fuzz-"))
    started = time.monotonic()
    try:
        seed_dir = work / "seeds"
        seed_dir.mkdir()
        seeds = make_seeds(seed_dir)
        liars = make_liars(seed_dir, seeds)
        seeds_by_ext: dict[str, list[Path]] = {}
        for path in seeds:
            seeds_by_ext.setdefault(path.name.split(".", 1)[-1], []).append(path)
        rng = random.Random(args.seed)
        plan = [("liar", p) for p in liars] + [("seed", p) for p in seeds]
        while len(plan) < args.cases:
            plan.append(("mutant", rng.choice(seeds)))
        plan = plan[:max(args.cases, 1)]
        failures, running, peak_rss = [], {}, 0.0
        counts = {"pass": 0, "fail": 0, "accepted": 0}
        for index, (how, source) in enumerate(plan):
            while len(running) >= args.workers:
                peak_rss = _reap(running, args, failures, counts, peak_rss, block=True)
            case_dir = work / f"case{index}"
            out_dir = case_dir / "out"
            out_dir.mkdir(parents=True)
            if how == "mutant":
                input_path = make_case(source, case_dir, rng, seeds_by_ext)
            else:
                input_path = case_dir / source.name
                (shutil.copytree if source.is_dir() else shutil.copy)(source, input_path)
            digest = _digest(input_path)
            pid = os.fork()
            if pid == 0:
                try:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    child(input_path, out_dir)
                finally:
                    os._exit(0)
            running[pid] = (index, how, source.name, case_dir, out_dir, input_path, digest, time.monotonic())
            if args.progress and (index + 1) % args.progress == 0:
                print(f"{index + 1} cases, {counts['fail']} failures, {time.monotonic() - started:.0f} s",
                      file=sys.stderr, flush=True)
        while running:
            peak_rss = _reap(running, args, failures, counts, peak_rss, block=True)
    finally:
        for pid in list(locals().get("running", {})):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    summary = {"cases": len(plan), "passed": counts["pass"], "failed": counts["fail"],
               "encoded": counts["accepted"], "peak_rss_mb": round(peak_rss, 1),
               "seconds": round(time.monotonic() - started, 1), "seed": args.seed,
               "by_source (cases, encoded, seconds)": counts.get("by_source"), "failures": failures[:50]}
    print(json.dumps(summary))
    return 1 if failures else 0


def _reap(running: dict, args, failures: list, counts: dict, peak_rss: float, block: bool) -> float:
    """Wait for one child to finish (killing any past the timeout) and judge it."""
    while True:
        for pid, (index, how, name, case_dir, out_dir, input_path, digest, begun) in list(running.items()):
            if time.monotonic() - begun > args.timeout:
                os.kill(pid, signal.SIGKILL)
            done, status, rusage = os.wait4(pid, os.WNOHANG)
            if done == 0:
                continue
            del running[pid]
            problems = judge(case_dir, out_dir, status, rusage, digest, input_path, args.max_rss_mb)
            if time.monotonic() - begun > args.timeout:
                problems.append(f"timed out after {args.timeout:.0f} s")
            encoded = (out_dir / "result.json").exists() and json.loads((out_dir / "result.json").read_text())["encode"] == 0
            counts["accepted"] += encoded
            peak_rss = max(peak_rss, rusage.ru_maxrss / 1024)
            stats = counts.setdefault("by_source", {}).setdefault(name, [0, 0, 0.0])
            stats[0] += 1
            stats[1] += encoded
            stats[2] = round(stats[2] + time.monotonic() - begun, 2)
            if problems:
                counts["fail"] += 1
                failures.append({"case": index, "how": how, "from": name, "problems": problems})
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    kept = args.keep / f"case{index}-{input_path.name}"
                    (shutil.copytree if input_path.is_dir() else shutil.copy)(input_path, kept)
            else:
                counts["pass"] += 1
            shutil.rmtree(case_dir, ignore_errors=True)
            return peak_rss
        time.sleep(0.005)


if __name__ == "__main__":
    sys.exit(main())
