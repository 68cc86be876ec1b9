# Millstream services image (used by docker-compose.yml; not built on the development machines).
# Installed the way tests/test_packaging.py checks a wheel: built from the tree (what .dockerignore lets
# through), then the wheel alone is installed with its declared dependencies, so every package of
# pyproject.toml's [tool.setuptools.packages.find] and their data files (migrations, the web UI) are in it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels && useradd --system millstream \
    && mkdir -p /var/lib/millstream/recovery && chown -R millstream /var/lib/millstream
# `millstream up` and `millstream simulate` read scenarios/demo.yaml by default (relative to /app)
COPY scenarios ./scenarios
USER millstream
ENTRYPOINT ["millstream"]
CMD ["--help"]
