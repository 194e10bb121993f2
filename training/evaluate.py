"""``python -m training.evaluate <model-id>``: measure a published model and record the numbers
in its ``weights_manifest.json`` entry (``metrics``), with the exact command that reproduces them.

    python -m training.evaluate mnist-dcgan-ns [--samples N] [--seed S] [--data-root P] [--device D]
    python -m training.evaluate --all            # every model of the manifest
    python -m training.evaluate --table          # the README's gallery table, from the manifest
    python -m training.evaluate --table --write-readme   # ... written between the README's markers

Models are loaded through ``gan_models.load_model`` (every file checked against the manifest)
and generated images go through the same uint8 conversion the app uses. What is measured
depends on the model (``evaluation_kind``; each kind's code is a module of ``training/evaluations/``;
the README's "Evaluation" section):

- digits (MNIST / Fashion-MNIST samplers): class histogram, mean confidence, Inception-style
  score, Frechet distance, KID, precision / recall / density / coverage in the penultimate
  features of the ``digits-classifier`` (``fashion-classifier``) against the 10,000 test images;
  class accuracy for class-conditional models; reference: N real training images, measured alike;
- Stacked MNIST: modes captured of 1,000 and KL to uniform (each channel read by the digit classifier);
- toy2d: modes captured, share of high-quality samples and share of latents where dG/dz has full
  rank (the geometric view of collapse), 5 sampling seeds;
- faces (celeb24-dcgan): Frechet distance, KID, PRDC in ``faces-classifier`` features against the
  held-out faces, sharpness ratio; class-conditional faces (the CGAN ablation): identity accuracy;
- CVAE-GAN: identity accuracy, swap accuracy, reconstruction L1, sharpness ratio;
- OpenMoji: nearest-training-image distance (memorisation), diversity, sharpness ratio;
- pix2pix: L1, PSNR, SSIM and sharpness ratio on held-out pairs, dropout off;
- classifiers: accuracy on the real test split.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

from gan_models.manifest import PROJECT_ROOT, ModelEntry, manifest_path, raw_manifest, read_manifest, write_manifest
from gan_models.store import default_device, load_model
from training.evaluations import EVALUATIONS
from training.evaluations.common import Context, EvaluationError, dataset_key, round_sig

# evaluation kind -> default number of generated samples (None: every held-out item)
DEFAULT_SAMPLES = {
    "digits": 10_000,
    "stacked": 26_000,
    "toy2d": 2_500,
    "faces": 1_000,
    "identity": 1_200,  # 50 per identity of faces-celeb24
    "cvae-gan": 1_200,  # and as many identity swaps
    "emoji": 1_000,
    "pix2pix": None,
    "classifier": None,
}


def evaluation_kind(entry: ModelEntry) -> str:
    if entry.task in ("classifier", "toy2d", "pix2pix", "cvae-gan"):
        return entry.task
    key = dataset_key(entry)
    if entry.id.startswith("stacked-mnist") or key == "stacked-mnist":
        return "stacked"
    if key in ("mnist", "fashion"):
        return "digits"
    if key == "faces-celeb24":
        return "identity" if entry.num_classes else "faces"
    if key == "openmoji-64":
        return "emoji"
    raise EvaluationError(f"model {entry.id!r}: no evaluation for data set {entry.dataset.get('name')!r}")


# ----------------------------------------------------------------------------- measuring and recording


def _rounded(values: dict) -> dict:
    return {k: (round_sig(v) if isinstance(v, float) else v) for k, v in values.items()}


def command_line(model_id: str, samples: int | None, seed: int) -> str:
    cmd = f"python -m training.evaluate {model_id}"
    if samples is not None:
        cmd += f" --samples {samples}"
    return cmd + f" --seed {seed}"


def measure(model_id: str, samples: int | None = None, seed: int = 0, ctx: Context | None = None) -> dict:
    """Measure one model -> its manifest ``metrics`` object (nothing is written)."""
    ctx = ctx or Context(default_device())
    if model_id not in ctx.models:
        ctx.models[model_id] = load_model(model_id, ctx.device)
    model = ctx.models[model_id]
    kind = evaluation_kind(model.entry)
    n = samples if samples is not None else DEFAULT_SAMPLES[kind]
    if n is not None and n < 1:
        raise EvaluationError("--samples must be positive")
    start = time.perf_counter()
    values, reference, details, feature_network, counted = EVALUATIONS[kind](ctx, model, n, seed)
    return {
        "command": command_line(model_id, n, seed),
        "values": _rounded(values),
        "samples": counted,
        "seed": seed,
        "feature_network": feature_network,
        "reference": _rounded(reference),
        "details": {"evaluation": kind, **details},
        "device": str(ctx.device),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "date": datetime.date.today().isoformat(),
        "weights_sha256": _weights_fingerprint(model.entry),
        "feature_network_sha256": _weights_fingerprint(ctx.models[feature_network].entry) if feature_network else None,
    }


def _weights_fingerprint(entry: ModelEntry) -> dict[str, str]:
    return {role: net.file("model.safetensors").sha256 for role, net in sorted(entry.networks.items())}


def record(model_id: str, metrics: dict, path: Path | None = None) -> None:
    """Write ``metrics`` into the model's manifest entry (validated, atomic), refusing if the
    entry's weights changed since they were measured (re-published meanwhile)."""
    path = Path(path or manifest_path())
    data = raw_manifest(path)
    entries = read_manifest(path)
    if model_id not in entries:
        raise EvaluationError(f"model {model_id!r} left the manifest while it was measured")
    if _weights_fingerprint(entries[model_id]) != metrics.get("weights_sha256"):
        raise EvaluationError(f"model {model_id!r} was re-published while it was measured; measure it again")
    for m in data["models"]:
        if m.get("id") == model_id:
            m["metrics"] = metrics
    write_manifest(data, path)


# ----------------------------------------------------------------------------- the command line


def _evaluate_one(model_id: str, args, ctx: Context) -> None:
    metrics = measure(model_id, args.samples, args.seed, ctx)
    record(model_id, metrics)
    print(json.dumps({"id": model_id, "command": metrics["command"], "values": metrics["values"]}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model_id", nargs="?", help="a model id of weights_manifest.json")
    parser.add_argument("--samples", type=int, help="generated samples (default per kind; see the README)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--data-root", help="data root (default: GAN_GALLERY_DATA or ../shared/data)")
    parser.add_argument("--device", help="cpu or cuda (default: GAN_GALLERY_DEVICE, else cuda when present)")
    parser.add_argument("--all", action="store_true", help="measure every model of the manifest")
    parser.add_argument("--table", action="store_true", help="print the gallery table made from the manifest")
    parser.add_argument(
        "--write-readme",
        nargs="?",
        const=str(PROJECT_ROOT / "README.md"),
        metavar="README",
        help="with --table: also write it between the gallery-table markers of README.md",
    )
    args = parser.parse_args(argv)
    if args.table or args.write_readme:
        from training.gallery_table import gallery_table, write_readme_table

        table = gallery_table()
        print(table, end="")
        if args.write_readme:
            write_readme_table(table, Path(args.write_readme))
        return 0
    if bool(args.all) == bool(args.model_id):
        parser.error("give one model id or --all")
    ctx = Context(torch.device(args.device) if args.device else default_device(), args.data_root)
    ids = list(read_manifest()) if args.all else [args.model_id]
    failed = {}
    for model_id in ids:
        try:
            _evaluate_one(model_id, args, ctx)
        except Exception as e:  # one model's failure must not stop --all; reported below
            if not args.all:
                print(f"evaluation of {model_id} failed: {type(e).__name__}: {e}", file=sys.stderr)
                return 1
            failed[model_id] = f"{type(e).__name__}: {e}"
    for model_id, why in failed.items():
        print(f"evaluation of {model_id} failed: {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
