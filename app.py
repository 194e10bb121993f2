"""GAN Gallery: the Gradio page. Layout and one-to-three-line callbacks only; every request is
checked and served by ``gan_models.service.Gallery`` (which calls ``gan_models.ops``).

    python app.py    # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)

Configuration by environment: see docs/DEVELOPING.md (GAN_GALLERY_MODELS, GAN_GALLERY_DEVICE,
GAN_GALLERY_CONCURRENCY, GAN_GALLERY_QUEUE_SIZE, GAN_GALLERY_ROOT_PATH, GAN_GALLERY_AUTH).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
# The monitoring dashboard is off (Settings.launch_kwargs), yet Gradio's queue records every event
# for it and recomputes a pandas summary of up to 10,000 records after each one: keep that small.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "200")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from gan_models import drawings, inputs, mixtures, web  # noqa: E402
from gan_models.images import harden_pillow  # noqa: E402
from gan_models.inputs import is_api_call  # noqa: E402
from gan_models.service import (  # noqa: E402
    ALL_CLASSES,
    AUTO_IDENTITY,
    INPUT_KINDS,
    LINK_FIELDS,
    NO_COMPARISON,
    NO_MODELS,
    Gallery,
)
from gan_models.settings import Settings, settings_from_env  # noqa: E402
from gan_models.web import Linkable, on_first_open, open_shared_links  # noqa: E402

DICE_JS = "() => Math.floor(Math.random() * 4294967296)"  # a seed in 0..2**32-1
CSS = (
    ".pixelated img { image-rendering: pixelated; } #notice { font-size: 1.05em; }"
    # Gradio gives a gallery column at least 100 px: 8 of them overflowed a laptop's half page
    " .fit-width .grid-container { grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important;"
    " grid-auto-rows: auto !important; grid-template-rows: none !important; }"
    # and on a phone half as many columns: eight thumbnails of 45 px were hidden under their captions
    " @media (max-width: 640px) { .many-columns .grid-container {"
    " grid-template-columns: repeat(4, minmax(0, 1fr)) !important; }"
    # a model card's text above its picture, not both squeezed into half a phone's width each
    " .card-row { flex-direction: column !important; } }"
)


def seed_box(label: str = "Seed", value: int = 0) -> gr.Number:
    """A seed field with a button beside it that rolls a random one (in the browser, no request)."""
    with gr.Row(equal_height=True):
        seed = gr.Number(value, label=label, precision=0, info="0 to 4,294,967,295", min_width=120)
        gr.Button("Random", scale=0, min_width=80).click(
            None, None, seed, js=DICE_JS, api_visibility="private", queue=False
        )
    return seed


def class_dropdown(gallery: Gallery, model_id, label: str = "Class", auto: str = ALL_CLASSES) -> gr.Dropdown:
    choices, value, visible = gallery.class_choices(model_id, auto)
    return gr.Dropdown(choices, value=value, visible=visible, label=label, allow_custom_value=False)


def follow_classes(gallery: Gallery, model: gr.Dropdown, classes: gr.Dropdown, auto: str = ALL_CLASSES) -> None:
    """Refresh a class dropdown when its model changes."""

    def refresh(model_id):
        choices, value, visible = gallery.class_choices(model_id, auto)
        return gr.Dropdown(choices=choices, value=value, visible=visible)

    # on the visitor's choice only: a shared link sets the model and its class together
    model.input(refresh, model, classes, api_visibility="private", queue=False)


def shown_image(label: str, elem_id: str, pixelated: bool = True) -> gr.Image:
    """An output image, sent as PNG; ``pixelated``: small samples scale up as crisp pixels, not blurred."""
    return gr.Image(
        elem_id=elem_id, label=label, format="png", interactive=False, elem_classes="pixelated" if pixelated else None
    )


def shown_gallery(label: str, columns: int, elem_id: str | None = None, pixelated: bool = True) -> gr.Gallery:
    """Output images one by one, each opens full size with a download button."""
    return gr.Gallery(
        label=label,
        columns=columns,
        elem_id=elem_id,
        format="png",
        height="auto",
        fit_columns=False,
        elem_classes=["fit-width"] + (["pixelated"] if pixelated else []) + (["many-columns"] if columns > 4 else []),
    )


def first(ids: list[str]) -> str | None:
    return ids[0] if ids else None


@dataclass(frozen=True)
class Queues:
    """How events queue: model work shares ``concurrency`` slots (one pool for the GPU); replays of
    recorded runs draw plots only, so they get their own pool and never hold a GPU slot."""

    gpu: dict
    raw: dict  # model work whose inputs arrive as sent: the service checks every one
    replay: dict

    @classmethod
    def sharing(cls, concurrency: int) -> Queues:
        gpu = {"concurrency_id": "gpu", "concurrency_limit": concurrency}
        replay = {"preprocess": False, "concurrency_id": "replay", "concurrency_limit": concurrency}
        return cls(gpu=gpu, raw={"preprocess": False, **gpu}, replay=replay)


def build_app(gallery: Gallery, concurrency: int = 2, queue_size: int = 64) -> gr.Blocks:
    """The whole page for a loaded Gallery; tests build it the same way ``python app.py`` does."""
    q = Queues.sharing(concurrency)
    with web.SafeBlocks(title="GAN Gallery", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# GAN Gallery\nGenerative adversarial networks trained on real data: sample, interpolate, "
            "swap identities, translate drawings, and watch mode collapse happen (and not happen)."
        )
        gr.Markdown(gallery.notice(), elem_id="notice")
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            with gr.Tab("Gallery", id="gallery") as tab:
                gallery_tab(gallery)
                web.show_tab_in_address_bar(tab, "gallery", first=True)
            with gr.Tab("Sample", id="sample") as tab:
                sampled = sample_tab(gallery, q, tab)
            with gr.Tab("Interpolate", id="interpolate") as tab:
                interpolated = interpolate_tab(gallery, q, tab)
            with gr.Tab("Face swap", id="swap") as tab:
                swapped = swap_tab(gallery, q, tab)
            with gr.Tab("Edges → photo", id="pix2pix") as tab:
                pix2pix_tab(gallery, q, tab)
                web.show_tab_in_address_bar(tab, "pix2pix")
            with gr.Tab("Mode collapse", id="modes") as tab:
                replay_section(gallery, q, tab)
                live_section(gallery, q)
                histogram_section(gallery, tab)
                geometry_section(gallery, q, tab)
                web.show_tab_in_address_bar(tab, "modes")
        data_endpoints(gallery)
        open_shared_links(demo, tabs, gallery, [sampled, interpolated, swapped])
    demo.queue(max_size=queue_size, default_concurrency_limit=concurrency)
    return demo


def gallery_tab(gallery: Gallery) -> None:
    """Model cards under their section headings, each with its sample grid."""
    if not gallery.store.entries:
        gr.Markdown(f"### {NO_MODELS}")
    else:
        with gr.Accordion(f"All {len(gallery.store.entries)} models at a glance: what each one measured", open=False):
            gr.Markdown(gallery.overview_markdown(), elem_id="overview")
    for title, note, entries in gallery.sections():
        gr.Markdown(f"## {title}\n{note}", elem_classes="gallery-section")
        for entry in entries:
            with gr.Group(), gr.Row(elem_classes="card-row"):
                gr.Markdown(gallery.card_markdown(entry), elem_classes="card")
                image = gallery.card_image(entry.id)
                if image is not None:
                    gr.Image(
                        image,
                        show_label=False,
                        interactive=False,
                        format="png",
                        elem_classes="pixelated",
                        buttons=["download", "fullscreen"],
                    )


def sample_tab(gallery: Gallery, q: Queues, tab: gr.Tab) -> Linkable:
    """Seeded samples by class, and one seed through every model of a data set."""
    samplers = gallery.ids("sample", "cvae-gan")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            s_model = gr.Dropdown(samplers, value=first(samplers), label="Model")
            s_seed = seed_box()
            s_count = gr.Slider(1, inputs.MAX_COUNT, value=16, step=1, label="Count")
            s_class = class_dropdown(gallery, first(samplers))
            s_trunc = gr.Slider(0, inputs.MAX_TRUNCATION, value=0, step=0.05, label="Truncation (0 = off)")
            s_go = gr.Button("Sample", variant="primary")
            s_cmp = gr.Button("Same seed through every model of this data set")
        with gr.Column(scale=2):
            s_grid = shown_image("Grid", "sample-grid")
            s_gallery = shown_gallery("Single images (open one to download it)", 8, "sample-gallery")
            s_recipe = gr.JSON(label="Reproduction recipe")
            s_cmp_gallery = shown_gallery(
                "Same seed through every model of the data set", 2, "compare-gallery", pixelated=False
            )
            s_cmp_recipe = gr.JSON(label="Recipes of the comparison")
    follow_classes(gallery, s_model, s_class)

    def do_sample(model, seed, count, cls, trunc, request: gr.Request, progress=gr.Progress()):
        return gallery.sample(model, seed, count, cls, trunc, is_api_call(request), progress)

    def do_compare(model, seed, count, trunc, request: gr.Request, progress=gr.Progress()):
        return gallery.compare(model, seed, count, trunc, is_api_call(request), progress)

    s_inputs, s_outputs = [s_model, s_seed, s_count, s_class, s_trunc], [s_grid, s_gallery, s_recipe]
    to_address_bar = web.address_bar("sample")
    s_go.click(do_sample, s_inputs, s_outputs, api_name="sample", **q.raw).then(None, s_recipe, js=to_address_bar)
    serve = partial(gallery.sample, api=False)  # the page's defaults on first open, and shared links
    on_first_open(tab, serve, s_inputs, s_outputs, **q.raw).then(None, s_recipe, js=to_address_bar)
    s_cmp.click(
        do_compare,
        [s_model, s_seed, s_count, s_trunc],
        [s_cmp_gallery, s_cmp_recipe],
        api_name="compare_models",
        **q.raw,
    )
    return Linkable("sample", dict(zip(LINK_FIELDS["sample"], s_inputs, strict=True)), s_outputs, serve)


def interpolate_tab(gallery: Gallery, q: Queues, tab: gr.Tab) -> Linkable:
    """A lerp or slerp path between two seeds (or two encoded faces), as a strip and a GIF."""
    samplers = gallery.ids("sample", "cvae-gan")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            i_model = gr.Dropdown(samplers, value=first(samplers), label="Model")
            i_seed_a = seed_box("Seed A")
            i_seed_b = seed_box("Seed B", 1)  # a path from the first open, not one image repeated
            i_steps = gr.Slider(inputs.MIN_STEPS, inputs.MAX_STEPS, value=10, step=1, label="Steps")
            i_method = gr.Radio(["slerp", "lerp"], value="slerp", label="Path")
            i_class = class_dropdown(gallery, first(samplers))
            with gr.Accordion("CVAE-GAN: two uploaded faces through the encoder (instead of seeds)", open=False):
                with gr.Row():
                    i_face_a = gr.Image(type="filepath", label="Face A", sources=["upload", "clipboard"])
                    i_face_b = gr.Image(type="filepath", label="Face B", sources=["upload", "clipboard"])
            i_go = gr.Button("Interpolate", variant="primary")
        with gr.Column(scale=2):
            i_strip = shown_image("Strip (with every class: a row per class)", "interp-strip")
            i_gif = gr.Image(elem_id="interp-gif", label="Animated GIF (download)", type="filepath", interactive=False)
            i_recipe = gr.JSON(label="Reproduction recipe")
    follow_classes(gallery, i_model, i_class)

    def do_interpolate(model, a, b, steps, method, cls, fa, fb, request: gr.Request, progress=gr.Progress()):
        return gallery.interpolate(model, a, b, steps, method, cls, fa, fb, is_api_call(request), progress)

    i_inputs = [i_model, i_seed_a, i_seed_b, i_steps, i_method, i_class, i_face_a, i_face_b]
    i_outputs = [i_strip, i_gif, i_recipe]
    to_address_bar = web.address_bar("interpolate")
    i_go.click(do_interpolate, i_inputs, i_outputs, api_name="interpolate", **q.raw).then(
        None, i_recipe, js=to_address_bar
    )
    serve = partial(gallery.interpolate, api=False)  # a link carries no faces: its fields are the first six
    on_first_open(tab, serve, i_inputs, i_outputs, **q.raw).then(None, i_recipe, js=to_address_bar)
    fields = dict(zip(LINK_FIELDS["interpolate"], i_inputs[:6], strict=True))
    return Linkable("interpolate", fields, i_outputs, serve)


def swap_tab(gallery: Gallery, q: Queues, tab: gr.Tab) -> Linkable:
    """CVAE-GAN: encode a face to z, then vary the identity with z fixed, and z with the identity fixed."""
    faces = gallery.ids("cvae-gan", encoder=True)
    if not faces:
        gr.Markdown("No CVAE-GAN model is loaded (face swap needs one with an encoder).")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            f_model = gr.Dropdown(faces, value=first(faces), label="CVAE-GAN model")
            f_face = gr.Image(
                type="filepath",
                label="Face (upload, or use a generated sample)",
                format="png",
                sources=["upload", "clipboard"],
            )
            f_seed = seed_box(value=1)  # seed 0's face is one of the few dark, noisy ones: open on a typical one
            f_identity = class_dropdown(gallery, first(faces), "The face's own identity", AUTO_IDENTITY)
            f_count = gr.Slider(1, inputs.MAX_COUNT, value=8, step=1, label="Faces of one identity")
            f_sample = gr.Button("Use a generated sample")
            f_go = gr.Button("Swap identities", variant="primary")
        with gr.Column(scale=2):
            f_recon = shown_image("Input | reconstruction", "swap-recon")
            f_swaps = shown_gallery(
                "Same z under every identity (reference | swapped)", 6, "swap-gallery", pixelated=False
            )
            f_vary = shown_gallery("One identity under many z", 8, "vary-gallery")
            f_info = gr.JSON(label="Identity and recipe")
    follow_classes(gallery, f_model, f_identity, AUTO_IDENTITY)

    def do_generate_face(model, seed, identity, request: gr.Request):
        return gallery.generated_face(model, seed, identity, is_api_call(request))

    def do_swap(model, face, seed, identity, count, request: gr.Request, progress=gr.Progress()):
        return gallery.swap(model, face, seed, identity, count, is_api_call(request), progress)

    f_sample.click(do_generate_face, [f_model, f_seed, f_identity], f_face, api_name="generate_face", **q.raw)
    f_inputs, f_outputs = [f_model, f_face, f_seed, f_identity, f_count], [f_recon, f_swaps, f_vary, f_info]
    to_address_bar = web.address_bar("swap")
    f_go.click(do_swap, f_inputs, f_outputs, api_name="swap_identity", **q.raw).then(None, f_info, js=to_address_bar)
    on_first_open(tab, partial(gallery.swap, api=False), f_inputs, f_outputs, **q.raw).then(
        None, f_info, js=to_address_bar
    )

    def serve(model, seed, identity, count):  # a link carries no upload: the seed's generated face
        return gallery.swap(model, None, seed, identity, count, api=False)

    fields = dict(zip(LINK_FIELDS["swap"], [f_model, f_seed, f_identity, f_count], strict=True))
    return Linkable("swap", fields, f_outputs, serve)


def pix2pix_tab(gallery: Gallery, q: Queues, tab: gr.Tab) -> None:
    """pix2pix: a drawn sketch, an uploaded edge or label map, or a photo whose edges are extracted."""
    translators = gallery.ids("pix2pix")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            p_model = gr.Dropdown(translators, value=first(translators), label="pix2pix model")
            with gr.Tabs():
                with gr.Tab("Draw"):
                    p_sketch = gr.Sketchpad(
                        elem_id="p2p-sketch",
                        type="filepath",
                        image_mode="RGB",
                        canvas_size=(512, 512),
                        label="Sketch",
                        brush=gr.Brush(default_size=6, colors=["#000000", *drawings.FACADE_BRUSH], color_mode="fixed"),
                    )
                    p_draw_go = gr.Button("Translate the drawing", variant="primary")
                with gr.Tab("Upload"):
                    p_upload = gr.Image(
                        type="filepath",
                        label="Edge map, photo or label map",
                        sources=["upload", "clipboard"],
                    )
                    p_kind = gr.Radio(
                        list(INPUT_KINDS),
                        value=gallery.default_kind(first(translators)),
                        label="This image is",
                    )
                    gr.Examples(
                        gallery.write_examples(),
                        [p_upload, p_kind],
                        label="Drawn by code (not from any data set)",
                    )
                    with gr.Row():
                        p_edges_go = gr.Button("Extract edges")
                        p_up_go = gr.Button("Translate", variant="primary")
            p_dropout = gr.Checkbox(False, label="Test-time dropout (a different photo per draw)")
            p_draws = gr.Slider(1, inputs.MAX_DRAWS, value=6, step=1, label="Draws (with dropout)")
            p_seed = seed_box()
        with gr.Column(scale=2):
            with gr.Row():
                p_cond = shown_image("What the model sees", "p2p-cond")
                p_out = shown_image("Translated photo", "p2p-out")
                p_std = shown_image("Per-pixel spread of the draws (std)", "p2p-std", pixelated=False)
            p_gallery = shown_gallery("Draws", 6)
            p_info = gr.JSON(label="Recipe")
    p_model.change(gallery.default_kind, p_model, p_kind, api_visibility="private", queue=False)
    outputs = [p_cond, p_out, p_gallery, p_std, p_info]

    def do_translate(model, image, kind, dropout, draws, seed, request: gr.Request, progress=gr.Progress()):
        return gallery.translate(model, image, kind, dropout, draws, seed, is_api_call(request), progress)

    def do_translate_sketch(model, sketch, dropout, draws, seed, request: gr.Request, progress=gr.Progress()):
        return gallery.translate_sketch(model, sketch, dropout, draws, seed, is_api_call(request), progress)

    p_up_go.click(
        do_translate,
        [p_model, p_upload, p_kind, p_dropout, p_draws, p_seed],
        outputs,
        api_name="translate",
        **q.raw,
    )
    p_draw_go.click(
        do_translate_sketch,
        [p_model, p_sketch, p_dropout, p_draws, p_seed],
        outputs,
        api_name="translate_sketch",
        **q.gpu,  # Gradio decodes the drawing (it may arrive as blobs): images.harden_pillow bounds it
    )
    p_edges_go.click(
        gallery.extract_edges,
        [p_model, p_upload],
        p_cond,
        api_name="extract_edges",
        **q.raw,
    )
    example = [p_model, p_dropout, p_draws, p_seed]
    on_first_open(tab, partial(gallery.translate_example, api=False), example, outputs, **q.raw)


def replay_section(gallery: Gallery, q: Queues, tab: gr.Tab) -> None:
    """Recorded 2D runs, plain vs stabilised, step by step with their mode counters."""
    toys = gallery.mixtures()
    gr.Markdown(
        "### Replay: recorded 2D runs, plain vs stabilised\nGenerated points (orange), the "
        "real modes (circles) and the critic's scores (contours) as training went on."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            m_mixture = gr.Radio(toys or ["ring"], value=first(toys) or "ring", label="Mixture")
            # opens on the end of training, where collapse shows; Play from there starts over
            last = max(gallery.snapshots(toys[0]) - 1, 1) if toys else 1
            m_step = gr.Slider(0, last, value=last, step=1, label="Snapshot", elem_id="modes-step")
            with gr.Row():
                m_show = gr.Button("Show", variant="primary")
                m_play = gr.Button("▶ Play")
            m_counts = gr.JSON(label="Counters: modes captured, share of high-quality samples")
        with gr.Column(scale=3):
            m_plot = shown_image("Replay", "modes-plot", pixelated=False)

    def snapshot_slider(mixture):
        last = max(gallery.snapshots(mixture) - 1, 1)
        return gr.Slider(maximum=last, value=last)

    def do_play(mixture, start):
        yield from gallery.replay(mixture, start)

    m_mixture.change(snapshot_slider, m_mixture, m_step, api_visibility="private", queue=False)
    m_show.click(gallery.mode_coverage, [m_mixture, m_step], [m_plot, m_counts], api_name="mode_coverage", **q.raw)
    m_step.release(gallery.mode_coverage, [m_mixture, m_step], [m_plot, m_counts], api_visibility="private", **q.raw)
    m_play.click(do_play, [m_mixture, m_step], [m_step, m_plot, m_counts], api_name="replay", **q.replay)
    on_first_open(tab, gallery.mode_coverage, [m_mixture, m_step], [m_plot, m_counts], **q.raw)


def live_section(gallery: Gallery, q: Queues) -> None:
    """A bounded 2D training run on this server, streamed as it goes."""
    gr.Markdown(
        "### Live: a bounded training run on this server\nPacking (PacGAN) lets the "
        "discriminator judge several samples at once, which penalises a collapsed generator."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            l_mixture = gr.Radio(list(mixtures.MIXTURES), value="ring", label="Mixture")
            l_loss = gr.Radio(
                list(inputs.LIVE_LOSSES),
                value="gan",
                label="Loss (gan = non-saturating; wgan-gp = Wasserstein + penalty)",
            )
            l_pack = gr.Slider(1, inputs.LIVE_MAX_PACK, value=1, step=1, label="Packing")
            l_steps = gr.Slider(50, inputs.LIVE_MAX_STEPS, value=500, step=50, label="Steps", elem_id="live-steps")
            l_lr = gr.Number(1e-3, label="Learning rate", info="(0, 0.01]")
            l_seed = seed_box()
            l_go = gr.Button("Train live", variant="primary")
            l_counts = gr.JSON(label="Live counters", elem_id="live-counts")
        with gr.Column(scale=3):
            l_plot = shown_image("Live run", "live-plot", pixelated=False)

    def do_live(mixture, loss, pack, steps, lr, seed, request: gr.Request):
        yield from gallery.live(mixture, loss, pack, steps, lr, seed, is_api_call(request))

    l_go.click(
        do_live,
        [l_mixture, l_loss, l_pack, l_steps, l_lr, l_seed],
        [l_plot, l_counts],
        api_name="train_live",
        **q.raw,
    )


def histogram_section(gallery: Gallery, tab: gr.Tab) -> None:
    """Stacked MNIST: the shipped models' recorded mode histograms."""
    gr.Markdown(
        "### Stacked MNIST: modes of the shipped models\nThree digits stacked as colour "
        "channels make 1,000 modes; the evaluation counts how many a generator reaches. Its KL to "
        "uniform splits in two: skewed digit shares within a channel (blurry digits read as one "
        "digit) and channels that no longer vary independently (`kl_from_dependence`). The "
        "`-small-d` pair trains against a discriminator a quarter of G's width, as Unrolled GAN and "
        "PacGAN do: the plain run collapses, the packed one keeps its modes. Fewest modes first."
    )
    hist_ids = gallery.histogram_ids()
    if not hist_ids:
        gr.Markdown(
            "No shipped model has recorded a mode histogram yet (the Stacked MNIST models "
            "do: `python -m training.evaluate stacked-mnist-dcgan-plain`)."
        )
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            h_model = gr.Dropdown(hist_ids, value=first(hist_ids), label="Model")
            h_go = gr.Button("Show histogram")
            h_info = gr.JSON(label="Coverage")
        with gr.Column(scale=3):
            h_plot = shown_image("Mode histogram", "histogram-plot", pixelated=False)
    h_go.click(gallery.mode_histogram, h_model, [h_plot, h_info], api_name="mode_histogram", preprocess=False)
    on_first_open(tab, gallery.mode_histogram, [h_model], [h_plot, h_info], preprocess=False)


def geometry_section(gallery: Gallery, q: Queues, tab: gr.Tab) -> None:
    """Where dG/dz loses rank: over the 2D runs' latents, and the spectrum of an image generator."""
    samplers, toys = gallery.ids("sample", "cvae-gan"), gallery.mixtures()
    gr.Markdown(
        "### The geometric view\nMode collapse is where the generator's tangent vectors "
        "dG/dz become dependent (Localized GAN): around such a latent, a whole patch of z is "
        "squeezed onto a curve (rank 1) or one point (rank 0). Below: the 2D runs' latents "
        "and points coloured by that rank, then the spectrum of an image generator at one latent, "
        "beside another's. The collapsed Stacked MNIST generator keeps its rank but has lost its "
        "strong directions: its largest singular values are about a tenth of its packed twin's."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            r_mixture = gr.Radio(toys or ["ring"], value=first(toys) or "ring", label="Mixture")
            r_go = gr.Button("Where the Jacobian loses rank", variant="primary")
            r_info = gr.JSON(label="Share of 2,500 latents at each rank")
        with gr.Column(scale=3):
            r_plot = shown_image("Rank of dG/dz over the latents", "rank-plot", pixelated=False)
    r_go.click(gallery.jacobian_map, r_mixture, [r_plot, r_info], api_name="jacobian_map", **q.raw)
    on_first_open(tab, gallery.jacobian_map, [r_mixture], [r_plot, r_info], **q.raw)

    collapsed, twin = gallery.collapse_pair()
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            j_model = gr.Dropdown(samplers, value=collapsed or first(samplers), label="Model")
            j_seed = seed_box()
            j_class = class_dropdown(gallery, collapsed or first(samplers))
            j_other = gr.Dropdown([NO_COMPARISON, *samplers], value=twin or NO_COMPARISON, label="Compare with")
            j_go = gr.Button("Compute the spectrum", variant="primary")
            j_info = gr.JSON(label="Numerical rank")
        with gr.Column(scale=3):
            j_plot = shown_image("Singular values (log scale)", "jacobian-plot", pixelated=False)
    follow_classes(gallery, j_model, j_class)

    def do_jacobian(model, seed, cls, other, request: gr.Request, progress=gr.Progress()):
        return gallery.jacobian(model, seed, cls, other, is_api_call(request), progress)

    j_inputs = [j_model, j_seed, j_class, j_other]
    j_go.click(do_jacobian, j_inputs, [j_plot, j_info], api_name="jacobian_spectrum", **q.raw)
    on_first_open(tab, partial(gallery.jacobian, api=False), j_inputs, [j_plot, j_info], **q.raw)


def data_endpoints(gallery: Gallery) -> None:
    """JSON endpoints beside the page: health, model list, and a no-op through the queue."""

    def health() -> dict:
        """Liveness: loaded models and the unavailable ones with their reasons."""
        return gallery.health()[1]

    def list_models() -> list[dict]:
        """Every manifest model: card data, licence, revision, metrics and commands."""
        return gallery.list_models()

    def ping() -> str:
        """Does nothing, through the same queue as the model endpoints: the baseline of bench/serving.py."""
        return "pong"

    gr.api(health, api_name="health", queue=False)
    gr.api(ping, api_name="ping", concurrency_id="ping", concurrency_limit=None)
    gr.api(list_models, api_name="list_models", queue=False)


def create_app(settings: Settings | None = None) -> tuple[gr.Blocks, Gallery]:
    """Load the models (once) and build the page."""
    settings = settings or settings_from_env()
    gallery = Gallery.from_settings(settings)
    return build_app(gallery, settings.concurrency, settings.queue_size), gallery


def launch(demo: gr.Blocks, gallery: Gallery, settings: Settings, **extra):
    """Serve the page as ``python app.py`` does (tests pass prevent_thread_lock=True)."""
    harden_pillow()  # any image decoded in this process: accepted formats only, pixels capped
    web.atomic_image_cache()  # equal images returned at once never overwrite each other
    app_kwargs = {"routes": [web.health_route(gallery)], "middleware": [Middleware(web.RequestGuard)]}
    return demo.launch(**{**settings.launch_kwargs(), **extra}, app_kwargs=app_kwargs, css=CSS)


if __name__ == "__main__":
    settings = settings_from_env()
    demo, gallery = create_app(settings)
    launch(demo, gallery, settings)
