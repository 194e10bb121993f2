#!/usr/bin/env bash
# Train several gallery runs at once on one lent GPU in a single device call, publish them there,
# and bring the published weights back. A device call carries at most 64 MiB of working tree and
# returns at most 8 files of 16 MiB, and weights/ alone is larger, hence the three steps:
#
#   here:   bash training/device_runs.sh pack PLAN        # data the plan reads -> runs/device/ (git-ignored)
#           mv weights /tmp/weights-aside                 # out of the travelling tree (put back after)
#   device: bash training/device_runs.sh train PLAN       # run command; carry ["runs/device"]
#   here:   mv /tmp/weights-aside weights
#           bash training/device_runs.sh unpack FILES_AT  # weights/<id>/ and their manifest entries
#           python -m training.evaluate <id> --samples N --seed 0 --data-root ../shared/data
#
# PLAN is a text file, one run per line: the arguments of `python -m training` (a recipe and its
# flags), then `--half` to publish float16 files; `#` starts a comment. Each run gets
# --no-publish, --run-dir runs/<recipe> and the packed data (GAN_GALLERY_DATA); RUN_LIMIT_S (default 480)
# bounds each run, which checkpoints as it goes so that a cut run can be resumed by a later call.
set -euo pipefail

cmd=${1:?usage: device_runs.sh pack|train|unpack PLAN_OR_FOLDER}
arg=${2:?usage: device_runs.sh pack|train|unpack PLAN_OR_FOLDER}
PY=${PYTHON:-python3}
DEVICE_DIR=runs/device
DATA_ROOT=${GAN_GALLERY_DATA:-../shared/data}

plan_lines() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1"; }

datasets_of() {  # the data folders a plan's runs read, from their configs as training builds them
  plan_lines "$1" | "$PY" -c '
import shlex, sys
from training.__main__ import build_config
from training.data import data_folders
from training.recipes import RECIPES
for line in sys.stdin:
    name, *flags = shlex.split(line)
    if name not in RECIPES:
        sys.exit(f"no data set known for recipe {name}")
    cfg, _ = build_config(name, [f for f in flags if f != "--half"])
    if getattr(cfg, "dataset", None):  # the 2D toys draw their own data
        print("\n".join(data_folders(cfg.dataset)))
' | sort -u
}

case $cmd in
  pack)
    mkdir -p "$DEVICE_DIR"
    cp "$arg" "$DEVICE_DIR/plan.txt"
    sets=$(datasets_of "$arg")
    # MNIST's raw files compress 4x; torchvision reads the unpacked ones
    # shellcheck disable=SC2086  # one word per data folder
    tar -C "$DATA_ROOT" -czf "$DEVICE_DIR/data.tar.gz" $sets
    du -sh "$DEVICE_DIR"
    ;;
  train)
    : "${OUT:?train runs on the device machine, where OUT names the folder that comes back}"
    mkdir -p "$DEVICE_DIR/data" "$OUT"
    tar -C "$DEVICE_DIR/data" -xzf "$DEVICE_DIR/data.tar.gz"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    ids=()
    while read -r recipe flags; do
      ids+=("$recipe")
      read -ra words <<<"$flags"
      train_flags=()
      for w in "${words[@]}"; do [[ $w == --half ]] || train_flags+=("$w"); done
      # the data root by environment, so that the recorded command reads as it would here
      (rc=0
        GAN_GALLERY_DATA=$DEVICE_DIR/data timeout "${RUN_LIMIT_S:-480}" "$PY" -m training "$recipe" \
          "${train_flags[@]}" --no-publish --run-dir "runs/$recipe" >"runs/$recipe.log" 2>&1 || rc=$?
        echo "$recipe: training exit $rc$([[ $rc == 124 ]] && echo ' (cut at RUN_LIMIT_S)')" >>runs/device-status.txt) &
    done < <(plan_lines "$arg")
    wait
    while read -r recipe flags; do
      half=$([[ " $flags " == *" --half "* ]] && echo --half || true)
      # shellcheck disable=SC2086  # an empty $half is no argument
      GAN_GALLERY_DATA=$DEVICE_DIR/data "$PY" -m training.publish "runs/$recipe" $half >>"runs/$recipe.log" 2>&1 \
        && echo "$recipe: published" >>runs/device-status.txt \
        || echo "$recipe: publish failed" >>runs/device-status.txt
    done < <(plan_lines "$arg")
    cat runs/device-status.txt
    published=() logs=()
    for id in "${ids[@]}"; do
      logs+=("runs/$id.log")
      if [[ -f runs/$id/run.json ]]; then logs+=("runs/$id/run.json"); fi
      if [[ -d weights/$id ]]; then published+=("weights/$id"); fi
    done
    tar -czf - weights_manifest.json runs/device-status.txt "${logs[@]}" "${published[@]}" |
      split -b 15M - "$OUT/published.tar.gz.part-"
    ls -l "$OUT"
    ;;
  unpack)
    scratch=$(mktemp -d)
    cat "$arg"/published.tar.gz.part-* | tar -C "$scratch" -xzf -
    cat "$scratch/runs/device-status.txt"
    for dir in "$scratch"/weights/*/; do
      [[ -d $dir ]] || continue # nothing was published
      id=$(basename "$dir")
      rm -rf "weights/$id" && mkdir -p weights && cp -r "$dir" "weights/$id"
      "$PY" - "$scratch/weights_manifest.json" "$id" <<'EOF'
import json, sys
from training.publish import upsert_entry
entry = next(m for m in json.load(open(sys.argv[1]))["models"] if m["id"] == sys.argv[2])
upsert_entry(entry)  # its metrics are empty: measure it here with training.evaluate
print(f"{sys.argv[2]}: weights/ and the manifest entry are in place")
EOF
    done
    mkdir -p runs/device-logs && cp -r "$scratch"/runs/. runs/device-logs/
    rm -rf "$scratch"
    ;;
  *)
    echo "unknown step $cmd: pack, train or unpack" >&2
    exit 2
    ;;
esac
