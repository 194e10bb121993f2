"""training/device_runs.sh, rehearsed on the CPU: pack a plan's data, train and publish it in a copy
of the project without weights/ (as the tree travels to a device machine), and unpack what comes
back into weights/ and the manifest. Needs the real data root (skipped without it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gan_models.manifest import PROJECT_ROOT
from training.data import data_root

pytestmark = pytest.mark.slow

SCRIPT = "training/device_runs.sh"


def _project_copy(dest: Path) -> Path:
    skip = shutil.ignore_patterns(".git", ".venv", "runs", "weights", "test-artifacts", "__pycache__", ".*cache")
    shutil.copytree(PROJECT_ROOT, dest, ignore=skip)
    return dest


def _step(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(["bash", SCRIPT, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600)


@pytest.fixture()
def project(tmp_path):
    if not (data_root() / "MNIST").is_dir():
        pytest.skip(f"the real data root {data_root()} is not here (set GAN_GALLERY_DATA)")
    return _project_copy(tmp_path / "project")


def test_a_plan_travels_trains_publishes_and_comes_back(project, tmp_path):
    plan = tmp_path / "plan.txt"
    plan.write_text("# two steps only\nmnist-dcgan-ns --steps 2 --checkpoint-every 2 --sample-every 0 --half\n")
    packed = _step(project, "pack", str(plan), GAN_GALLERY_DATA=str(data_root()))
    assert packed.returncode == 0, packed.stderr
    assert (project / "runs/device/data.tar.gz").stat().st_size > 1_000_000

    out = tmp_path / "out"
    trained = _step(project, "train", str(plan), OUT=str(out), GAN_GALLERY_DATA="/nonexistent")
    assert trained.returncode == 0, trained.stderr + trained.stdout
    assert "mnist-dcgan-ns: published" in trained.stdout
    parts = sorted(out.iterdir())
    assert parts and all(p.stat().st_size <= 16 * 2**20 for p in parts)  # what a device call returns

    shutil.rmtree(project / "weights")  # here: the files come only from what came back
    unpacked = _step(project, "unpack", str(out))
    assert unpacked.returncode == 0, unpacked.stderr
    assert (project / "weights/mnist-dcgan-ns/generator/model.safetensors").is_file()
    models = json.loads((project / "weights_manifest.json").read_text())["models"]
    entry = next(m for m in models if m["id"] == "mnist-dcgan-ns")
    assert entry["training"]["steps"] == 2
    assert entry["training"]["precision"] == "float16 weights"
    assert entry["metrics"] == {}  # to be measured here with training.evaluate
    # the recorded command reads as it would here: no path of the device's unpacked data in it
    assert "runs/device" not in entry["training"]["command"]
    assert entry["training"]["command"].endswith("python -m training.publish runs/mnist-dcgan-ns --half")


def test_pack_refuses_a_recipe_it_has_no_data_for(project, tmp_path):
    plan = tmp_path / "plan.txt"
    plan.write_text("not-a-recipe --steps 2\n")
    packed = _step(project, "pack", str(plan), GAN_GALLERY_DATA=str(data_root()))
    assert packed.returncode != 0
    assert "no data set known for recipe not-a-recipe" in packed.stderr
    assert not (project / "runs/device/data.tar.gz").exists()


def test_a_run_cut_before_its_first_checkpoint_is_reported_and_nothing_is_unpacked(project, tmp_path):
    plan = tmp_path / "plan.txt"
    plan.write_text("mnist-dcgan-ns --steps 100000 --checkpoint-every 100000\n")
    assert _step(project, "pack", str(plan), GAN_GALLERY_DATA=str(data_root())).returncode == 0
    out = tmp_path / "out"
    trained = _step(project, "train", str(plan), OUT=str(out), RUN_LIMIT_S="2")
    assert trained.returncode == 0, trained.stderr
    assert "mnist-dcgan-ns: training exit 124 (cut at RUN_LIMIT_S)" in trained.stdout
    assert "mnist-dcgan-ns: publish failed" in trained.stdout
    manifest = (project / "weights_manifest.json").read_text()
    unpacked = _step(project, "unpack", str(out))
    assert unpacked.returncode == 0, unpacked.stderr
    assert "publish failed" in unpacked.stdout
    assert (project / "weights_manifest.json").read_text() == manifest  # nothing came back to put in place


@pytest.mark.parametrize(
    "plan", sorted((PROJECT_ROOT / "training" / "device_plans").glob("*.txt")), ids=lambda p: p.name
)
def test_every_shipped_device_plan_names_known_recipes_with_valid_flags(plan):
    """A plan is read on the device machine, where a typo costs a machine start: check it here."""
    from training.__main__ import build_config
    from training.recipes import RECIPES

    lines = [ln.split("#")[0].split() for ln in plan.read_text().splitlines()]
    runs = [words for words in lines if words]
    assert runs, f"{plan.name} plans no run"
    names = [name for name, *_ in runs]
    assert len(set(names)) == len(names), f"{plan.name}: a recipe twice would share runs/<recipe>"
    for name, *flags in runs:
        assert name in RECIPES, f"{plan.name}: no recipe {name}"
        cfg, publish = build_config(name, [f for f in flags if f != "--half"] + ["--no-publish"])
        assert cfg.model_id == name and not publish
