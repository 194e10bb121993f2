"""One line of text from a model's measured metrics (its manifest ``metrics``), kind by kind: the
README's gallery table (``training.gallery_table``) and the app's model cards share it."""

from __future__ import annotations


def _pct(x) -> str:
    return f"{100 * x:.1f}%"


def _g(x, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def summarise(metrics: dict) -> str:
    """One table cell from a ``metrics`` object."""
    if not metrics or not metrics.get("values"):
        return "not measured yet"
    v, ref, det = metrics["values"], metrics.get("reference", {}), metrics.get("details", {})
    kind = det.get("evaluation")
    n, fnet = metrics.get("samples"), metrics.get("feature_network")
    parts: list[str] = []
    if kind == "digits":
        parts = [
            f"FD {_g(v['frechet_distance'])} (real {_g(ref.get('frechet_distance', float('nan')))})",
            f"KID {v['kid']:.4f}",
            f"P/R {v['precision']:.2f}/{v['recall']:.2f}",
            f"D/C {v['density']:.2f}/{v['coverage']:.2f}",
            f"IS {v['inception_score']:.2f}",
            f"conf {v['confidence']:.3f}",
            f"classes {_pct(v['min_class_fraction'])}–{_pct(v['max_class_fraction'])}",
        ]
        if "class_accuracy" in v:
            parts.append(f"class acc {_pct(v['class_accuracy'])}")
    elif kind == "stacked":
        parts = [f"modes {v['modes']}/{v['total_modes']}", f"KL {v['kl']:.3f} (real {ref.get('kl', 0):.3f})"]
    elif kind == "toy2d":
        parts = [
            f"modes {_g(v['modes'])}/{v['total_modes']} (min {v['min_modes']})",
            f"high quality {_pct(v['high_quality'])}",
            *([f"full-rank dG/dz {_pct(v['full_rank'])}"] if "full_rank" in v else []),
            f"{len(det.get('seeds', []))} seeds",
        ]
    elif kind == "faces":
        parts = [
            f"FD {_g(v['frechet_distance'])} (train {_g(ref.get('frechet_distance', float('nan')))})",
            f"P/R {v['precision']:.2f}/{v['recall']:.2f}",
            f"D/C {v['density']:.2f}/{v['coverage']:.2f}",
            f"sharpness {v['sharpness_ratio']:.2f}",
        ]
    elif kind == "identity":
        parts = [f"identity acc {_pct(v['identity_accuracy'])}", f"sharpness {v['sharpness_ratio']:.2f}"]
    elif kind == "cvae-gan":
        parts = [
            f"identity acc {_pct(v['identity_accuracy'])}",
            f"swap acc {_pct(v['swap_accuracy'])}",
            f"recon L1 {v['reconstruction_l1']:.3f}",
            f"sharpness {v['sharpness_ratio']:.2f}",
        ]
    elif kind == "pix2pix":
        parts = [
            f"L1 {v['l1']:.3f}",
            f"PSNR {v['psnr']:.2f} dB",
            f"SSIM {v['ssim']:.3f}",
            f"sharpness {v['sharpness_ratio']:.2f}",
            "dropout off",
        ]
    elif kind == "emoji":
        parts = [
            f"NN-RMS to train {v['nn_rms_to_train']:.3f} (held-out {ref.get('nn_rms_to_train', 0):.3f})",
            f"near copies {_pct(v['near_copy_fraction'])}",
            f"diversity {v['feature_diversity']:.2f} (real {ref.get('feature_diversity', 0):.2f})",
            f"sharpness {v['sharpness_ratio']:.2f}",
        ]
    elif kind == "classifier":
        parts = [f"test acc {_pct(v['accuracy'])}"]
    else:
        parts = [f"{k} {_g(x)}" for k, x in v.items()]
    scope = f"{n:,} {'pairs' if kind == 'pix2pix' else 'images' if kind == 'classifier' else 'samples'}"
    if kind not in ("classifier", "pix2pix") and metrics.get("seed") is not None:
        scope += f", seed {metrics['seed']}"
    if fnet:
        scope += f", {fnet} features"
    return " · ".join(parts) + f" ({scope})"
