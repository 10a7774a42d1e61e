# llm-exporter: reads LLM application logs, serves Prometheus metrics on :8464.
#
#   docker build -t llm-exporter .
#   docker run -v /path/to/logs:/var/log/llm:ro -v $PWD/my-config.yml:/etc/llm-exporter/config.yml:ro \
#       -p 8464:8464 llm-exporter

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Install the package (pure Python) with its dependencies.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && rm -rf pyproject.toml README.md src \
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
