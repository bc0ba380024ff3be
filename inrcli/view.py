"""``inr view``: a small local web server for the browser viewer in ``inrcli/viewer/``.

The page decodes the files itself (WebGL2, or JavaScript on the CPU); the server only hands out
bytes.  It answers exactly these paths and nothing else — there is no mapping from a URL to the
filesystem, so ``../`` and friends have nothing to reach:

    /                      the page (viewer/index.html)
    /viewer/NAME           the page's own assets (the files in inrcli/viewer/, listed at start)
    /api/files             JSON: one entry per named file (name, kind, URLs)
    /files/I.safetensors   the I-th named INR file, validated before the server starts
    /originals/I           the original image given for the I-th file (--original)
    /meshes/I.json         the surface of a shape's decode, extracted here once, for orbiting

It listens on 127.0.0.1 only, refuses a request whose Host header is not this server's own
address (so a web page elsewhere cannot reach it through DNS rebinding), serves GET and HEAD
only, and sends a Content-Security-Policy that forbids the page any other origin.
"""

from __future__ import annotations

import json
import mimetypes
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from inrcli.errors import InrError, UsageError

VIEWER_DIR = Path(__file__).with_name("viewer")
ORIGINAL_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                  ".gif": "image/gif", ".bmp": "image/bmp"}  # what a browser shows itself
CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@dataclass
class ViewedFile:
    """One file the page may show: the INR file, its kind, and an optional original image."""

    path: Path
    kind: str
    original: Path | None = None
    as_surface: bool = False
    """Drawn as the surface of its decode (a shape's field), fetched from /meshes/I.json."""
    mesh: bytes | None = None


@dataclass
class Site:
    """Everything the server may answer, fixed before it starts: path → (content type, bytes source)."""

    files: list[ViewedFile]
    mesh_of: Callable[[Path], bytes] | None = None
    assets: dict[str, Path] = field(init=False)
    """The page's own files, name → path, listed once at start."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.assets = {path.name: path for path in sorted(VIEWER_DIR.iterdir())
                       if path.is_file() and path.suffix in (".html", ".js", ".css")}

    def listing(self) -> bytes:
        entries = [{"name": f.path.name, "kind": f.kind, "url": f"/files/{i}.safetensors",
                    "original": f"/originals/{i}" if f.original else None,
                    "mesh": f"/meshes/{i}.json" if f.as_surface and self.mesh_of else None}
                   for i, f in enumerate(self.files)]
        return json.dumps(entries).encode()

    def answer(self, path: str) -> tuple[str, bytes] | InrError | None:
        """The content type and body for ``path``, None (404) for anything not listed above, or
        the error that stopped a shape's surface from being extracted."""
        if path in ("/", "/index.html"):
            return "text/html; charset=utf-8", self.assets["index.html"].read_bytes()
        if path == "/api/files":
            return "application/json", self.listing()
        head, _, name = path.rpartition("/")
        if head == "/viewer" and name in self.assets:
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return kind + ("; charset=utf-8" if kind.startswith("text/") or kind.endswith("javascript") else ""), \
                self.assets[name].read_bytes()
        index = _index(name, {"/files": ".safetensors", "/originals": "", "/meshes": ".json"}.get(head), len(self.files))
        if index is None:
            return None
        viewed = self.files[index]
        if head == "/files":
            return "application/octet-stream", viewed.path.read_bytes()
        if head == "/originals" and viewed.original:
            return ORIGINAL_TYPES[viewed.original.suffix.lower()], viewed.original.read_bytes()
        if head == "/meshes" and viewed.as_surface and self.mesh_of:
            with self.lock:  # decoded once, by one thread
                if viewed.mesh is None:
                    try:
                        viewed.mesh = self.mesh_of(viewed.path)
                    except InrError as exc:
                        return exc
            return "application/json", viewed.mesh
        return None


def _index(name: str, suffix: str | None, count: int) -> int | None:
    """``"3.safetensors"`` → 3 when that is a listed file's number (digits only, no sign, no spaces)."""
    if suffix is None or not name.endswith(suffix):
        return None
    digits = name[: len(name) - len(suffix)]
    if not digits.isascii() or not digits.isdigit() or len(digits) > 6:
        return None
    index = int(digits)
    return index if index < count else None


def handler_for(site: Site, port_of: Callable[[], int]) -> type[BaseHTTPRequestHandler]:
    """A request handler class answering from ``site`` only."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "inr-view"
        sys_version = ""

        def do_GET(self):
            self._respond(send_body=True)

        def do_HEAD(self):
            self._respond(send_body=False)

        def _respond(self, send_body: bool):
            port = port_of()
            if self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
                return self._plain(HTTPStatus.FORBIDDEN, "forbidden: unexpected Host header", send_body)
            answer = site.answer(urlsplit(self.path).path)
            if answer is None:
                return self._plain(HTTPStatus.NOT_FOUND, "not found", send_body)
            if isinstance(answer, InrError):  # e.g. a field with no surface in it
                return self._plain(HTTPStatus.UNPROCESSABLE_ENTITY, str(answer), send_body)
            content_type, body = answer
            self.send_response(HTTPStatus.OK)
            self._headers(content_type, len(body))
            if send_body:
                self.wfile.write(body)

        def _plain(self, status: HTTPStatus, text: str, send_body: bool):
            body = (text + "\n").encode()
            self.send_response(status)
            self._headers("text/plain; charset=utf-8", len(body))
            if send_body:
                self.wfile.write(body)

        def _headers(self, content_type: str, length: int):
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", CSP)
            self.end_headers()

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass  # the terminal is the user's; requests are not news

    return Handler


def make_server(site: Site, port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 (``port`` 0: a free one, chosen by the system), not yet serving."""
    holder = {}
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(site, lambda: holder["port"]))
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})") from None
    server.daemon_threads = True
    holder["port"] = server.server_address[1]
    return server


def check_original(path: Path) -> Path:
    """An original image the browser can show itself, or a usage error."""
    if path.suffix.lower() not in ORIGINAL_TYPES:
        raise UsageError(f"--original {path.name}: the page shows {', '.join(sorted(ORIGINAL_TYPES))} images")
    if not path.is_file():
        raise UsageError(f"--original {path}: no such file")
    return path


def surface_json(path: Path) -> bytes:
    """The surface of a file's decode (kinds viewed as surfaces), in its normalised coordinates,
    as JSON ``{"vertices": [x, y, z, …], "faces": [a, b, c, …]}``."""
    from inrcli import api

    inr = api.load(str(path))
    vertices, faces = api.kind_of(inr).view_surface(inr)
    return json.dumps({"vertices": [round(float(v), 5) for v in vertices.ravel()],
                       "faces": [int(i) for i in faces.ravel()]}).encode()


def build_site(files: list[str], originals: list[str]) -> Site:
    """Validate every named file (and original) before anything is served."""
    from inrcli import fileformat
    from inrcli.models import is_membered
    from inrcli.signals import signal_kind

    if not files:
        raise UsageError("name at least one .safetensors file to view")
    if len(originals) > len(files):
        raise UsageError(f"{len(originals)} --original images for {len(files)} file(s): give at most one per file, in order")
    viewed = []
    for i, name in enumerate(files):
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"{name}: no such file")
        inr = fileformat.load(path)  # refuses anything inr itself would not decode
        if is_membered(inr.model):  # the page's decoders know single networks, not a code per member
            raise UsageError(f"{name}: the viewer does not show sets yet; decode a member with inr decode --member")
        kind = signal_kind(inr.modality)
        original = check_original(Path(originals[i])) if i < len(originals) else None
        if original and not kind.viewed_beside_original:
            raise UsageError(f"--original {original.name}: {path.name} holds {inr.modality}, "
                             "which the page does not show beside a picture")
        viewed.append(ViewedFile(path, inr.modality, original, kind.viewed_as_surface))
    return Site(viewed, mesh_of=surface_json)


def serve(server: ThreadingHTTPServer) -> None:
    """Answer requests until interrupted (Ctrl-C), then close the socket."""
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
