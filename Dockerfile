# stratusd as a container image: Debian 12 slim, the daemon as user 10001,
# made to run with a read-only root file system (only /var/lib/stratus,
# the local stores, and /tmp are written).
#
#   docker build -t stratus .
#   docker run --read-only --tmpfs /tmp -v stratus-data:/var/lib/stratus \
#       -p 127.0.0.1:8980:8980 stratus
#
# The configuration is /etc/stratus/stratus.conf (contrib/container/
# stratus.conf: listens on all addresses of the container, tokens
# required); mount your own over it. Kubernetes manifests running this
# image as a sidecar are in contrib/k8s. docs/operations.md has the rest.

FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential autoconf automake libtool pkg-config \
      libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libyajl-dev \
      libconfig-dev libexpat1-dev libsqlite3-dev libsystemd-dev check \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN autoreconf -fi \
 && ./configure --prefix=/usr --sysconfdir=/etc/stratus --disable-werror \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out \
 && rm -rf /out/usr/include /out/usr/lib/systemd /out/usr/lib/sysusers.d \
 && find /out -name '*.la' -delete

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libcurl4 libssl3 libyajl2 libconfig9 libexpat1 \
      libsqlite3-0 libsystemd0 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 stratus \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/stratus \
      --no-create-home --shell /usr/sbin/nologin stratus \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/stratus
COPY --from=build /out/usr/ /usr/
COPY contrib/container/stratus.conf /etc/stratus/stratus.conf
USER 10001:10001
WORKDIR /var/lib/stratus
VOLUME ["/var/lib/stratus"]
EXPOSE 8980
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8980/v1/health"]
ENTRYPOINT ["/usr/sbin/stratusd"]
CMD ["--config", "/etc/stratus/stratus.conf"]
