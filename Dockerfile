# leadscore daemon image: docker run -v ./config:/config -v leadscore-data:/data -e HUBSPOT_TOKEN=... leadscore
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2
COPY pyproject.toml README.md ./
COPY src ./src
COPY config ./config
COPY connectors ./connectors
RUN python -m build --wheel --outdir /dist

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEADSCORE_STATE_URL=sqlite:////data/leadscore.db \
    LEADSCORE_MODEL=/config/scoring.yaml \
    LEADSCORE_SOURCES_FILE=/config/sources.yaml \
    LEADSCORE_HTTP_HOST=0.0.0.0 \
    LEADSCORE_HTTP_PORT=9464 \
    LEADSCORE_LOG_FORMAT=json
COPY requirements.lock /tmp/requirements.lock
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock \
    && pip install --no-cache-dir --no-deps /tmp/*.whl && rm /tmp/*.whl /tmp/requirements.lock \
    && useradd --system --uid 10001 --home-dir /data leadscore \
    && mkdir -p /data /config && chown leadscore /data
COPY --chown=leadscore config/scoring.yaml /config/scoring.yaml
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['LEADSCORE_HTTP_PORT'] + '/healthz', timeout=4)"]
ENTRYPOINT ["leadscore"]
CMD ["run"]
