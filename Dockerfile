# syntax=docker/dockerfile:1
# SharpProxy: multi-stage build. The SDK stage publishes ReadyToRun for linux-x64; the runtime stage is the
# ASP.NET runtime image (Kestrel is part of the shared framework), running as UID/GID 1337 like Istio's proxy.
# The one image is both the proxy (`sharpproxy -c FILE ...`) and the capture init container (`sharpproxy iptables ...`).
# Build:  docker build -t sharpproxy .
# Run:    docker run --rm --network host sharpproxy demo          (the canary demo on 127.0.0.1:10000)
#         docker run --rm -p 8080:8080 -v $PWD/config:/etc/sharpproxy:ro sharpproxy -c /etc/sharpproxy/static-proxy.yaml
# Kubernetes: deploy/README.md. tests/SharpProxy.Deploy.Tests checks this file against the tree (it is not built in CI).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first, from the project files only, so that a source change does not re-download packages.
COPY Directory.Build.props Directory.Packages.props global.json .editorconfig ./
COPY src/SharpProxy/SharpProxy.csproj src/SharpProxy/
COPY src/SharpProxy.Core/SharpProxy.Core.csproj src/SharpProxy.Core/
COPY src/SharpProxy.Xds/SharpProxy.Xds.csproj src/SharpProxy.Xds/
COPY src/SharpProxy.Interception/SharpProxy.Interception.csproj src/SharpProxy.Interception/
RUN dotnet restore src/SharpProxy/SharpProxy.csproj -r linux-x64 -p:PublishReadyToRun=true
COPY src/ src/
# The exe embeds config/minimal.yaml and config/canary-demo.yaml.
COPY config/ config/
RUN dotnet publish src/SharpProxy/SharpProxy.csproj --no-restore -c Release -r linux-x64 --self-contained false \
      -p:PublishReadyToRun=true -o /out

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# For `sharpproxy iptables` (the init container): iptables (legacy and nft variants), nftables (--native-nftables),
# iproute2 (`ip`: TPROXY routes and IPv6 loopback). curl serves the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables iproute2 curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1337 sharpproxy \
 && useradd --uid 1337 --gid 1337 --no-create-home --shell /usr/sbin/nologin sharpproxy
WORKDIR /app
# Root-owned and read-only to UID 1337: the proxy never writes outside /tmp, so the root filesystem can be read-only
# (the Kubernetes manifests mount an emptyDir on /tmp, where .NET keeps its diagnostics socket).
COPY --from=build /out/ /app/
COPY config/ /etc/sharpproxy/
# Sidecar settings: socket continuations run inline on the epoll thread (fewer thread hops per request); workstation
# GC (one small heap, not one per core); hot methods reach their optimized tier soon: the runtime waits for 100 ms
# without new JIT activity before counting calls, ten times that with one CPU, and under load that wait keeps
# restarting, so tiering took tens of seconds (perf/load, 3 s into a run: 31 us/request at the default, 18-20 us at
# 10 ms; 0 ms is as fast but makes start-up 300 ms slower and idle RSS 7 MB larger); no file watcher on the content
# root (each one costs an inotify instance, a per-node limit shared by every .NET container on the node).
ENV DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 \
    DOTNET_gcServer=0 \
    DOTNET_TieredPGO=1 \
    DOTNET_TC_CallCountingDelayMs=10 \
    DOTNET_hostBuilder__reloadConfigOnChange=false
USER 1337:1337
# 10000 demo/static listeners, 15000 admin (loopback in the shipped configs), 15001/15006 capture listeners,
# 15021 readiness, 15090 Prometheus.
EXPOSE 10000 15000 15001 15006 15021 15090
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:15000/ready || exit 1
ENTRYPOINT ["dotnet", "/app/sharpproxy.dll"]
CMD []
