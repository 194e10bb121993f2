"""A small local stand-in for the Hugging Face Hub's file endpoint, for the download tests.

It answers ``GET``/``HEAD /{repo_id}/resolve/{revision}/{filename}`` the way huggingface.co does, with
the headers ``huggingface_hub.file_download`` reads:

- every answer carries ``X-Repo-Commit`` (the commit the revision resolves to);
- a small (git) file: ``200`` with ``ETag`` = its git blob SHA-1 and ``Content-Length``;
- an LFS file (``*.safetensors``, or anything in ``lfs_suffixes``): ``302`` to a second "CDN" server on
  another port (another origin, so the client does not follow it on ``HEAD`` and takes the metadata
  from the redirect), with ``X-Linked-Etag`` = the file's SHA-256 and ``X-Linked-Size``;
- unknown repository: ``401`` with ``X-Error-Code: RepoNotFound``; unknown revision: ``404``
  ``RevisionNotFound``; missing file: ``404`` ``EntryNotFound``.

Files are served from ``folder/{repo_id}/{filename}`` and read on every request, so a test can tamper
with a file between requests. Each request is recorded in ``requests`` as (method, path).

    with HubServer(folder, {"gallery/tiny": "<40 hex>"}) as hub:
        ...  # point HF_ENDPOINT (and huggingface_hub.constants, read at import) at hub.url
    # after the block the port refuses connections: an unreachable Hub
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)$")
_CDN = re.compile(r"^/cdn/(?P<sha>[0-9a-f]{64})$")


def git_blob_sha1(data: bytes) -> str:
    """The object id git gives a blob: what the Hub sends as the ETag of a non-LFS file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hub: HubServer, role: str):
        self.hub, self.role = hub, role
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def _send(self, status: int, headers: dict[str, str], data: bytes = b"", body: bool = True):
        self.send_response(status)
        # One request per connection: once stop() closes the listening sockets nothing answers any more.
        self.close_connection = True
        headers = {"Content-Length": str(len(data)), "Connection": "close", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body and data:
            self.wfile.write(data)

    def _error(self, status: int, code: str, body: bool, extra: dict[str, str] | None = None):
        message = f"{code}: {self.path}".encode()
        headers = {"X-Error-Code": code, "X-Error-Message": code, "Content-Type": "text/plain", **(extra or {})}
        self._send(status, headers, message, body)

    def _answer(self, body: bool):
        hub = self.server.hub
        path = unquote(urlsplit(self.path).path)
        hub.requests.append((self.command, path))
        if self.server.role == "cdn":
            m = _CDN.match(path)
            data = hub.blobs.get(m["sha"]) if m else None
            if data is None:
                return self._send(404, {"Content-Type": "text/plain"}, b"no such blob", body)
            headers = {"Content-Type": "application/octet-stream", "ETag": f'"{m["sha"]}"'}
            return self._send(200, headers, data, body)
        m = _RESOLVE.match(path)
        if not m:
            return self._send(404, {"Content-Type": "text/plain"}, b"not found", body)
        repo, revision, filename = m["repo"], m["revision"], m["filename"]
        if repo not in hub.repos:
            return self._error(401, "RepoNotFound", body)
        commit = hub.repos[repo]
        if revision not in (commit, "main"):
            return self._error(404, "RevisionNotFound", body)
        file = hub.folder / repo / filename
        if ".." in Path(filename).parts or not file.is_file():
            return self._error(404, "EntryNotFound", body, {"X-Repo-Commit": commit})
        data = file.read_bytes()
        if not filename.endswith(hub.lfs_suffixes):
            headers = {"X-Repo-Commit": commit, "ETag": f'"{git_blob_sha1(data)}"', "Content-Type": "text/plain"}
            return self._send(200, headers, data, body)
        sha = hashlib.sha256(data).hexdigest()
        hub.blobs[sha] = data
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{git_blob_sha1(data)}"',
            "X-Linked-Etag": f'"{sha}"',
            "X-Linked-Size": str(len(data)),
            "Location": f"{hub.cdn_url}/cdn/{sha}",
        }
        return self._send(302, headers, b"", body)


class HubServer:
    """A Hub endpoint at ``url`` (and its CDN at ``cdn_url``), serving ``folder/{repo_id}/...``;
    ``repos`` maps each repo id to the 40-hex commit its revisions resolve to."""

    def __init__(self, folder: Path, repos: dict[str, str], lfs_suffixes: tuple[str, ...] = (".safetensors",)):
        self.folder, self.repos, self.lfs_suffixes = Path(folder), dict(repos), lfs_suffixes
        self.requests: list[tuple[str, str]] = []
        self.blobs: dict[str, bytes] = {}
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self.url = self.cdn_url = ""  # set by start(); kept after stop() (the address then refuses connections)

    def start(self) -> HubServer:
        for role in ("hub", "cdn"):
            server = _Server(self, role)
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        hub, cdn = (s.server_address[:2] for s in self._servers)
        self.url, self.cdn_url = f"http://{hub[0]}:{hub[1]}", f"http://{cdn[0]}:{cdn[1]}"
        return self

    def stop(self) -> None:
        """Shut both servers down and close their sockets: the ports then refuse connections."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self._servers:
            self.stop()
