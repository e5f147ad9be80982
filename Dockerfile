# syncd as a container: `docker build -t syncd .`
#
#   docker run -d --name syncd \
#     -v syncd-state:/var/lib/syncd \
#     -v "$PWD/syncd.toml:/var/lib/syncd/syncd.toml:ro" \
#     -e ZENDESK_TOKEN=... -e REDMINE_API_KEY=... \
#     syncd                    # = syncd run (the daemon); `syncd sync` runs one cycle
#
# The working directory is the state volume, so the default config path (syncd.toml) and the
# state paths relative to it (var/syncd.db) live in /var/lib/syncd. Secrets come from the
# environment variables the config names, never from the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 syncd \
 && useradd --system --uid 10001 --gid syncd --home-dir /var/lib/syncd --no-create-home \
        --shell /usr/sbin/nologin syncd \
 && install -d -o syncd -g syncd -m 0750 /var/lib/syncd

# Only what the package needs (no .venv, var/ or tests in the image).
WORKDIR /opt/syncd
COPY pyproject.toml README.md ./
COPY syncd ./syncd
COPY connectors ./connectors
COPY mappings ./mappings
COPY reports ./reports
COPY emulator ./emulator
COPY config ./config
RUN pip install . && syncd --help >/dev/null

USER syncd
WORKDIR /var/lib/syncd
VOLUME ["/var/lib/syncd"]

ENTRYPOINT ["syncd"]
CMD ["run"]
