"""The gallery's plots, drawn with matplotlib's object API (no pyplot: thread-safe) and returned
as RGB arrays."""

from __future__ import annotations

import numpy as np
import torch

from .inputs import REFERENCE_SEED
from .mixtures import MIXTURES, sample_mixture


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)  # no pyplot: thread-safe, no global state
    FigureCanvasAgg(fig)
    return fig


def _render(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


RANK_COLOURS = {2: "tab:green", 1: "tab:orange", 0: "tab:red"}  # rank of dG/dz: plane, curve, point
RANK_LABELS = {2: "rank 2 (a patch of the plane)", 1: "rank 1 (a curve)", 0: "rank 0 (one point)"}


def _by_rank(ax, xy: np.ndarray, ranks: np.ndarray) -> list:
    """Scatter points coloured by the rank of the Jacobian where they were made -> legend handles."""
    from matplotlib.lines import Line2D

    handles = []
    for r in sorted(RANK_COLOURS, reverse=True):
        mask = ranks == r
        if mask.any():
            ax.scatter(xy[mask, 0], xy[mask, 1], s=3, c=RANK_COLOURS[r], alpha=0.7)
            share = f"{mask.mean():.0%}"
            handles.append(
                Line2D([], [], marker="o", ls="", color=RANK_COLOURS[r], ms=4, label=f"{RANK_LABELS[r]}: {share}")
            )
    return handles


def _toy_panel(ax, points, mixture: str, title: str, critic=None, extent=None, ranks=None) -> None:
    centres, sigma = MIXTURES[mixture]
    lim = float(centres.abs().max()) * 1.5 + 0.3
    if critic is not None and extent is not None:
        xmin, xmax, ymin, ymax = (float(v) for v in extent)
        g = critic.shape[-1]
        xs, ys = np.linspace(xmin, xmax, g), np.linspace(ymin, ymax, g)
        cs = ax.contourf(xs, ys, np.asarray(critic, dtype=np.float32), levels=14, cmap="coolwarm", alpha=0.55)
        ax.figure.colorbar(cs, ax=ax, fraction=0.046, pad=0.02, label="critic score")
        lim = max(lim, abs(xmin), abs(xmax), abs(ymin), abs(ymax))
    real, _ = sample_mixture(centres, sigma, 500, torch.Generator().manual_seed(REFERENCE_SEED))
    ax.scatter(real[:, 0].numpy(), real[:, 1].numpy(), s=2, c="black", alpha=0.5)
    c = centres.numpy()
    ax.scatter(c[:, 0], c[:, 1], s=140, facecolors="none", edgecolors="black", linewidths=1.2)
    p = np.asarray(points, dtype=np.float32)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", ls="", mfc="none", mec="black", ms=8, label="real modes and samples")]
    if ranks is None:
        ax.scatter(p[:, 0], p[:, 1], s=3, c="tab:orange", alpha=0.6)
        handles.append(Line2D([], [], marker="o", ls="", color="tab:orange", ms=4, label="generated"))
    else:
        handles += _by_rank(ax, p, np.asarray(ranks))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(handles=handles, loc="lower right", fontsize=7)


def toy_plot(panels: list[dict], mixture: str) -> np.ndarray:
    """One panel per run: points, real modes and (when recorded) the critic's contour."""
    fig = _figure(4.6 * len(panels), 4.4)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _toy_panel(ax, panel["points"], mixture, panel["title"], panel.get("critic"), panel.get("extent"))
    fig.tight_layout()
    return _render(fig)


def rank_plot(panels: list[dict], mixture: str) -> np.ndarray:
    """One row per run: its latents (first two coordinates) and the points it makes from them,
    each coloured by the rank of dG/dz there, so the regions of z that collapse are visible."""
    fig = _figure(9.2, 4.4 * len(panels))
    for i, panel in enumerate(panels):
        z, ranks = np.asarray(panel["z"], dtype=np.float32), np.asarray(panel["ranks"])
        ax = fig.add_subplot(len(panels), 2, 2 * i + 1)
        ax.legend(handles=_by_rank(ax, z, ranks), loc="lower right", fontsize=7)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.set_aspect("equal")
        ax.set_title(f"{panel['title']}: latents z", fontsize=9)
        ax = fig.add_subplot(len(panels), 2, 2 * i + 2)
        _toy_panel(ax, panel["points"], mixture, f"{panel['title']}: G(z)", ranks=ranks)
    fig.tight_layout()
    return _render(fig)


def spectrum_plot(curves: list[tuple[str, np.ndarray, float, int]], title: str) -> np.ndarray:
    """Singular values of one or more generators' dG/dz on one log axis: (name, values, rank
    tolerance, numerical rank) each, its tolerance dashed in the curve's colour."""
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    for (name, values, tol, rank), colour in zip(curves, ("tab:blue", "tab:orange"), strict=False):
        k = np.arange(1, len(values) + 1)
        ax.semilogy(k, np.maximum(values, 1e-30), "o-", ms=3, lw=1, color=colour, label=f"{name}: rank {rank}")
        ax.axhline(tol, color=colour, ls="--", lw=1, label=f"its rank tolerance {tol:.2e}")
    ax.set_xlabel("index of singular value (largest first)")
    ax.set_ylabel("singular value of dG/dz (log)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return _render(fig)


def histogram_plot(counts: np.ndarray, title: str) -> np.ndarray:
    fig = _figure(7.2, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(len(counts)), counts, width=1.0, color="tab:blue")
    ax.axhline(counts.sum() / len(counts), color="tab:red", ls="--", lw=1, label="uniform")
    missing = np.flatnonzero(counts == 0)
    if len(missing):  # a collapsed generator's empty modes, which bars of height 0 would not show
        ax.plot(missing, np.zeros(len(missing)), "|", color="tab:red", ms=8, label=f"missing modes ({len(missing):,})")
    # symlog: one mode holding every sample and the uniform count (26 of 26,000) both stay in view
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("mode (3-digit number)")
    ax.set_ylabel("samples (symlog)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _render(fig)


def std_map(outputs: np.ndarray) -> np.ndarray:
    """Per-pixel standard deviation over draws (mean over channels) as a colour image."""
    from matplotlib import colormaps

    std = outputs.astype(np.float32).std(axis=0).mean(axis=-1)
    scaled = std / max(float(std.max()), 1e-6)
    return (colormaps["magma"](scaled)[..., :3] * 255).round().astype(np.uint8)
