# Stage 1: the browser app (clients/web), built with the npm lock file.
FROM node:20-slim AS web
WORKDIR /web
COPY clients/web/package.json clients/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY clients/web ./
RUN npm run build

# Stage 2: the server, serving the built app from /app/web.
FROM python:3.11-slim
WORKDIR /app
# xmlsec1: SAML 2.0 sign-in checks the identity provider's signatures with it.
RUN apt-get update && apt-get install -y --no-install-recommends xmlsec1 \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY requirements/docker.txt ./requirements/docker.txt
# Exactly the locked versions, each file checked against its hash (docs/decisions.md).
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/docker.txt
COPY preau ./preau
COPY --from=web /web/dist ./web
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && useradd --system --home /data preau && mkdir -p /data && chown preau /data
USER preau
ENV PREAU_DATA_DIR=/data PREAU_SEED_DEMO=false PREAU_WEB_DIR=/app/web
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/health').status != 200)"
# X-Forwarded-For is trusted only from PREAU_FORWARDED_ALLOW_IPS (compose: the proxy).
CMD ["preau", "serve", "--host", "0.0.0.0", "--port", "8000"]
