"""``python -m training <recipe> [--setting value ...]``: train one gallery model from real data
and publish it to weights/ and weights_manifest.json. ``python -m training --list`` lists them.
Under ``torchrun --nproc_per_node N`` the same command trains with DistributedDataParallel."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import typing

from training.recipes import RECIPES


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _arg_type(tp):
    tp = typing.get_args(tp)[0] if typing.get_origin(tp) in (typing.Union, type(int | None)) else tp
    return {bool: _parse_bool, int: int, float: float}.get(tp, str)


def build_config(recipe_name: str, argv: list[str]):
    recipe = RECIPES[recipe_name]
    cls = recipe.family.config_class
    hints = typing.get_type_hints(cls)
    parser = argparse.ArgumentParser(prog=f"python -m training {recipe_name}")
    for f in dataclasses.fields(cls):
        parser.add_argument("--" + f.name.replace("_", "-"), type=_arg_type(hints[f.name]), default=None)
    parser.add_argument("--no-publish", action="store_true", help="train only; publish later with training.publish")
    args = vars(parser.parse_args(argv))
    publish = not args.pop("no_publish")
    settings = {"model_id": recipe_name, **recipe.settings, **{k: v for k, v in args.items() if v is not None}}
    return cls(**settings), publish


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv[0] == "--list":
        width = max(map(len, RECIPES))
        for name, recipe in RECIPES.items():
            print(f"{name:<{width}}  {recipe.summary}")
        return 0
    name = argv[0]
    if name not in RECIPES:
        print(f"unknown recipe {name!r}; see python -m training --list", file=sys.stderr)
        return 2
    from training.loop import train
    from training.publish import publish_run

    try:
        cfg, publish = build_config(name, argv[1:])
    except ValueError as err:  # a setting the family refuses (e.g. an unknown loss)
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    command = "python -m training " + shlex.join(argv)
    run = train(RECIPES[name].family, cfg, command=command)
    import os

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # torchrun: every rank has finished training
        dist.destroy_process_group()
    if publish and int(os.environ.get("RANK", "0")) == 0:
        entry = publish_run(run)
        print(f"published {entry['id']} to weights/{entry['id']}/ and weights_manifest.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
