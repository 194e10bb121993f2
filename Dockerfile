# GAN Gallery: the Gradio demo and its shipped checkpoints, on an NVIDIA GPU or on the CPU.
#   docker build -t gan-gallery .
#   docker run --gpus all --init -p 7860:7860 -v gan-hf-cache:/data/hf --restart unless-stopped gan-gallery
# Configuration is by environment variables only (README, "Hosting with Docker"); nothing secret is
# baked in. tests/test_docker.py lints this file with hadolint and checks what it promises.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# No apt packages: the wheels bring every shared library they link beyond glibc, libstdc++ and
# zlib, which the base image has (PyTorch's CUDA wheels carry CUDA and cuDNN; the NVIDIA driver
# comes from the host through the NVIDIA Container Toolkit; opencv-python-headless needs no X/GL).
# uid 1000 runs the app; /data/hf is the Hugging Face cache, a volume it owns.
RUN useradd --create-home --uid 1000 --user-group --shell /usr/sbin/nologin gallery \
    && mkdir -p /data/hf \
    && chown gallery:gallery /data/hf \
    && python -m venv /opt/venv

WORKDIR /app

# The pinned requirements first, so that a change of code or weights does not reinstall PyTorch.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# Then the shipped checkpoints (they change less often than the code), then the code. Owned by
# root and read-only to the app: the manifest's SHA-256 check at start guards them as well.
COPY weights_manifest.json ./
COPY weights/ ./weights/
COPY gan_models/ ./gan_models/
# training/: the page runs a short live 2D training (training.toy2d_live); no data sets needed.
COPY training/ ./training/
COPY app.py ./
COPY docker/entrypoint.sh docker/healthcheck.py ./docker/

ENV GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_EXAMPLES_CACHE=/tmp/gradio/cached_examples \
    HF_HOME=/data/hf

USER 1000:1000
EXPOSE 7860
# start-period: loading and warming every model takes a while on a CPU; /healthz says 503 till then.
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
