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

    shape.RESOLUTION, shape.POOL_POINTS = 16, 4096
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
        saved, saved_streams = (os.dup(1), os.dup(2)), (sys.stdout, sys.stderr)
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
            sys.stdout.close()
            sys.stderr.close()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sys.stdout, sys.stderr = saved_streams
    return code


def judge(out_dir: Path, death: str | None, rss_mb: float, input_digest: str, input_path: Path,
          max_rss_mb: float) -> list[str]:
    """The failures of one finished case (empty when it passed)."""
    problems = [death] if death else []
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


# ---------------------------------------------------------------- workers: forked once, many cases each

class Worker:
    """A child forked from the warm parent that runs cases one after another.

    Its peak RSS (``ru_maxrss``) only grows, so a case is charged the peak reached by its end; a
    worker is replaced after ``CASES_PER_WORKER`` cases so the measure does not drift, and after
    any death (the case it was running is the failure)."""

    CASES_PER_WORKER = 100

    def __init__(self):
        task_read, self.task_write = os.pipe()
        self.result_read, result_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.task_write)
            os.close(self.result_read)
            self._serve(task_read, result_write)
        os.close(task_read)
        os.close(result_write)
        self.done, self.case, self.begun = 0, None, 0.0

    @staticmethod
    def _serve(task_read: int, result_write: int) -> None:
        import resource

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        tasks = os.fdopen(task_read, "r")
        try:
            for line in tasks:
                input_path, out_dir = json.loads(line)
                child(Path(input_path), Path(out_dir))
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                os.write(result_write, (json.dumps(rss) + "\n").encode())
        finally:
            os._exit(0)

    def start(self, case: dict) -> None:
        self.case, self.begun = case, time.monotonic()
        os.write(self.task_write, (json.dumps([str(case["input"]), str(case["out"])]) + "\n").encode())

    def finish(self, timeout: float) -> tuple[str | None, float] | None:
        """``(death or None, peak RSS MB)`` once the running case ends; None while it runs."""
        import select

        ready, _, _ = select.select([self.result_read], [], [], 0)
        if ready:
            line = b""
            while not line.endswith(b"\n"):
                piece = os.read(self.result_read, 4096)
                if not piece:
                    break
                line += piece
            if line.endswith(b"\n"):
                self.done += 1
                return None, json.loads(line)
        if time.monotonic() - self.begun > timeout:
            os.kill(self.pid, signal.SIGKILL)
        done, status, rusage = os.wait4(self.pid, os.WNOHANG)
        if done == 0:
            return None if not ready else ("worker ended without a result", 0.0)
        self.pid = None
        if os.WIFSIGNALED(status):
            timed_out = time.monotonic() - self.begun > timeout
            return (f"timed out after {timeout:.0f} s" if timed_out else f"killed by signal {os.WTERMSIG(status)}",
                    rusage.ru_maxrss / 1024)
        return f"worker exited with status {os.WEXITSTATUS(status)} mid-case", rusage.ru_maxrss / 1024

    def stop(self) -> None:
        if self.pid:
            os.close(self.task_write)
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
        os.close(self.result_read)


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
    _import_everything()
    work = Path(tempfile.mkdtemp(prefix="inr-signal-fuzz-"))
    started = time.monotonic()
    workers: list[Worker] = []
    report = Report(args)
    try:
        seed_dir = work / "seeds"
        seed_dir.mkdir()
        seeds = make_seeds(seed_dir)
        liars = make_liars(seed_dir, seeds)
        _warm_up(seeds, work / "warm")
        cases = _plan(seeds, liars, args)
        workers = [Worker() for _ in range(max(1, args.workers))]
        idle = list(workers)
        for index, (how, source, rng_state) in enumerate(cases):
            while not idle:
                idle += _collect(workers, args, report)
            worker = idle.pop()
            worker.start(_prepare(index, how, source, rng_state, work, seeds))
            if args.progress and (index + 1) % args.progress == 0:
                print(f"{index + 1} cases, {report.counts['fail']} failures, {time.monotonic() - started:.0f} s",
                      file=sys.stderr, flush=True)
        while any(w.case for w in workers):
            _collect(workers, args, report)
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report.summary(len(cases), time.monotonic() - started)))
    return 1 if report.failures else 0


def _import_everything() -> None:
    """torch, the CLI, every kind and their libraries, imported once so every worker starts warm."""
    import imageio.plugins.ffmpeg  # noqa: F401
    import PIL.Image
    import torch  # noqa: F401

    import inrcli.api  # noqa: F401
    import inrcli.cli  # noqa: F401
    from inrcli.signals import KINDS, signal_kind

    for name in KINDS:
        signal_kind(name)
    PIL.Image.init()


def _plan(seeds: list[Path], liars: list[Path], args) -> list[tuple[str, Path, int]]:
    """Every liar and seed once, then random mutants of random seeds."""
    rng = random.Random(args.seed)
    plan = [("liar", p, 0) for p in liars] + [("seed", p, 0) for p in seeds]
    while len(plan) < args.cases:
        plan.append(("mutant", rng.choice(seeds), rng.getrandbits(64)))
    return plan[:max(args.cases, 1)]


def _prepare(index: int, how: str, source: Path, rng_state: int, work: Path, seeds: list[Path]) -> dict:
    case_dir = work / f"case{index}"
    out_dir = case_dir / "out"
    out_dir.mkdir(parents=True)
    if how == "mutant":
        by_ext = [p for p in seeds if p.suffix == source.suffix]
        input_path = make_case(source, case_dir, random.Random(rng_state), {source.name.split(".", 1)[-1]: by_ext})
    else:
        input_path = case_dir / source.name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, input_path)
    return {"index": index, "how": how, "from": source.name, "dir": case_dir, "out": out_dir, "input": input_path,
            "digest": _digest(input_path)}


class Report:
    """Counts, failures and per-source timing of a run."""

    def __init__(self, args):
        self.args, self.failures, self.by_source = args, [], {}
        self.counts = {"pass": 0, "fail": 0, "encoded": 0}
        self.peak_rss = 0.0

    def add(self, case: dict, death: str | None, rss_mb: float, seconds: float) -> None:
        problems = judge(case["out"], death, rss_mb, case["digest"], case["input"], self.args.max_rss_mb)
        result = case["out"] / "result.json"
        encoded = result.exists() and json.loads(result.read_text())["encode"] == 0
        self.counts["encoded"] += encoded
        self.peak_rss = max(self.peak_rss, rss_mb)
        stats = self.by_source.setdefault(case["from"], [0, 0, 0.0])
        stats[0], stats[1], stats[2] = stats[0] + 1, stats[1] + encoded, round(stats[2] + seconds, 2)
        if problems:
            self.counts["fail"] += 1
            self.failures.append({"case": case["index"], "how": case["how"], "from": case["from"], "problems": problems})
            if self.args.keep:
                self.args.keep.mkdir(parents=True, exist_ok=True)
                kept = self.args.keep / f"case{case['index']}-{case['input'].name}"
                (shutil.copytree if case["input"].is_dir() else shutil.copy)(case["input"], kept)
        else:
            self.counts["pass"] += 1
        shutil.rmtree(case["dir"], ignore_errors=True)

    def summary(self, cases: int, seconds: float) -> dict:
        return {"cases": cases, "passed": self.counts["pass"], "failed": self.counts["fail"],
                "encoded": self.counts["encoded"], "peak_rss_mb": round(self.peak_rss, 1),
                "seconds": round(seconds, 1), "seed": self.args.seed,
                "by_source (cases, encoded, seconds)": self.by_source, "failures": self.failures[:50]}


def _collect(workers: list[Worker], args, report: Report) -> list[Worker]:
    """Wait until at least one running case ends; judge it; return the workers free again."""
    while True:
        freed = []
        for position, worker in enumerate(workers):
            if worker.case is None:
                continue
            outcome = worker.finish(args.timeout)
            if outcome is None:
                continue
            death, rss_mb = outcome
            report.add(worker.case, death, rss_mb, time.monotonic() - worker.begun)
            worker.case = None
            if worker.pid is None or worker.done >= Worker.CASES_PER_WORKER:
                worker.stop()
                workers[position] = worker = Worker()
            freed.append(worker)
        if freed:
            return freed
        time.sleep(0.002)


def _warm_up(seeds: list[Path], folder: Path) -> None:
    """One encode and decode per kind in the parent, so that torch's lazily built kernels exist
    before the workers fork (one thread: no thread pool is inherited)."""
    import torch

    torch.set_num_threads(1)
    for name in ("image.png", "audio.wav", "video.gif", "shape.obj", "graph.npz", "volume.npy"):
        out = folder / name
        out.mkdir(parents=True)
        child(next(p for p in seeds if p.name == name), out)


if __name__ == "__main__":
    sys.exit(main())
