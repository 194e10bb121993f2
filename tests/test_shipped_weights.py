"""What ships in weights/ is exactly what the manifest lists, and it stays small: each file at
most 30 MB, all of weights/ at most 120 MB (the repository carries it)."""

from __future__ import annotations

import hashlib

import pytest

from gan_models.manifest import PROJECT_ROOT, read_manifest

MANIFEST = PROJECT_ROOT / "weights_manifest.json"
WEIGHTS = PROJECT_ROOT / "weights"
MAX_FILE_BYTES = 30 * 10**6
MAX_TOTAL_BYTES = 120 * 10**6

pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason="no weights_manifest.json shipped")


def listed_files() -> dict[str, tuple[str, int]]:
    """Relative path -> (sha256, bytes) of every file the manifest lists."""
    out = {}
    for entry in read_manifest(MANIFEST).values():
        for f in [*(f for net in entry.networks.values() for f in net.files), *entry.extra_files]:
            out[f.path] = (f.sha256, f.bytes)
    return out


def test_every_listed_file_is_shipped_with_its_hash():
    for path, (sha, size) in listed_files().items():
        data = (PROJECT_ROOT / path).read_bytes()
        assert len(data) == size, path
        assert hashlib.sha256(data).hexdigest() == sha, f"{path}: republish it (python -m training.publish)"


def shipped_files() -> set[str]:
    return {p.relative_to(PROJECT_ROOT).as_posix() for p in WEIGHTS.rglob("*") if p.is_file()}


def test_nothing_unlisted_hides_in_weights():
    # the only unlisted files are the model cards publish writes beside each network (Hub README)
    unlisted = shipped_files() - set(listed_files())
    assert {p for p in unlisted if not p.endswith("/README.md")} == set()


def test_weights_fit_the_repository_budget():
    sizes = {p: (PROJECT_ROOT / p).stat().st_size for p in shipped_files()}
    too_big = {p: s for p, s in sizes.items() if s > MAX_FILE_BYTES}
    assert not too_big, f"files over 30 MB: {too_big}"
    assert sum(sizes.values()) <= MAX_TOTAL_BYTES, f"weights/ holds {sum(sizes.values()) / 1e6:.1f} MB"


def test_shipped_ablations_name_the_model_their_recipe_ablates():
    """The menus list an ablation after its full model: the manifest says which, as the recipe does."""
    from training.recipes import RECIPES

    entries = read_manifest(MANIFEST)
    ablations = {i: e.ablation_of for i, e in entries.items() if e.ablation_of}
    assert ablations == {i: RECIPES[i].ablation_of for i in entries if i in RECIPES and RECIPES[i].ablation_of}
    assert len(ablations) == 4 and set(ablations.values()) <= set(entries)
