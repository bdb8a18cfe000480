# mentorbot: the Discord bot. Build: docker build -t mentorbot .
#   run:   docker run -e DISCORD_TOKEN=... -v mentorbot-data:/data -p 127.0.0.1:8080:8080 mentorbot
#   other commands: docker run --rm mentorbot kb check | db upgrade | db current | invite-url
# tests/ops/test_image_steps.py replays the builder's steps and the runtime ENV in a fresh venv.

# A full version, not a moving "3.11": rebuilds get the same interpreter. Pin the digest too where
# the registry is reachable (README: Upgrading).
ARG PYTHON_VERSION=3.11.11

# --- builder: a venv with mentorbot and its runtime dependencies only ---------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# The runtime dependencies exactly as locked (versions and hashes: requirements.lock, made
# with pip-compile from pyproject.toml), then the package itself without resolving again.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .

# --- runtime ------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# The package finds knowledge/ and migrations/ through these (it is installed into
# site-packages, away from the repository layout); DATABASE_URL defaults to a file in /data, and
# the trained matcher is cached there too (trained once per knowledge base, read at every start).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MENTORBOT_KNOWLEDGE_DIR=/app/knowledge \
    MENTORBOT_MIGRATIONS_DIR=/app/migrations \
    DATABASE_URL=sqlite+aiosqlite:////data/mentorbot.db \
    MENTORBOT_CACHE_DIR=/data/cache \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
RUN groupadd --system --gid 10001 mentorbot \
    && useradd --system --uid 10001 --gid mentorbot --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin mentorbot \
    && mkdir -p /data \
    && chown mentorbot:mentorbot /data
COPY --from=builder /opt/venv /opt/venv
COPY knowledge /app/knowledge
COPY migrations /app/migrations
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers 200 when the gateway is connected and the database reachable (503 if not);
# without HTTP_PORT there is no endpoint and nothing to check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('HTTP_PORT'); host = os.environ.get('HTTP_HOST') or '127.0.0.1'; host = '127.0.0.1' if host in ('0.0.0.0', '::') else host; sys.exit(0) if not port else urllib.request.urlopen(f'http://{host}:{port}/healthz', timeout=4)"]
# SIGTERM and SIGINT both stop the bot cleanly (exit 0), also as PID 1; SIGHUP reloads knowledge/.
STOPSIGNAL SIGINT
# `mentorbot run` upgrades the database (DB_UPGRADE_ON_START) and connects to Discord.
ENTRYPOINT ["mentorbot"]
CMD ["run"]
