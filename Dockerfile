# Millstream services image (used by docker-compose.yml; not built on the development machines).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY millstream ./millstream
COPY cli ./cli
COPY connectors ./connectors
COPY streams ./streams
COPY models ./models
COPY api ./api
COPY simulators ./simulators
COPY scenarios ./scenarios
RUN pip install --no-cache-dir . && useradd --system millstream \
    && mkdir -p /var/lib/millstream/recovery && chown -R millstream /var/lib/millstream
USER millstream
ENTRYPOINT ["millstream"]
CMD ["--help"]
