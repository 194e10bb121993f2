"""The app through its API: ``python app.py`` in a subprocess on a tiny random-weight gallery,
driven by gradio_client, one test per endpoint, bad inputs, and the shipped manifest.

The gallery is the shared tiny one plus three additions made here: an identity classifier over
the CVAE-GAN's identities (so face swap predicts the identity), a model whose weights are
missing (so the page must name it and its training command), and recorded metrics with a
Stacked-MNIST-style mode histogram.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_server import PROJECT, gallery_env, get_json, running_app

MISSING_CMD = "python -m training tiny --id tiny-missing"
HISTOGRAM = [0] * 1000
for _mode, _count in [(0, 5), (7, 3), (123, 2), (999, 10)]:
    HISTOGRAM[_mode] = _count


def extend_gallery(root: Path) -> None:
    """Add an identity classifier, a model with missing weights and recorded metrics."""
    from gan_models.manifest import raw_manifest, write_manifest
    from gan_models.networks import Classifier, DCGANGenerator
    from training.publish import publish_networks, upsert_entry

    torch.manual_seed(1)
    base = {
        "description": "Random weights for tests.",
        "dataset": {"name": "synthetic", "licence": "test only"},
        "metrics": {},
    }
    nets = publish_networks("tiny-faces-classifier", {"classifier": ("classifier", Classifier(64, 3, 3, 8))}, root)
    upsert_entry(
        {
            **base,
            "id": "tiny-faces-classifier",
            "title": "Tiny identity classifier",
            "task": "classifier",
            "architecture": "classifier",
            "resolution": 64,
            "channels": 3,
            "class_names": ["Ada", "Bo", "Cy"],
            "networks": nets,
            "training": {"command": "python -m training tiny --id tiny-faces-classifier"},
        },
        root,
    )
    nets = publish_networks("tiny-missing", {"generator": ("dcgan_generator", DCGANGenerator(28, 1, 16, 8))}, root)
    upsert_entry(
        {
            **base,
            "id": "tiny-missing",
            "title": "Tiny model whose weights are missing",
            "task": "sample",
            "architecture": "dcgan",
            "resolution": 28,
            "channels": 1,
            "class_names": [],
            "networks": nets,
            "training": {"command": MISSING_CMD},
        },
        root,
    )
    (root / "weights" / "tiny-missing" / "generator" / "model.safetensors").unlink()
    data = raw_manifest(root / "weights_manifest.json")
    for m in data["models"]:
        if m["id"] == "tiny-colour":
            m["metrics"] = {
                "command": "python -m training.evaluate tiny-colour",
                "values": {"fid": 123.4, "modes": 4},
                "samples": 20,
                "seed": 0,
                "reference": {"fid": 1.5},
                "details": {"mode_histogram": HISTOGRAM},
            }
    write_manifest(data, root / "weights_manifest.json")


@pytest.fixture(scope="module")
def gallery_root(tiny_gallery, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("app-gallery")
    shutil.copytree(tiny_gallery, root, dirs_exist_ok=True)
    extend_gallery(root)
    return root


@pytest.fixture(scope="module")
def server(gallery_root):
    env = gallery_env(gallery_root)
    with running_app(env, PROJECT / "test-artifacts" / "app-api.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server) -> Client:
    return Client(server.url, verbose=False)


@pytest.fixture
def library(gallery_root, monkeypatch):
    """gan_models pointed at the same gallery as the server, to compare with the API."""
    import gan_models

    monkeypatch.setenv("GAN_GALLERY_ROOT", str(gallery_root))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    return gan_models


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def write_png(path: Path, array: np.ndarray) -> str:
    Image.fromarray(array).save(path)
    return str(path)


@pytest.fixture(scope="module")
def face_png(tmp_path_factory) -> str:
    rng = np.random.default_rng(0)
    return write_png(tmp_path_factory.mktemp("faces") / "face.png", rng.integers(0, 256, (80, 72, 3), dtype=np.uint8))


# --------------------------------------------------------------------------- health and listing


def test_healthz_lists_loaded_and_unavailable_models(server, client):
    status, body = server.health()
    assert status == 200
    assert body["status"] == "ok"
    expected = {"tiny-digits", "tiny-colour", "tiny-cvaegan", "tiny-pix2pix", "tiny-classifier", "tiny-toy"}
    assert expected | {"tiny-faces-classifier"} == set(body["models"])
    assert set(body["unavailable"]) == {"tiny-missing"}
    assert MISSING_CMD in body["unavailable"]["tiny-missing"]
    assert client.predict(api_name="/health") == body


def test_ping_is_queued_like_the_model_endpoints(server, client):
    # bench/serving.py's baseline: it travels the queue like the model endpoints
    assert client.predict(api_name="/ping") == "pong"
    _, config = get_json(server.url + "/config")
    deps = {d.get("api_name"): d for d in config["dependencies"]}
    assert deps["ping"]["queue"] is True and deps["sample"]["queue"] is True and deps["health"]["queue"] is False


def test_list_models_cards(client, gallery_root):
    models = {m["id"]: m for m in client.predict(api_name="/list_models")}
    manifest = json.loads((gallery_root / "weights_manifest.json").read_text())
    assert list(models) == [m["id"] for m in manifest["models"]]
    digits = models["tiny-digits"]
    sha = next(
        f["sha256"] for f in manifest["models"][0]["networks"]["generator"]["files"] if "safetensors" in f["path"]
    )
    assert digits["revision"] == sha[:12]
    assert digits["available"] and digits["parameters"] > 0 and digits["file_bytes"] > 0
    assert digits["training_command"] == "python -m training tiny --id tiny-digits"
    assert digits["licence"] == "test only"
    assert models["tiny-colour"]["metrics"]["values"]["fid"] == 123.4
    assert not models["tiny-missing"]["available"]
    assert MISSING_CMD in models["tiny-missing"]["reason"]


def test_page_names_missing_models_and_their_training_command(server):
    status, config = get_json(server.url + "/config")
    assert status == 200
    text = json.dumps(config)
    assert "tiny-missing" in text and MISSING_CMD in text  # the notice on top of the page
    assert "Unavailable" in text
    assert "123.4" in text and "20 samples" in text  # a card shows measured metrics with the sample count
    assert "python -m training.evaluate tiny-colour" in text
    assert config["analytics_enabled"] is False
    assert config["mcp_server"] is False


# --------------------------------------------------------------------------- sample


def test_same_seed_same_images_as_the_library(client, library):
    grid_a, items_a, recipe = client.predict("tiny-digits", 7, 12, "3", 0, api_name="/sample")
    grid_b, items_b, _ = client.predict("tiny-digits", 7, 12, "3", 0, api_name="/sample")
    _, items_c, _ = client.predict("tiny-digits", 8, 12, "3", 0, api_name="/sample")
    assert len(items_a) == 12
    assert np.array_equal(pixels(grid_a), pixels(grid_b))
    got = np.stack([pixels(i["image"]) for i in items_a])
    assert np.array_equal(got, np.stack([pixels(i["image"]) for i in items_b]))
    assert not np.array_equal(got, np.stack([pixels(i["image"]) for i in items_c]))
    model = library.load_model("tiny-digits", "cpu")
    expected = library.sample(model, 12, 7, label=3)[..., 0]
    assert np.array_equal(got, expected)  # the downloads are the library's images, bit for bit
    assert all(i["caption"].endswith("· 3") for i in items_a)
    assert recipe["seed"] == 7 and recipe["class"] == "3" and recipe["model"] == "tiny-digits"
    assert "gan_models.sample(model, n=12, seed=7, label=3" in recipe["python"]
    assert recipe["link"] == "?tab=sample&model=tiny-digits&seed=7&count=12&class=3"


def test_a_link_names_a_tab_and_settings_that_tab_takes():
    from gan_models.inputs import InputError
    from gan_models.service import link, linked

    assert linked({}) is None and linked({"seed": "3"}) is None  # no tab: the page as usual
    assert linked({"tab": "sample", "seed": "3"}) == ("sample", {"seed": "3"})
    assert linked({"tab": "sample", "seed": "3", "__theme": "dark"}) == ("sample", {"seed": "3"})  # Gradio's
    assert linked({"tab": "modes"}) == ("modes", {})  # every tab opens from a link
    recipe = {"model": "m", "seed_a": 1, "seed_b": 2, "steps": 8, "method": "slerp", "class": None, "python": ""}
    assert link("interpolate", recipe) == "?tab=interpolate&model=m&seed_a=1&seed_b=2&steps=8&method=slerp"
    assert (
        link("swap", {"model": "m", "seed": 4, "identity": "(predicted)", "count": 2})
        == "?tab=swap&model=m&seed=4&count=2"
    )
    with pytest.raises(InputError, match="no tab 'faces' opens from a link"):
        linked({"tab": "faces"})
    with pytest.raises(InputError, match="not python, seed_a"):  # another tab's or no tab's settings
        linked({"tab": "sample", "seed_a": "1", "python": "x"})
    with pytest.raises(InputError, match="the pix2pix tab takes no settings, not seed"):
        linked({"tab": "pix2pix", "seed": "1"})


def test_sample_truncation_and_the_largest_api_seed(client):
    _, items, recipe = client.predict("tiny-colour", 2**63 - 1, 3, None, 0.5, api_name="/sample")
    assert len(items) == 3 and pixels(items[0]["image"]).shape == (32, 32, 3)
    assert recipe["seed"] == 2**63 - 1 and recipe["truncation"] == 0.5


def test_sixteen_images_of_a_28px_model_answer_well_under_a_second(server):
    fast = Client(server.url, verbose=False, download_files=False)
    fast.predict("tiny-digits", 0, 16, None, 0, api_name="/sample")  # warm
    times = []
    for seed in range(3):
        start = time.perf_counter()
        fast.predict("tiny-digits", seed, 16, None, 0, api_name="/sample")
        times.append(time.perf_counter() - start)
    assert min(times) < 1.0, times


def test_same_seed_through_every_model_of_the_data_set(client):
    items, recipes = client.predict("tiny-colour", 5, 4, 0, api_name="/compare_models")
    ids = [r["model"] for r in recipes["models"]]
    assert ids == ["tiny-digits", "tiny-colour", "tiny-cvaegan"]  # every loaded sampler of "synthetic"
    assert len(items) == 3 and items[1]["caption"].startswith("tiny-colour")
    assert all(r["seed"] == 5 for r in recipes["models"])


# --------------------------------------------------------------------------- interpolate


def test_interpolate_seeds_gives_a_strip_and_a_gif(client, library):
    from gan_models.images import show

    strip, gif, recipe = client.predict("tiny-digits", 1, 2, 6, "lerp", "3", None, None, api_name="/interpolate")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 2 * 6 - 2  # played forth and back
    assert recipe["steps"] == 6 and recipe["method"] == "lerp" and recipe["class"] == "3"
    assert recipe["link"] == "?tab=interpolate&model=tiny-digits&seed_a=1&seed_b=2&steps=6&method=lerp&class=3"
    model = library.load_model("tiny-digits", "cpu")
    path = library.interpolate(model, 1, 2, 6, "lerp", label=3)
    assert np.array_equal(pixels(strip), show(library.grid(path, nrow=6)))  # one row of six frames


def test_interpolating_every_class_draws_the_same_path_in_each(client, library):
    from gan_models.images import show

    strip, gif, recipe = client.predict("tiny-digits", 1, 2, 6, "lerp", None, None, None, api_name="/interpolate")
    model = library.load_model("tiny-digits", "cpu")
    paths = np.concatenate([library.interpolate(model, 1, 2, 6, "lerp", label=k) for k in range(10)])
    assert np.array_equal(pixels(strip), show(library.grid(paths, nrow=6)))  # a row per class
    with Image.open(gif) as im:  # each frame: one step of every class, in a grid of 5 x 2, doubled
        assert im.n_frames == 2 * 6 - 2 and im.size == (2 * (5 * 30 + 2), 2 * (2 * 30 + 2))
    assert recipe["class"] == "(every class)" and "label=k) for k in range(10)]" in recipe["python"]
    assert recipe["link"] == "?tab=interpolate&model=tiny-digits&seed_a=1&seed_b=2&steps=6&method=lerp"


def test_interpolate_two_uploaded_faces_through_the_encoder(client, face_png, tmp_path):
    other = write_png(tmp_path / "b.png", np.full((64, 64, 3), 200, np.uint8))
    strip, gif, recipe = client.predict(
        "tiny-cvaegan", 0, 0, 4, "slerp", None, handle_file(face_png), handle_file(other), api_name="/interpolate"
    )
    assert pixels(strip).shape[:2] == (68, 4 * 66 + 2)  # four 64 px frames in a row
    with Image.open(gif) as im:
        assert im.format == "GIF"  # (random weights may decode identical frames, which GIF merges)
    assert [i["source"] for i in recipe["identities"]] == ["predicted by tiny-faces-classifier"] * 2
    assert recipe["decoded_identity"] in ("Ada", "Bo", "Cy")
    assert "link" not in recipe  # uploads cannot travel in an address


# --------------------------------------------------------------------------- face swap


def test_swap_identity_of_an_uploaded_face(client, face_png, library):
    recon, swaps, varied, info = client.predict(
        "tiny-cvaegan", handle_file(face_png), 3, "(predicted)", 5, api_name="/swap_identity"
    )
    assert [s["caption"].split(" ")[0] for s in swaps] == ["Ada", "Bo", "Cy"]
    assert pixels(swaps[0]["image"]).shape == (64, 64 * 2 + 4, 3)  # reference | swapped
    assert len(varied) == 5
    assert info["input"] == "upload" and info["source"] == "predicted by tiny-faces-classifier"
    assert 0 <= info["probability"] <= 1
    assert "link" not in info and "face = " not in info["python"]  # an address cannot carry an upload
    # the prediction is the classifier's own
    from gan_models.images import fit, open_image

    clf = library.load_model("tiny-faces-classifier", "cpu")
    probs = library.classify(clf, fit(open_image(face_png), 64)[None])[0]
    assert info["identity"] == ["Ada", "Bo", "Cy"][int(probs.argmax())]
    assert pixels(recon).shape[1] > pixels(recon).shape[0]  # input | reconstruction


def test_swap_identity_of_a_generated_sample_with_a_chosen_identity(client):
    face = client.predict("tiny-cvaegan", 4, "Bo", api_name="/generate_face")
    assert pixels(face).shape == (64, 64, 3)
    _, swaps, varied, info = client.predict("tiny-cvaegan", None, 4, "Bo", 2, api_name="/swap_identity")
    assert info["source"] == "chosen" and info["identity"] == "Bo" and info["identity_index"] == 1
    assert info["input"] == "generated sample (seed 4)"
    assert len(swaps) == 3 and all(v["caption"].startswith("Bo") for v in varied)
    assert "face = gan_models.sample(model, 1, 4, label=1)[0]" in info["python"]
    assert info["link"] == "?tab=swap&model=tiny-cvaegan&seed=4&identity=Bo&count=2"


def test_a_generated_face_without_a_chosen_identity_is_of_identity_seed_mod_their_number(client):
    def face(seed, identity):
        return pixels(client.predict("tiny-cvaegan", seed, identity, api_name="/generate_face"))

    names = ["Ada", "Bo", "Cy"]
    for seed in (4, 5):
        assert np.array_equal(face(seed, "(predicted)"), face(seed, names[seed % 3]))
    assert not np.array_equal(face(4, "(predicted)"), face(5, "(predicted)"))
    *_, info = client.predict("tiny-cvaegan", None, 5, "(predicted)", 2, api_name="/swap_identity")
    assert info["link"] == "?tab=swap&model=tiny-cvaegan&seed=5&count=2"  # the prediction is not a setting
    assert "face = gan_models.sample(model, 1, 5, label=2)[0]" in info["python"]


# --------------------------------------------------------------------------- pix2pix


def test_translate_edge_map_and_photo(client, face_png, tmp_path):
    edges = np.zeros((32, 32), np.uint8)
    edges[8:24, 16] = 255
    path = write_png(tmp_path / "edges.png", edges)
    cond, photo, draws, spread, info = client.predict(
        "tiny-pix2pix", handle_file(path), "edge map", False, 4, 0, api_name="/translate"
    )
    assert pixels(photo).shape[2] == 3 and len(draws) == 1 and spread is None
    assert info["dropout"] is False and info["draws"] == 1
    assert np.array_equal(
        pixels(cond)[..., 0] if pixels(cond).ndim == 3 else pixels(cond), np.kron(edges, np.ones((4, 4), np.uint8))
    )
    _, _, draws, spread, info = client.predict(
        "tiny-pix2pix", handle_file(face_png), "photo (extract edges)", True, 5, 1, api_name="/translate"
    )
    assert len(draws) == 5 and spread is not None and info["mean_pixel_std"] > 0


def test_translate_a_drawing(client, tmp_path):
    sketch = np.full((256, 256, 3), 255, np.uint8)
    sketch[60:200, 120:130] = 0  # one dark stroke on white paper
    path = write_png(tmp_path / "sketch.png", sketch)
    value = {"background": None, "layers": [], "composite": handle_file(path), "id": None}
    cond, photo, _, _, info = client.predict("tiny-pix2pix", value, False, 1, 0, api_name="/translate_sketch")
    seen = pixels(cond)
    assert seen.max() == 255 and seen.mean() < 64  # inverted: white edges on black
    assert info["input"] == "sketch"


def test_extract_edges_is_canny_on_the_fitted_photo(client, face_png):
    from gan_models.images import canny_edges, fit, open_image

    edges = pixels(client.predict("tiny-pix2pix", handle_file(face_png), api_name="/extract_edges"))
    expected = canny_edges(fit(open_image(face_png), 32))[..., 0]
    assert np.array_equal(edges, np.kron(expected, np.ones((4, 4), np.uint8)))  # shown 4x enlarged


# --------------------------------------------------------------------------- mode collapse


def test_mode_coverage_replays_the_recorded_trajectory(client, gallery_root):
    from safetensors.torch import load_file

    traj = load_file(str(gallery_root / "weights" / "tiny-toy" / "trajectory.safetensors"))
    plot, counters = client.predict("ring", 2, api_name="/mode_coverage")
    assert pixels(plot).shape[2] == 3
    c = counters["tiny-toy"]
    assert (c["snapshot"], c["step"], c["snapshots"]) == (2, int(traj["steps"][2]), 3)
    assert c["modes"] == int(traj["modes"][2]) and c["high_quality"] == pytest.approx(float(traj["high_quality"][2]))
    assert c["shipped_generator"]["samples"] == 2500
    frames = list(client.submit("ring", 0, api_name="/replay"))
    assert [f[0] for f in frames] == [0, 1, 2]


def test_jacobian_map_counts_ranks_as_the_library_does(client, library):
    from gan_models.ops import numerical_ranks

    plot, counters = client.predict("ring", api_name="/jacobian_map")
    assert pixels(plot).shape[2] == 3
    c = counters["tiny-toy"]
    _, points, values = library.latent_jacobians(library.load_model("tiny-toy", "cpu"), 2500, 0)
    ranks, tol = numerical_ranks(values, 2)
    assert c["latents"] == 2500 and c["tolerance"] == pytest.approx(tol)
    assert c["shares"] == pytest.approx({f"rank {r}": float((ranks == r).float().mean()) for r in (2, 1, 0)})
    assert c["full_rank"] == c["shares"]["rank 2"] and sum(c["shares"].values()) == pytest.approx(1)


def test_live_training_run_streams_snapshots(client):
    job = client.submit("ring", "gan", 2, 60, 0.002, 3, api_name="/train_live")
    outputs = list(job)
    assert len(outputs) >= 3  # step 0, every 10 steps, the end
    steps = [c["step"] for _, c in outputs]
    assert steps[0] == 0 and steps[-1] == 60 and steps == sorted(steps)
    assert all(0 <= c["modes"] <= 8 and 0 <= c["high_quality"] <= 1 for _, c in outputs)
    assert outputs[-1][1]["d_loss"] is not None


def test_mode_histogram_of_a_shipped_model(client):
    _, summary = client.predict("tiny-colour", api_name="/mode_histogram")
    assert summary["modes_covered"] == 4 and summary["total_modes"] == 1000 and summary["samples"] == 20
    # modes 0 (5), 7 (3), 123 (2), 999 (10): the R channel reads 0 in 8 of 20, 1 in 2, 9 in 10
    assert summary["digit_shares"]["R"] == pytest.approx([0.4, 0.1] + [0] * 7 + [0.5])
    assert summary["digit_shares"]["B"] == pytest.approx([0.25, 0, 0, 0.1, 0, 0, 0, 0.15, 0, 0.5])
    p = np.array([5, 3, 2, 10]) / 20
    assert summary["kl_to_uniform"] == pytest.approx(float((p * np.log(p * 1000)).sum()))
    shares = [[0.4, 0.1, 0.5], [0.4, 0.1, 0.5], [0.25, 0.1, 0.15, 0.5]]
    from_shares = sum(float((np.array(s) * np.log(np.array(s) * 10)).sum()) for s in shares)
    assert summary["kl_from_digit_shares"] == pytest.approx(from_shares)
    assert summary["kl_from_dependence"] == pytest.approx(summary["kl_to_uniform"] - from_shares)
    assert summary["kl_from_dependence"] > 0  # these four modes are far from independent channels


def test_jacobian_spectrum_matches_the_library(client, library):
    _, info = client.predict("tiny-cvaegan", 9, "Cy", api_name="/jacobian_spectrum")
    model = library.load_model("tiny-cvaegan", "cpu")
    expected = library.jacobian_spectrum(model, 9, label=2).numpy()
    assert info["singular_values"] == pytest.approx(expected.tolist(), rel=1e-4, abs=1e-7)
    values = info["singular_values"]
    assert values == sorted(values, reverse=True) and info["z_dim"] == len(values) == 16
    assert info["numerical_rank"] == sum(v > info["tolerance"] for v in values)


def test_jacobian_spectrum_beside_a_second_generator(client, library):
    """The comparison model at the same seed: its own spectrum and rank, in the class the first
    one asked for where it has that class, else its first class (as with no class asked)."""
    _, info = client.predict("tiny-cvaegan", 9, "Cy", "tiny-digits", api_name="/jacobian_spectrum")
    other = info["compared_with"]
    expected = library.jacobian_spectrum(library.load_model("tiny-digits", "cpu"), 9).numpy()
    assert other["model"] == "tiny-digits" and other["seed"] == 9
    assert other["singular_values"] == pytest.approx(expected.tolist(), rel=1e-4, abs=1e-7)
    assert other["largest"] == pytest.approx(other["singular_values"][0])
    assert other["numerical_rank"] == sum(v > other["tolerance"] for v in other["singular_values"])
    assert info["singular_values"] != other["singular_values"]
    _, alone = client.predict("tiny-cvaegan", 9, "Cy", "(none)", api_name="/jacobian_spectrum")
    assert "compared_with" not in alone and alone["singular_values"] == info["singular_values"]


# --------------------------------------------------------------------------- bad inputs


def _files(tmp: Path) -> dict[str, str]:
    (tmp / "junk.png").write_text("not an image at all")
    good = tmp / "good.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 90).save(good)
    (tmp / "truncated.png").write_bytes(good.read_bytes()[:80])
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp / "tiny.png")
    Image.new("RGB", (300, 300), "white").save(tmp / "blank.png")
    return {p.stem: str(p) for p in tmp.glob("*.png")}


BAD = [
    ("/sample", ("tiny-digits", 1, 0, None, 0), "count must be between 1 and 64"),
    ("/sample", ("tiny-digits", 1, 65, None, 0), "count must be between 1 and 64"),
    ("/sample", ("tiny-digits", -1, 4, None, 0), "seed must be between 0 and 9223372036854775807"),
    ("/sample", ("tiny-digits", 2**63, 4, None, 0), "seed must be between 0 and 9223372036854775807"),
    ("/sample", ("tiny-digits", 1.5, 4, None, 0), "seed must be a whole number"),
    ("/sample", ("tiny-digits", 1, 4, None, 3.5), "truncation must be in (0, 3]"),
    ("/sample", ("tiny-digits", 1, 4, None, -1), "truncation must be in (0, 3]"),
    ("/sample", ("nope", 1, 4, None, 0), "unknown model 'nope'"),
    ("/sample", ("tiny-digits", 1, 4, "zz", 0), "unknown class 'zz' for model 'tiny-digits'"),
    ("/sample", ("tiny-colour", 1, 4, "3", 0), "has no classes"),
    ("/sample", ("tiny-pix2pix", 1, 4, None, 0), "is a pix2pix model"),
    ("/sample", ("tiny-missing", 1, 4, None, 0), "is unavailable"),
    ("/sample", ("<b>x</b>", 1, 4, None, 0), "unknown model '&lt;b&gt;x&lt;/b&gt;'"),
    ("/interpolate", ("tiny-digits", 1, 2, 1, "slerp", None, None, None), "steps must be between 2 and 64"),
    ("/interpolate", ("tiny-digits", 1, 2, 65, "slerp", None, None, None), "steps must be between 2 and 64"),
    ("/interpolate", ("tiny-digits", 1, 2, 4, "cubic", None, None, None), "method must be 'lerp' or 'slerp'"),
    ("/interpolate", ("tiny-cvaegan", 1, 2, 4, "slerp", None, "@good", None), "upload two faces"),
    ("/interpolate", ("tiny-digits", 1, 2, 4, "slerp", None, "@good", "@good"), "needs a cvae-gan model"),
    ("/swap_identity", ("tiny-cvaegan", "@junk", 1, "Ada", 4), "not an image in an accepted format"),
    ("/swap_identity", ("tiny-cvaegan", "@truncated", 1, "Ada", 4), "truncated or corrupt"),
    ("/swap_identity", ("tiny-cvaegan", "@tiny", 1, "Ada", 4), "at least 8x8 pixels"),
    ("/swap_identity", ("tiny-cvaegan", "@good", 1, "Zed", 4), "unknown class 'Zed'"),
    ("/swap_identity", ("tiny-digits", "@good", 1, None, 4), "needs a cvae-gan model"),
    ("/translate", ("tiny-pix2pix", None, "edge map", False, 1, 0), "upload an image first"),
    ("/translate", ("tiny-pix2pix", "@good", "label map", False, 1, 0), "translates edge maps"),
    ("/translate", ("tiny-pix2pix", "@good", "a poem", False, 1, 0), "the input kind must be one of"),
    ("/translate", ("tiny-pix2pix", "@good", "edge map", True, 17, 0), "draws must be between 1 and 16"),
    ("/translate_sketch", ("tiny-pix2pix", {"composite": "@blank"}, False, 1, 0), "the drawing is empty"),
    ("/extract_edges", ("tiny-digits", "@good"), "is a sample model"),
    ("/mode_coverage", ("spiral", 0), "mixture must be one of"),
    ("/mode_coverage", ("grid", 0), "no 2D model of the grid mixture is loaded"),
    ("/jacobian_map", ("spiral",), "mixture must be one of"),
    ("/jacobian_map", ("grid",), "no 2D model of the grid mixture is loaded"),
    ("/train_live", ("ring", "gan", 1, 2001, 0.001, 0), "steps must be between 1 and 2000"),
    ("/train_live", ("ring", "gan", 5, 100, 0.001, 0), "packing must be between 1 and 4"),
    ("/train_live", ("ring", "rainbow", 1, 100, 0.001, 0), "loss must be one of"),
    ("/train_live", ("ring", "gan", 1, 100, 0.5, 0), "learning rate must be in (0, 0.01]"),
    ("/jacobian_spectrum", ("tiny-toy", 0, None), "is a toy2d model"),
    ("/jacobian_spectrum", ("tiny-digits", 0, None, "tiny-toy"), "is a toy2d model"),
    ("/jacobian_spectrum", ("tiny-digits", 0, None, "nope"), "unknown model 'nope'"),
    ("/mode_histogram", ("tiny-digits",), "no mode histogram recorded for 'tiny-digits'"),
]


def test_bad_inputs_get_clear_messages_and_the_server_keeps_serving(server, client, tmp_path):
    files = _files(tmp_path)

    def resolve(value):
        if isinstance(value, str) and value.startswith("@"):
            return handle_file(files[value[1:]])
        if isinstance(value, dict):
            return {"background": None, "layers": [], "id": None, **{k: resolve(v) for k, v in value.items()}}
        return value

    failures = []
    for api_name, args, expected in BAD:
        try:
            client.submit(*[resolve(a) for a in args], api_name=api_name).result()  # raises the job's error
            job_error = None
        except AppError as e:
            job_error = str(e)
        if job_error is None or expected not in job_error or "Traceback" in job_error:
            failures.append((api_name, args, expected, job_error))
    assert not failures, failures
    assert server.health()[0] == 200
    _, items, _ = client.predict("tiny-digits", 1, 2, None, 0, api_name="/sample")
    assert len(items) == 2


def _raw_call(url: str, api_name: str, data: list) -> str:
    """Call an endpoint the way the page does (no gradio_client header); returns the event stream."""
    body = json.dumps({"data": data}).encode()
    req = urllib.request.Request(f"{url}/gradio_api/call/{api_name}", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{url}/gradio_api/call/{api_name}/{event_id}", timeout=60) as r:
        return r.read().decode()


def test_the_page_bounds_seeds_to_32_bits_and_the_api_to_63(server, client):
    assert "event: complete" in _raw_call(server.url, "sample", ["tiny-digits", 2**32 - 1, 1, None, 0])
    stream = _raw_call(server.url, "sample", ["tiny-digits", 2**32, 1, None, 0])
    assert "event: error" in stream and "4294967295" in stream
    _, _, recipe = client.predict("tiny-digits", 2**32, 1, None, 0, api_name="/sample")
    assert recipe["seed"] == 2**32


# --------------------------------------------------------------------------- in-process


def test_health_route_is_503_until_the_models_are_loaded(use_gallery):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from gan_models.service import Gallery
    from gan_models.store import ModelStore
    from gan_models.web import health_route

    gallery = Gallery(ModelStore(device="cpu"))
    http = TestClient(FastAPI(routes=[health_route(gallery)]))
    response = http.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "loading"
    gallery.load()
    response = http.get("/healthz")
    assert response.status_code == 200 and "tiny-toy" in response.json()["models"]


def test_every_model_endpoint_shares_the_gpu_concurrency_group(use_gallery):
    import app
    from gan_models.service import Gallery
    from gan_models.settings import Settings, settings_from_env

    settings = settings_from_env({"GAN_GALLERY_DEVICE": "cpu", "GAN_GALLERY_CONCURRENCY": "3"})
    assert isinstance(settings, Settings) and settings.concurrency == 3
    gallery = Gallery.from_settings(settings)
    demo = app.build_app(gallery, settings.concurrency, settings.queue_size)
    fns = {fn.api_name: fn for fn in demo.fns.values()}
    model_work = [
        "sample",
        "compare_models",
        "interpolate",
        "generate_face",
        "swap_identity",
        "translate",
        "translate_sketch",
        "extract_edges",
        "mode_coverage",
        "train_live",
        "jacobian_map",
        "jacobian_spectrum",
    ]
    for name in model_work:
        assert fns[name].concurrency_id == "gpu", name
        assert fns[name].concurrency_limit == 3, name
    assert fns["replay"].concurrency_id == "replay"  # plots of recorded runs only
    assert demo._queue.max_size == 64
    # what a tab shows when it is first opened is model work too, in the same slots
    selected = [fn for fn in demo.fns.values() if any(event == "select" for _, event in fn.targets)]
    opened = [fn for fn in selected if fn.fn is not None]
    assert len(opened) == 8  # sample, interpolate, swap, pix2pix; replay, histogram, rank map, spectrum
    # the tabs whose results have no link put the tab's own in the address bar, in the browser alone
    named = [fn for fn in selected if fn.fn is None]
    assert len(named) == 3 and all(("?tab=" in fn.js or "pathname" in fn.js) and fn.queue is False for fn in named)
    assert sum(fn.concurrency_id == "gpu" and fn.concurrency_limit == 3 for fn in opened) == 7  # not the histogram
    # a page load looks for a shared link without waiting behind model work (the gallery's slots bound it)
    (load,) = [fn for fn in demo.fns.values() if any(event == "load" for _, event in fn.targets)]
    assert load.concurrency_id == "links" and load.concurrency_limit is None and load.queue is not False


def test_the_edges_tab_opens_on_its_example_drawn_by_code(use_gallery):
    import gradio as gr

    from gan_models.images import show
    from gan_models.service import Gallery
    from gan_models.store import ModelStore

    gallery = Gallery(ModelStore(device="cpu"))
    gallery.load()
    model = gallery.store.models["tiny-pix2pix"]
    cond, photo, draws, spread, info = gallery.translate_example("tiny-pix2pix", False, 1, 0, api=False)
    assert np.array_equal(cond, show(gallery.example_condition(model)))
    assert photo.shape[:2] == cond.shape[:2] and len(draws) == 1 and spread is None
    assert info["input"] == "edge map (example drawn by code)"
    with pytest.raises(gr.Error, match="tiny-digits"):  # not a pix2pix model: a plain message
        gallery.translate_example("tiny-digits", False, 1, 0, api=False)


def test_settings_from_the_environment():
    from gan_models.settings import settings_from_env

    s = settings_from_env({"GAN_GALLERY_DEVICE": "cpu"})
    assert (s.concurrency, s.queue_size, s.server_name, s.server_port) == (2, 64, "127.0.0.1", 7860)
    assert s.auth is None and s.root_path is None and s.models is None
    s = settings_from_env(
        {
            "GAN_GALLERY_DEVICE": "cuda",
            "GAN_GALLERY_MODELS": "a, b",
            "GAN_GALLERY_AUTH": "ada:pa:ss",
            "GAN_GALLERY_ROOT_PATH": "/gallery",
            "GAN_GALLERY_QUEUE_SIZE": "8",
            "GRADIO_SERVER_PORT": "9000",
        }
    )
    assert (s.concurrency, s.queue_size, s.server_port, s.root_path) == (1, 8, 9000, "/gallery")
    assert s.models == ["a", "b"] and s.auth == ("ada", "pa:ss")
    kwargs = s.launch_kwargs()
    assert kwargs["share"] is False and kwargs["mcp_server"] is False and kwargs["max_file_size"] == "10mb"
    assert kwargs["allowed_paths"] is None and kwargs["auth"] == ("ada", "pa:ss")
    for bad in ({"GAN_GALLERY_AUTH": "nopassword"}, {"GAN_GALLERY_CONCURRENCY": "0"}, {"GAN_GALLERY_QUEUE_SIZE": "x"}):
        with pytest.raises(ValueError):
            settings_from_env({"GAN_GALLERY_DEVICE": "cpu", **bad})


# --------------------------------------------------------------------------- the shipped weights


def test_shipped_manifest_every_model_loads_and_works(tmp_path):
    """Against weights_manifest.json as shipped (served with a login, as a host would): every
    model must load and answer; with no model published yet, the page must say so and point to
    the training command."""
    manifest = json.loads((PROJECT / "weights_manifest.json").read_text())
    ids = [m["id"] for m in manifest["models"]]
    env = gallery_env(PROJECT, GAN_GALLERY_AUTH="ada:lovelace")
    with running_app(env, PROJECT / "test-artifacts" / "app-shipped.log") as srv:
        status, health = srv.health()  # the health check needs no login
        assert status == 200
        assert health["unavailable"] == {}, "shipped models that do not load: " + json.dumps(health["unavailable"])
        assert health["models"] == ids
        assert get_json(srv.url + "/config")[0] == 401  # the page does
        with pytest.raises(Exception):  # noqa: B017 (the client's own error type for a refused login)
            Client(srv.url, verbose=False, auth=("ada", "wrong"))
        client = Client(srv.url, verbose=False, auth=("ada", "lovelace"))
        assert [m["id"] for m in client.predict(api_name="/list_models")] == ids
        if not ids:
            page = json.dumps(client.config)
            assert "No models published yet" in page and "python -m training --list" in page
            return
        for entry in manifest["models"]:
            model_id, task = entry["id"], entry["task"]
            if task in ("sample", "cvae-gan"):
                _, items, recipe = client.predict(model_id, 0, 4, None, 0, api_name="/sample")
                assert len(items) == 4 and recipe["model"] == model_id
                assert pixels(items[0]["image"]).shape[:2] == (entry["resolution"], entry["resolution"])
            elif task == "pix2pix":
                kind = "label map" if "facades" in model_id else "edge map"
                example = tmp_path / f"{model_id}.png"
                from gan_models.drawings import drawn_facade_labels, drawn_face_edges

                drawn = drawn_facade_labels() if kind == "label map" else drawn_face_edges()[..., 0]
                write_png(example, drawn)
                _, photo, _, _, _ = client.predict(
                    model_id, handle_file(str(example)), kind, False, 1, 0, api_name="/translate"
                )
                assert pixels(photo).ndim == 3
            elif task == "toy2d":
                _, counters = client.predict(entry["extras"]["mixture"], 0, api_name="/mode_coverage")
                assert model_id in counters


def test_menus_open_on_the_gallerys_own_models_and_cards_name_the_ablated_model(tiny_gallery, tmp_path, monkeypatch):
    """Ablations and models below their bar are listed after the full models, whatever the manifest's order."""
    from gan_models.manifest import raw_manifest, write_manifest
    from gan_models.networks import UNetGenerator
    from gan_models.service import Gallery
    from gan_models.store import ModelStore
    from training.publish import publish_networks

    root = tmp_path / "gallery"
    shutil.copytree(tiny_gallery, root)
    path = root / "weights_manifest.json"
    for model_id, extra in [("tiny-l1", {"ablation_of": "tiny-pix2pix"}), ("tiny-preview", {"below_bar": "short"})]:
        nets = publish_networks(model_id, {"generator": ("unet_generator", UNetGenerator(32, 1, 3, 8))}, root)
        data = raw_manifest(path)
        full = next(m for m in data["models"] if m["id"] == "tiny-pix2pix")
        data["models"].insert(0, {**full, "id": model_id, "networks": nets, **extra})  # before the full model
        write_manifest(data, path)
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(root))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    gallery = Gallery(ModelStore(device="cpu"))
    gallery.load()
    assert gallery.ids("pix2pix") == ["tiny-pix2pix", "tiny-preview", "tiny-l1"]
    # the Gallery tab: the showcase first, then previews, ablations, and the evaluators last
    sections = [(title, [e.id for e in entries]) for title, _, entries in gallery.sections()]
    assert sections == [
        ("Models", ["tiny-digits", "tiny-colour", "tiny-cvaegan", "tiny-pix2pix", "tiny-toy"]),
        ("Below their quality bar", ["tiny-preview"]),
        ("Ablations", ["tiny-l1"]),
        ("Evaluators", ["tiny-classifier"]),
    ]
    assert "**An ablation** of `tiny-pix2pix`" in gallery.card_markdown(gallery.store.entries["tiny-l1"])
    assert "ablation" not in gallery.card_markdown(gallery.store.entries["tiny-pix2pix"])
    # the overview at the top of the tab: one row per model, in the same groups and order as the cards
    rows = gallery.overview_markdown().splitlines()[2:]
    assert [r.split(" | ")[0].split("`")[1] for r in rows] == [i for _, ids in sections for i in ids]
    assert [r.split(" | ")[1] for r in rows].count("Below their quality bar") == 1


def test_card_shows_its_headline_numbers_and_folds_its_metrics_table(tiny_gallery, monkeypatch):
    """A line of the measured numbers, and every value with its real-data reference folded beneath,
    so the Gallery tab stays short."""
    import dataclasses

    from gan_models.service import Gallery
    from gan_models.store import ModelStore

    monkeypatch.setenv("GAN_GALLERY_ROOT", str(tiny_gallery))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    gallery = Gallery(ModelStore(device="cpu"))
    gallery.load()
    entry = gallery.store.entries["tiny-digits"]
    assert "not measured yet" in gallery.card_markdown(entry) and "<details>" not in gallery.card_markdown(entry)
    values = {"modes": 990, "total_modes": 1000, "kl": 0.0812}
    metrics = {"values": values, "reference": {"kl": 0.0249}, "samples": 100, "details": {"evaluation": "stacked"}}
    card = gallery.card_markdown(dataclasses.replace(entry, metrics=metrics))
    assert "**Measured:** modes 990/1000 · KL 0.081 (real 0.025) (100 samples)" in card
    folded = card[
        card.index("<details><summary><b>Every metric</b> (100 samples)</summary>") : card.index("</details>")
    ]
    assert "| kl | 0.0812 | 0.0249 |" in folded and "| modes | 990 |  |" in folded


def test_mode_histograms_list_the_collapsed_model_first(monkeypatch):
    """The shipped Stacked MNIST models, fewest modes first, so the histogram opens on the collapse."""
    from gan_models.manifest import PROJECT_ROOT
    from gan_models.service import Gallery
    from gan_models.store import ModelStore

    monkeypatch.setenv("GAN_GALLERY_ROOT", str(PROJECT_ROOT))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    gallery = Gallery(ModelStore(device="cpu"))
    ids = gallery.histogram_ids()
    modes = [gallery.store.entries[i].metrics["values"]["modes"] for i in ids]
    assert "stacked-mnist-dcgan-plain-small-d" in ids and modes == sorted(modes)
    assert ids[0] == "stacked-mnist-dcgan-plain-small-d" and modes[0] < 990 <= modes[-1]


def test_the_spectrum_opens_on_the_collapsed_generator_and_its_twin(monkeypatch):
    """The shipped Stacked MNIST pair: the page's defaults, and the contraction the page states
    (the collapsed generator's largest singular value under a quarter of its packed twin's)."""
    from gan_models.manifest import PROJECT_ROOT
    from gan_models.service import Gallery
    from gan_models.store import ModelStore

    monkeypatch.setenv("GAN_GALLERY_ROOT", str(PROJECT_ROOT))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    pair = ["stacked-mnist-dcgan-plain-small-d", "stacked-mnist-dcgan-stable-small-d"]
    gallery = Gallery(ModelStore(device="cpu", only=[*pair, "stacked-mnist-dcgan-plain"]))
    gallery.load()
    assert gallery.collapse_pair() == tuple(pair)
    for seed in range(4):
        _, info = gallery.jacobian(pair[0], seed, None, pair[1])
        assert info["numerical_rank"] == info["z_dim"]  # no rank lost ...
        assert info["largest"] < 0.25 * info["compared_with"]["largest"], seed  # ... but contracted
