#!/bin/sh
# The container's start command (Dockerfile ENTRYPOINT). It serves the gallery with the
# environment the image sets (GRADIO_SERVER_NAME=0.0.0.0, GRADIO_SERVER_PORT=7860, HF_HOME=/data/hf)
# and whatever the operator adds with `docker run -e` (README, "Hosting with Docker").
# At start app.py checks every weight file against weights_manifest.json: a model whose file
# differs is refused, named in the log and on the page, and listed under "unavailable" by /healthz.
set -eu
cd "$(dirname "$0")/.."
# exec: python replaces the shell, so `docker stop` signals reach the app directly.
exec python app.py "$@"
