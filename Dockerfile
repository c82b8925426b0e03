# syntax=docker/dockerfile:1
# SharpProxy: multi-stage build. The SDK stage publishes a native AOT executable for linux-x64 (no JIT: ready in
# ~50 ms instead of ~350 ms, about half the resident memory, and no tier-up recompilation while serving, which is where
# the ReadyToRun build's p99 under load came from); the runtime stage is runtime-deps (the native libraries .NET needs,
# no .NET runtime), running as UID/GID 1337 like Istio's proxy.
# The one image is both the proxy (`sharpproxy -c FILE ...`) and the capture init container (`sharpproxy iptables ...`).
# Build:  docker build -t sharpproxy .
# Run:    docker run --rm --network host sharpproxy demo          (the canary demo on 127.0.0.1:10000)
#         docker run --rm -p 8080:8080 -v $PWD/config:/etc/sharpproxy:ro sharpproxy -c /etc/sharpproxy/static-proxy.yaml
# Kubernetes: deploy/README.md. tests/SharpProxy.Deploy.Tests checks this file against the tree (it is not built in CI;
# CI runs the same restore and publish commands and the integration tests against that executable).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# Native AOT compiles the app to an object file and links it with clang. zlib1g-dev is the other prerequisite .NET
# documents; the .NET 10 NativeAOT pack links its own zlib, so it is there for a pack that does not.
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Restore first, from the project files only, so that a source change does not re-download packages.
COPY Directory.Build.props Directory.Packages.props global.json .editorconfig ./
COPY src/SharpProxy/SharpProxy.csproj src/SharpProxy/
COPY src/SharpProxy.Core/SharpProxy.Core.csproj src/SharpProxy.Core/
COPY src/SharpProxy.Xds/SharpProxy.Xds.csproj src/SharpProxy.Xds/
COPY src/SharpProxy.Interception/SharpProxy.Interception.csproj src/SharpProxy.Interception/
# The restore must know the runtime and PublishAot, as the publish below does not restore: they add the ILCompiler
# packages and the linux-x64 runtime packs (NativeAOT, NETCore.App, AspNetCore.App) to what it downloads.
RUN dotnet restore src/SharpProxy/SharpProxy.csproj -r linux-x64 -p:PublishAot=true
COPY src/ src/
# The exe embeds config/minimal.yaml and config/canary-demo.yaml.
COPY config/ config/
# Trim and AOT warnings fail the publish (the ILCompiler follows TreatWarningsAsErrors from Directory.Build.props; the
# one the csproj lets through, IL2104, says why). -o /out also gets the debug symbols, which the image leaves out.
RUN dotnet publish src/SharpProxy/SharpProxy.csproj --no-restore -c Release -r linux-x64 -p:PublishAot=true -o /out

# runtime-deps: the native libraries .NET needs (glibc, OpenSSL for TLS, CA certificates, tzdata) and no .NET runtime.
# The 10.0 tags of sdk and runtime-deps are the same distribution (Ubuntu 24.04), so the glibc the executable was
# linked against in the build stage is the one it runs on.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0 AS runtime
# For `sharpproxy iptables` (the init container): iptables (legacy and nft variants), nftables (--native-nftables),
# iproute2 (`ip`: TPROXY routes and IPv6 loopback). curl serves the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables iproute2 curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1337 sharpproxy \
 && useradd --uid 1337 --gid 1337 --no-create-home --shell /usr/sbin/nologin sharpproxy
WORKDIR /app
# Root-owned and read-only to UID 1337: the proxy never writes outside /tmp, so the root filesystem can be read-only
# (the Kubernetes manifests mount an emptyDir on /tmp). Only the executable: not its debug symbols (sharpproxy.dbg,
# twice its size) nor the libraries' .pdb files.
COPY --from=build /out/sharpproxy /app/sharpproxy
COPY config/ /etc/sharpproxy/
# Runtime settings that a native AOT executable still reads from its environment. Socket continuations run inline on
# the epoll thread (fewer thread hops per request; the proxy sets this itself when it is unset, the image says it so
# that it shows and can be overridden). No file watcher on the content root for the `demo` command's upstream hosts
# (each costs an inotify instance, a per-node limit shared by every container on the node; the proxy's own host reads
# no configuration files). Not here: the JIT's tiering settings (no JIT), and DOTNET_gcServer, because native AOT links
# the GC the project chose at publish time (workstation, SharpProxy.csproj) and ignores that variable.
ENV DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 \
    DOTNET_hostBuilder__reloadConfigOnChange=false
USER 1337:1337
# 10000 demo/static listeners, 15000 admin (loopback in the shipped configs), 15001/15006 capture listeners,
# 15021 readiness, 15090 Prometheus.
EXPOSE 10000 15000 15001 15006 15021 15090
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:15000/ready || exit 1
ENTRYPOINT ["/app/sharpproxy"]
CMD []
