"""Requests of the Mode collapse tab: recorded 2D runs replayed and measured, a bounded live run, the
rank of the 2D generators' Jacobians, Stacked MNIST mode histograms, and the singular values of an
image generator's Jacobian at one latent."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator

import numpy as np

from .. import ops
from ..errors import plain_errors
from ..inputs import (
    COVERAGE_POINTS,
    LIVE_LOSSES,
    LIVE_MAX_LR,
    LIVE_MAX_PACK,
    LIVE_MAX_STEPS,
    REFERENCE_SEED,
    InputError,
    check_choice,
    check_seed,
    check_whole,
)
from ..mixtures import MIXTURES, mode_coverage
from ..plots import histogram_plot, rank_plot, spectrum_plot, toy_plot
from ..store import LoadedModel
from .base import NO_COMPARISON, GalleryBase, no_progress

_GLOBAL_RNG_LOCK = threading.Lock()  # around the few steps that seed torch's global RNG


def _kl_to_uniform(p: np.ndarray) -> float:
    """KL(p || uniform over len(p) outcomes), in nats."""
    nz = p > 0
    return float((p[nz] * np.log(p[nz] * len(p))).sum())


class CollapseRequests(GalleryBase):
    """Mode collapse, measured and drawn."""

    @staticmethod
    def mixture_of(model: LoadedModel) -> str:
        mixture = model.entry.extras.get("mixture", "ring")
        return mixture if mixture in MIXTURES else "ring"

    def mixtures(self) -> list[str]:
        found = {self.mixture_of(self.store.models[i]) for i in self.ids("toy2d")}
        return [m for m in MIXTURES if m in found]

    def trajectory(self, model: LoadedModel) -> dict | None:
        def read():
            data = model.extras.get("trajectory.safetensors")
            if data is None:
                return None
            from safetensors.torch import load

            return load(data)

        return self._cached(("trajectory", model.id), read)

    def snapshots(self, mixture) -> int:
        """Snapshots of the shortest recording among this mixture's runs (the slider's length)."""
        runs = [self.trajectory(m) for m in self.toy_models(mixture)]
        lengths = [len(t["steps"]) for t in runs if t is not None]
        return min(lengths) if lengths else 1

    def toy_models(self, mixture) -> list[LoadedModel]:
        check_choice(mixture, MIXTURES, "mixture")
        models = [self.store.models[i] for i in self.ids("toy2d")]
        models = [m for m in models if self.mixture_of(m) == mixture]
        if not models:
            raise InputError(f"no 2D model of the {mixture} mixture is loaded")
        return sorted(models, key=lambda m: ("stable" in m.id, m.id))  # plain first

    def _replay_panel(self, model: LoadedModel, traj: dict, index: int) -> dict:
        i = min(index, len(traj["steps"]) - 1) if index >= 0 else len(traj["steps"]) - 1
        modes, hq = int(traj["modes"][i]), float(traj["high_quality"][i])
        total = len(MIXTURES[self.mixture_of(model)][0])
        return {
            "points": traj["points"][i],
            "critic": traj["critic"][i] if "critic" in traj else None,
            "extent": traj["extent"] if "extent" in traj else None,
            "title": f"{model.id} · step {int(traj['steps'][i]):,}\n{modes}/{total} modes · {hq:.0%} high quality",
            "counters": {
                "snapshot": i,
                "snapshots": len(traj["steps"]),
                "step": int(traj["steps"][i]),
                "modes": modes,
                "total_modes": total,
                "high_quality": hq,
            },
        }

    def shipped_coverage(self, model: LoadedModel) -> dict:
        """Mode coverage of the shipped generator itself over 2,500 samples (PacGAN's count)."""

        def measure():
            centres, sigma = MIXTURES[self.mixture_of(model)]
            cov = mode_coverage(ops.toy_points(model, COVERAGE_POINTS, REFERENCE_SEED), centres, sigma)
            return {k: cov[k] for k in ("modes", "total_modes", "high_quality", "samples")}

        return self._cached(("coverage", model.id), measure)

    def rank_map(self, model: LoadedModel) -> dict:
        """The rank of the shipped 2D generator's Jacobian at 2,500 latents (fixed seed: cached)."""

        def measure():
            z, points, values = ops.latent_jacobians(model, COVERAGE_POINTS, REFERENCE_SEED)
            ranks, tol = ops.numerical_ranks(values, points.shape[1])
            return {"z": z, "points": points, "ranks": ranks.numpy(), "full": values.shape[1], "tolerance": tol}

        return self._cached(("ranks", model.id), measure)

    @plain_errors("the Jacobian map")
    def jacobian_map(self, mixture) -> tuple[np.ndarray, dict]:
        """The 2D runs of one mixture, plain and stabilised, their latents and points coloured by
        the rank of dG/dz -> (plot, the share of latents at each rank per run)."""
        panels, counters = [], {}
        for model in self.toy_models(mixture):
            found = self.rank_map(model)
            ranks = found["ranks"]
            panels.append({"z": found["z"], "points": found["points"], "ranks": ranks, "title": model.id})
            measured = model.entry.metrics.get("values", {}).get("full_rank")
            counters[model.id] = {
                "revision": self.revision(model.entry),
                "latents": len(ranks),
                "seed": REFERENCE_SEED,
                "full_rank": float((ranks == found["full"]).mean()),
                "shares": {f"rank {r}": float((ranks == r).mean()) for r in range(found["full"], -1, -1)},
                "tolerance": found["tolerance"],
                "evaluated_full_rank": measured,  # training.evaluate, mean over its 5 seeds
                "evaluated_with": model.entry.metrics.get("command") if measured is not None else None,
            }
        return rank_plot(panels, mixture), counters

    @plain_errors("the replay")
    def mode_coverage(self, mixture, snapshot) -> tuple[np.ndarray, dict]:
        """Recorded runs of one mixture side by side at one snapshot -> (plot, counters)."""
        return self._coverage(mixture, snapshot)

    def _coverage(self, mixture, snapshot) -> tuple[np.ndarray, dict]:
        models = self.toy_models(mixture)
        snapshot = check_whole(snapshot, "snapshot", 0, 10**6)
        panels, counters = [], {}
        for model in models:
            traj = self.trajectory(model)
            if traj is None:
                points = ops.toy_points(model, COVERAGE_POINTS, REFERENCE_SEED)
                panel = {"points": points, "title": f"{model.id} (no recorded trajectory)", "counters": {}}
            else:
                panel = self._replay_panel(model, traj, snapshot)
            panels.append(panel)
            counters[model.id] = {**panel["counters"], "shipped_generator": self.shipped_coverage(model)}
        return toy_plot(panels, mixture), counters

    @plain_errors("the replay", slot=False)  # plots of recorded runs: no model-work slot
    def replay(self, mixture, start, delay: float = 0.25) -> Iterator[tuple[int, np.ndarray, dict]]:
        """Play the recording from ``start`` (or from the beginning when at the end)."""
        last = self.snapshots(mixture) - 1
        start = check_whole(start, "snapshot", 0, 10**6)
        start = 0 if start >= last else start
        for i in range(start, last + 1):
            plot, counters = self._coverage(mixture, i)
            yield i, plot, counters
            if i < last:
                time.sleep(delay)

    @plain_errors("the live run")
    def live(self, mixture, loss, pack, steps, lr, seed, api: bool = True) -> Iterator[tuple[np.ndarray, dict]]:
        """A bounded training run streamed to the page (training.toy2d_live)."""
        from training.toy2d_live import live_run

        check_choice(mixture, MIXTURES, "mixture")
        check_choice(loss, LIVE_LOSSES, "loss")
        pack = check_whole(pack, "packing", 1, LIVE_MAX_PACK)
        steps = check_whole(steps, "steps", 1, LIVE_MAX_STEPS)
        seed = check_seed(seed, api)
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise InputError(f"learning rate must be a number in (0, {LIVE_MAX_LR}]") from None
        if not 0 < lr <= LIVE_MAX_LR:
            raise InputError(f"learning rate must be in (0, {LIVE_MAX_LR}], got {lr!r}")
        every = max(10, steps // 20)
        run = live_run(mixture, loss, pack, steps, lr, seed, every)
        # live_run draws its initial weights from the global RNG (fork_rng + manual_seed, in its first
        # step): two runs starting at once would mix their seeds, so runs start one at a time.
        with _GLOBAL_RNG_LOCK:
            first = next(run)
        for rec in itertools.chain([first], run):
            total = rec.get("total_modes", len(MIXTURES[mixture][0]))
            counters = {
                "step": int(rec["step"]),
                "steps": steps,
                "modes": int(rec["modes"]),
                "total_modes": total,
                "high_quality": float(rec["high_quality"]),
                "d_loss": None if math.isnan(rec["d_loss"]) else float(rec["d_loss"]),
                "g_loss": None if math.isnan(rec["g_loss"]) else float(rec["g_loss"]),
            }
            title = (
                f"live {loss}, pack {pack} · step {counters['step']:,}/{steps:,}\n"
                f"{counters['modes']}/{total} modes · {counters['high_quality']:.0%} high quality"
            )
            yield toy_plot([{"points": rec["points"], "title": title}], mixture), counters

    def histogram_ids(self) -> list[str]:
        """Models with a recorded mode histogram, fewest modes first: the collapse opens the list."""
        entries = [e for e in self.store.entries.values() if (e.metrics.get("details") or {}).get("mode_histogram")]
        return [e.id for e in sorted(entries, key=lambda e: e.metrics.get("values", {}).get("modes", float("inf")))]

    def collapse_pair(self) -> tuple[str | None, str | None]:
        """The loaded image generator with the fewest recorded modes and its stabilised twin (the
        recipes name a pair ``...-plain...`` and ``...-stable...``), for the spectrum's defaults."""
        samplers = self.ids("sample", "cvae-gan")
        collapsed = next((i for i in self.histogram_ids() if i in samplers), None)
        twin = collapsed.replace("-plain", "-stable") if collapsed and "-plain" in collapsed else None
        return collapsed, twin if twin in samplers else None

    @plain_errors("the histogram", slot=False)
    def mode_histogram(self, model_id) -> tuple[np.ndarray, dict]:
        """The Stacked MNIST mode histogram a model's evaluation recorded."""
        entry = self.store.entries.get(model_id) if isinstance(model_id, str) else None
        hist = (entry.metrics.get("details") or {}).get("mode_histogram") if entry else None
        if hist is None:
            known = ", ".join(self.histogram_ids()) or "none yet"
            raise InputError(f"no mode histogram recorded for {model_id!r}; models with one: {known}")
        if isinstance(hist, dict) and "counts" in hist:
            hist = hist["counts"]
        if isinstance(hist, dict):
            counts = np.zeros(1000, np.int64)
            for k, v in hist.items():
                counts[int(k)] = int(v)
        else:
            counts = np.asarray(hist, dtype=np.int64)
        total = int(counts.sum())
        p = counts / max(total, 1)
        kl = _kl_to_uniform(p)
        covered = int((p > 0).sum())
        summary = {
            "model": entry.id,
            "modes_covered": covered,
            "total_modes": len(counts),
            "samples": total,
            "kl_to_uniform": kl,
        }
        if len(counts) == 1000 and total:
            # KL(p || uniform) = sum of the channels' KL(digit shares || uniform) + KL(p || product of
            # those shares): skewed digits (a blurry 8 read as 3) versus modes really missing together
            shares = [p.reshape(10, 10, 10).sum(axis=tuple(a for a in range(3) if a != c)) for c in range(3)]
            summary["digit_shares"] = {ch: s.round(4).tolist() for ch, s in zip("RGB", shares, strict=True)}
            summary["kl_from_digit_shares"] = sum(_kl_to_uniform(s) for s in shares)
            summary["kl_from_dependence"] = kl - summary["kl_from_digit_shares"]
        title = f"{entry.id}: {covered}/{len(counts)} modes · KL to uniform {kl:.3f} · {total:,} samples"
        return histogram_plot(counts, title), summary

    @plain_errors("the Jacobian spectrum")
    def jacobian(self, model_id, seed, class_name=None, compare_with=None, api=True, progress=no_progress):
        """Singular values of dG/dz at one seed -> (log plot, values and numerical rank), beside
        those of a second generator at the same seed when ``compare_with`` names one (a collapsed
        run and its stabilised twin: the collapsed one is contracted, not only rank-deficient)."""
        model = self.model(model_id, "sample", "cvae-gan")
        other = None if compare_with in (None, "", NO_COMPARISON) else self.model(compare_with, "sample", "cvae-gan")
        seed = check_seed(seed, api)
        label = self.class_index(model, class_name)
        progress(0.2, desc="differentiating the generator")
        info = self._spectrum(model, seed, label)
        spectra = [info]
        if other is not None:
            # the same class where the other model has it, otherwise its classes by seed
            names = other.entry.class_names
            other_label = names.index(info["class"]) if info["class"] in names else None
            info["compared_with"] = self._spectrum(other, seed, other_label)
            spectra.append(info["compared_with"])
        curves = [(s["model"], np.array(s["singular_values"]), s["tolerance"], s["numerical_rank"]) for s in spectra]
        return spectrum_plot(curves, f"dG/dz at seed {seed}"), info

    def _spectrum(self, model: LoadedModel, seed: int, label: int | None) -> dict:
        values = ops.jacobian_spectrum(model, seed, label=label).double()
        outputs = model.entry.resolution**2 * model.entry.channels
        ranks, tol = ops.numerical_ranks(values[None], outputs)  # numpy's matrix_rank rule for float32
        return {
            "model": model.id,
            "revision": self.revision(model.entry),
            "seed": seed,
            "class": model.entry.class_names[label or 0] if model.entry.class_names else None,
            "z_dim": len(values),
            "outputs": outputs,
            "numerical_rank": int(ranks[0]),
            "tolerance": tol,
            "largest": float(values[0]),
            "singular_values": [float(v) for v in values],
        }
