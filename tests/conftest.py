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
