# lineflow for production: `lineflow serve env=prod` behind Pub/Sub push (Cloud Run), or any
# other command. docs/deploy.md says how each layout is configured and sized.
#
#   docker build -t lineflow .
#   docker run -e LINEFLOW_TRIGGER_TOKEN=... -e ODDS_API_KEY=... -p 8080:8080 lineflow
#
# Two stages: the wheel is built from the checkout, and only the wheel (with the `prod` extra:
# BigQuery and bucket landing; `postgres` and `lake`: the shared state store and the shared
# warehouse of several instances) reaches the image; no compiler, checkout or cache stays in it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps -w /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /dist /dist
RUN set -eu; wheel=$(ls /dist/lineflow-*.whl); \
    pip install --no-cache-dir "lineflow[prod,postgres,lake] @ file://${wheel}"; \
    rm -rf /dist; \
    useradd --system --create-home --home-dir /var/lib/lineflow --uid 10001 lineflow
# Not root: the home (state, logs, the local warehouse if one is used) belongs to this user.
USER lineflow
WORKDIR /var/lib/lineflow
EXPOSE 8080
# Cloud Run says which port to listen on in $PORT.
CMD ["sh", "-c", "exec lineflow serve env=prod home=/var/lib/lineflow/home triggers.host=0.0.0.0 triggers.port=${PORT:-8080}"]
