# The hub: one image for `hub serve` (API nodes) and `hub worker` (Kafka mode).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub hub
COPY api api
COPY projections projections
COPY schemas schemas
COPY streams streams
COPY web web
RUN pip install --no-cache-dir .
ENV HUB_DATA=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["hub", "serve", "--host", "0.0.0.0", "--port", "8000"]
