# news-monitor container image.
#   docker build -t news-monitor .
#   docker run -v ./config:/etc/news-monitor:ro -v nm-state:/var/lib/news-monitor news-monitor
# The endpoints (/healthz /readyz /metrics /status) have no authentication, so they listen
# on the container's loopback only (the HEALTHCHECK still reaches them). To reach them from
# the host, listen on all of the container's interfaces and publish on the host's loopback:
#   docker run ... -e NEWS_MONITOR_LISTEN=0.0.0.0:8080 -p 127.0.0.1:8080:8080 news-monitor
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
# pip settings and a CA certificate may be passed as build secrets (both optional).
RUN --mount=type=secret,id=pip_conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip_cert,target=/run/secrets/pip_cert \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/news-monitor monitor \
    && mkdir -p /var/lib/news-monitor /etc/news-monitor \
    && chown monitor:monitor /var/lib/news-monitor
COPY --from=build /opt/venv /opt/venv
COPY config /etc/news-monitor
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NEWS_MONITOR_STATE=sqlite:////var/lib/news-monitor/state.db
USER 10001:10001
WORKDIR /var/lib/news-monitor
VOLUME ["/etc/news-monitor", "/var/lib/news-monitor"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["monitor"]
CMD ["run", "-c", "/etc/news-monitor/monitor.yaml"]
