import pytest
import torch

# One thread: on a shared 2-core machine two threads make small ops ~100x slower under load.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_gallery(tmp_path_factory):
    """A gallery of tiny random-weight models of every task; yields its root folder."""
    from tests.gallery_fixture import build_tiny_gallery

    root = tmp_path_factory.mktemp("gallery")
    build_tiny_gallery(root)
    return root


@pytest.fixture
def use_gallery(tiny_gallery, monkeypatch):
    """Point gan_models at the tiny gallery for one test."""
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(tiny_gallery))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    return tiny_gallery


_SHIPPED = pytest.StashKey[dict]()


def _shipped_state() -> dict:
    """SHA-256 of the shipped manifest and every file under weights/: what no test may change."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = [root / "weights_manifest.json", *sorted((root / "weights").rglob("*"))]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def pytest_sessionstart(session):
    session.config.stash[_SHIPPED] = _shipped_state()


def pytest_sessionfinish(session, exitstatus):
    """A test that trains or publishes without pointing GAN_GALLERY_ROOT elsewhere would overwrite
    the shipped gallery; fail the run loudly instead of letting it land."""
    before = session.config.stash.get(_SHIPPED, None)
    if before is None:
        return
    after = _shipped_state()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if changed:
        print(f"\nERROR: the test run changed the shipped gallery: {changed[:5]}", flush=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
