# syntax=docker/dockerfile:1
# SharpProxy: multi-stage build. The SDK stage publishes ReadyToRun for linux-x64; the runtime stage is the
# ASP.NET runtime image (Kestrel is part of the shared framework), running as UID/GID 1337 like Istio's proxy.
# Build:  docker build -t sharpproxy .
# Run:    docker run --rm --network host sharpproxy demo          (the canary demo on 127.0.0.1:10000)
#         docker run --rm -p 8080:8080 -v $PWD/config:/etc/sharpproxy sharpproxy -c /etc/sharpproxy/static-proxy.yaml
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props global.json ./
COPY src/ src/
COPY config/ config/
RUN dotnet publish src/SharpProxy/SharpProxy.csproj -c Release -r linux-x64 --self-contained false \
      -p:PublishReadyToRun=true -o /out

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# iptables is needed only when this image also serves as the init container (`sharpproxy iptables ...`).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1337 sharpproxy \
 && useradd --uid 1337 --gid 1337 --no-create-home --shell /usr/sbin/nologin sharpproxy
WORKDIR /app
COPY --from=build /out/ /app/
COPY config/ /etc/sharpproxy/
ENV DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 \
    DOTNET_gcServer=0 \
    DOTNET_TieredPGO=1
USER 1337:1337
EXPOSE 10000 15000
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:15000/ready || exit 1
ENTRYPOINT ["dotnet", "/app/sharpproxy.dll"]
CMD []
