"""Generation speed of every shipped generator: eager fp32 against the fast path (bf16 autocast
+ channels_last, plus torch.compile on CUDA) in the same run, at several batch sizes; FLOPs per
image (torch.utils.flop_counter) and the share of the device's measured peak.

    python bench/generation.py [--models ID ...] [--batches 1,16,64,256,1024] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import gan_models  # noqa: E402
from bench.common import table, timed, write  # noqa: E402


def measured_peak(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large matmul: the practical ceiling the generators are compared with."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, device, min_time=1.0)
    return 2 * n**3 / seconds


@torch.inference_mode()
def forward(g: torch.nn.Module, z: torch.Tensor, y, bf16: bool) -> torch.Tensor:
    with torch.autocast(z.device.type, dtype=torch.bfloat16, enabled=bf16):
        return g(z, y) if y is not None else g(z)


def flops_per_image(g: torch.nn.Module, z: torch.Tensor, y) -> float:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        g(z, y) if y is not None else g(z)
    return counter.get_total_flops() / z.shape[0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--batches", default="1,16,64,256,1024")
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="default: on CUDA")
    parser.add_argument("--out", default="bench/results/generation.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    use_compile = device.type == "cuda" if args.compile is None else args.compile
    ids = args.models or [m.id for m in gan_models.list_models() if m.task in ("sample", "cvae-gan")]
    batches = [int(b) for b in args.batches.split(",")]
    peak_fast = measured_peak(device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    rows = []
    for model_id in ids:
        model = gan_models.load_model(model_id, device)
        plain = model.generator
        fast = plain.to(memory_format=torch.channels_last)
        if use_compile:
            fast = torch.compile(fast, mode="max-autotune-no-cudagraphs")
        k = model.entry.num_classes
        for batch in batches:
            z = torch.randn(batch, plain.z_dim, device=device)
            y = (torch.arange(batch, device=device) % k) if k else None
            t_plain = timed(partial(forward, plain, z, y, False), device)
            t_fast = timed(partial(forward, fast, z, y, True), device)
            flops = flops_per_image(plain, z[:1], y[:1] if k else None)
            rows.append(
                {
                    "model": model_id,
                    "batch": batch,
                    "eager_fp32_img_s": round(batch / t_plain),
                    "fast_img_s": round(batch / t_fast),
                    "speedup": round(t_plain / t_fast, 2),
                    "mflop_per_img": round(flops / 1e6, 1),
                    "fast_share_of_peak": f"{flops * batch / t_fast / peak_fast:.1%}",
                }
            )
            print(table(rows[-1:], list(rows[-1])), flush=True)
    print(table(rows, list(rows[0])) if rows else "no generators in the manifest")
    write({"peak_flop_s": peak_fast, "compile": use_compile, "rows": rows}, args.out, device)


if __name__ == "__main__":
    main()
