# syntax=docker/dockerfile:1
#
# agent-actions-consumer container image (docs/deployment.md).
#
#   docker build -t agent-actions-consumer .
#   docker run --rm agent-actions-consumer check-config
#
# Stage 1 builds the binary on Debian 12 with the -dev packages; stage 2 is
# debian:12-slim with only the shared libraries it links (their own
# dependencies come with them), the migrations and the default
# configuration, running as an unprivileged user.

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      librdkafka-dev libpq-dev libevent-dev libcyaml-dev libyaml-dev libyajl-dev \
      uuid-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
# libcmocka-dev: CMakeLists.txt looks for it at configure time (unit tests);
# only the service target is built here. The development broker
# (tools/dev-broker) is neither copied nor configured (AAC_DEV_BROKER=OFF).
WORKDIR /src
COPY CMakeLists.txt ./
COPY include/ include/
COPY consumer/ consumer/
COPY migrations/ migrations/
COPY config/ config/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAAC_INTEGRATION=OFF -DAAC_SANITIZE=OFF \
      -DAAC_DEV_BROKER=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build build -j"$(nproc)" --target agent-actions-consumer \
 && DESTDIR=/out cmake --install build --strip \
 && /out/usr/bin/agent-actions-consumer version

FROM debian:12-slim
# The libraries `ldd agent-actions-consumer` names, by Debian 12 package;
# ca-certificates for TLS to Kafka (security.protocol=ssl) and PostgreSQL
# (sslmode=verify-full).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libpq5 libevent-2.1-7 libevent-pthreads-2.1-7 \
      libcyaml1 libyaml-0-2 libyajl2 libuuid1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 aac \
 && useradd --system --uid 10001 --gid aac --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin aac
COPY --from=build /out/usr/bin/agent-actions-consumer /usr/bin/agent-actions-consumer
COPY --from=build /out/usr/share/agent-actions-consumer/migrations/ /usr/share/agent-actions-consumer/migrations/
COPY --from=build /out/etc/agent-actions-consumer/agent-actions-consumer.yaml /etc/agent-actions-consumer/agent-actions-consumer.yaml
# The file documents every key with its default; AAC_* variables override it.
ENV AAC_POSTGRES_MIGRATIONS_DIR=/usr/share/agent-actions-consumer/migrations
USER 10001:10001
EXPOSE 8080
# No curl in the slim image: bash (always there) talks HTTP/1.0 over
# /dev/tcp. /health answers 200 while the consume loop is polling.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>\"/dev/tcp/127.0.0.1/${AAC_HTTP_PORT:-8080}\" && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && IFS= read -r -t 4 line <&3 && [[ $line == HTTP/1.?' 200'* ]]"]
# SIGTERM: finish and commit the current batch, leave the group, exit 0
# within service.shutdown_timeout_ms (give docker stop a longer -t).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/agent-actions-consumer"]
CMD ["run"]
