# syntax=docker/dockerfile:1
# dlp-proxy: SMTP on 10025, the approval web UI on 8025. Every setting is a DLP_PROXY_* variable
# (docs/operating.md); docker-compose.yml and docs/deploy.md run it with Postfix and PostgreSQL.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10025 dlp-proxy \
    && useradd --system --uid 10025 --gid dlp-proxy --no-create-home \
        --home-dir /var/lib/dlp-proxy --shell /usr/sbin/nologin dlp-proxy \
    && install -d -o dlp-proxy -g dlp-proxy -m 0700 /var/lib/dlp-proxy

COPY pyproject.toml README.md /usr/src/dlp-proxy/
COPY dlp_proxy /usr/src/dlp-proxy/dlp_proxy
RUN pip install /usr/src/dlp-proxy && rm -rf /usr/src/dlp-proxy

# The shipped policy (read-only; mount a directory here to add local.yaml) and the sample
# message of the quick start.
COPY policies /etc/dlp-proxy/policies
COPY examples/customer-list.eml /usr/share/dlp-proxy/examples/

ENV DLP_PROXY_LISTEN=0.0.0.0:10025 \
    DLP_PROXY_WEB_LISTEN=0.0.0.0:8025 \
    DLP_PROXY_POLICY_DIR=/etc/dlp-proxy/policies \
    DLP_PROXY_DATA_DIR=/var/lib/dlp-proxy

USER 10025:10025
WORKDIR /var/lib/dlp-proxy
EXPOSE 10025 8025

# Ready: SMTP listening, scanners running, policy loaded, quarantine answering (/readyz).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('DLP_PROXY_WEB_LISTEN', ':8025').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"]

ENTRYPOINT ["dlp-proxy"]
CMD ["serve"]
