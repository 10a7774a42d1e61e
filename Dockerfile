# llm-exporter: reads LLM application logs, serves Prometheus metrics on :8464.
#
#   docker build -t llm-exporter .
#   docker run -v /path/to/logs:/var/log/llm:ro -v $PWD/my-config.yml:/etc/llm-exporter/config.yml:ro \
#       -p 8464:8464 llm-exporter

# The completion and event formats' hot path is C (src/llm_exporter/pipeline/_hotpath.c): built
# here, into a wheel, with the compiler the final image does without.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Install the wheel built above, with its dependencies.
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 llm \
    && useradd --system --uid 10001 --gid llm --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin llm \
    && mkdir -p /etc/llm-exporter /var/log/llm /var/lib/llm-exporter \
    && chown llm:llm /var/log/llm /var/lib/llm-exporter

# The example config and sample logs (default config: examples/config.yml),
# and the demo log writer used by docker-compose.yml.
COPY examples ./examples
COPY examples/config.yml /etc/llm-exporter/config.yml

USER llm:llm

# /var/log/llm: the application's logs, mount read-only.
# /var/lib/llm-exporter: positions file (read offsets), must stay writable.
VOLUME ["/var/lib/llm-exporter"]
EXPOSE 8464

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8464/-/healthy', timeout=4)"]

ENTRYPOINT ["llm-exporter"]
CMD ["--config", "/etc/llm-exporter/config.yml", "--web.listen-address", "0.0.0.0:8464"]
