#!/usr/bin/env bash
# SharpProxy side-by-side load lab: one fixed nginx upstream, then in turn the upstream directly, HAProxy, nginx as a
# proxy and SharpProxy, each with one worker and keep-alive to the upstream. Proxy on CPU 0, load generator and
# upstream on CPU 1. Prints a markdown table and writes it to perf/load/results/<UTC timestamp>.md.
#
#   perf/load/run.sh             3 repetitions, ~12 minutes plus the build
#   perf/load/run.sh --quick     1 repetition, short runs, ~3 minutes
#   perf/load/run.sh --reps 5 --rate 3000
#   perf/load/run.sh --quick --targets haproxy,sharpproxy --no-variants
#   perf/load/run.sh --r2r       SharpProxy published ReadyToRun (JIT) instead of native AOT (the default: what ships)
#
# All traffic stays on 127.0.0.1; every process started here is stopped on exit, Ctrl-C or error.
set -Eeuo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)

REPS=3
QUICK=0
RATE=4000
INSTALL=1
TARGETS="direct,haproxy,nginx,sharpproxy"
VARIANTS_ON=1
AOT=1
usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
options:
  --reps N        repetitions (default 3; medians and min-max over them)
  --quick         1 repetition, 3 s runs (overrides --reps)
  --rate N        total requests/s of the fixed-rate run (default 4000)
  --no-install    do not apt-get missing tools (fail instead)
  --targets LIST  comma-separated subset of direct,haproxy,nginx,sharpproxy (default: all; ratios need haproxy)
  --no-variants   skip the SharpProxy-only settings rows (ReadyToRun build, concurrency, GC, inline completions)
  --r2r           measure a ReadyToRun (JIT) publish of SharpProxy instead of native AOT (the default, as the image
                  ships; needs clang and zlib1g-dev, installed with the other tools; if the AOT publish fails the lab
                  measures ReadyToRun and the report's build line says so)
  --aot           native AOT (the default)
EOF
}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --reps) REPS=${2:?--reps needs a number}; shift 2 ;;
        --reps=*) REPS=${1#*=}; shift ;;
        --quick) QUICK=1; shift ;;
        --rate) RATE=${2:?--rate needs a number}; shift 2 ;;
        --rate=*) RATE=${1#*=}; shift ;;
        --no-install) INSTALL=0; shift ;;
        --targets) TARGETS=${2:?--targets needs a list}; shift 2 ;;
        --targets=*) TARGETS=${1#*=}; shift ;;
        --no-variants) VARIANTS_ON=0; shift ;;
        --aot) AOT=1; shift ;;
        --r2r) AOT=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $REPS =~ ^[1-9][0-9]?$ ]] || { echo "--reps: expected 1-99, got '$REPS'" >&2; exit 2; }
[[ $RATE =~ ^[1-9][0-9]*$ ]] || { echo "--rate: expected a positive number, got '$RATE'" >&2; exit 2; }
IFS=, read -r -a TARGET_LIST <<<"$TARGETS"
for t in "${TARGET_LIST[@]}"; do
    [[ $t =~ ^(direct|haproxy|nginx|sharpproxy)$ ]] || { echo "--targets: unknown target '$t'" >&2; exit 2; }
done

if [[ $QUICK == 1 ]]; then
    REPS=1; DUR=3; WARM=1; DUR_1M=3
else
    DUR=8; WARM=2; DUR_1M=5
fi
H1_CONNS=32          # wrk connections, HTTP/1.1 keep-alive
H2_CONNS=4           # h2load connections ...
H2_STREAMS=8         # ... x concurrent streams each = 32 streams in flight
BIG_CONNS=8          # wrk connections for the 1 MB body
RATE_CONNS=16        # h2load --h1 connections for the fixed-rate run
PROXY_CPU=0
LOAD_CPU=1

# Ports: all on 127.0.0.1, chosen away from common services; checked free below.
P_UP=19080; P_UP_H2=19081
P_SP=19082; P_SP_ADMIN=19083
P_HA=19084
P_NX=19086; P_NX_H2=19087
# HTTPS scenario: each proxy terminates TLS on its own port (same certificate, ECDSA P-256), plain HTTP upstream.
P_SP_TLS=19088; P_HA_TLS=19089; P_NX_TLS=19090

# Progress goes to the script's own stderr (fd 9), also from inside a function whose stderr is redirected when a
# signal arrives.
exec 9>&2
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&9; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------------------------
# Cleanup: every background process we start goes into PIDS; nginx masters take their workers with them.
PIDS=()
WORK=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid child
    for pid in ${CHILDREN[@]+"${CHILDREN[@]}"}; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -TERM "$child" 2>/dev/null || true; done
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        if kill -0 "$pid" 2>/dev/null; then
            for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -TERM "$child" 2>/dev/null || true; done
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -KILL "$child" 2>/dev/null || true; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $rc != 0 ]]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command in the background and wait for it: a signal then interrupts the wait at once (bash defers traps while
# a foreground child runs), and cleanup stops the child. Returns the command's exit status.
CHILDREN=()
bg_wait() {
    "$@" &
    local pid=$! rc=0
    CHILDREN+=("$pid")
    wait "$pid" || rc=$?
    local kept=() p
    for p in "${CHILDREN[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    CHILDREN=(${kept[@]+"${kept[@]}"})
    return "$rc"
}

# Stop one started process (and its children) and forget it.
stop_pid() {
    local pid=$1 child
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -TERM "$child" 2>/dev/null || true; done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -KILL "$child" 2>/dev/null || true; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    local kept=() p
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    PIDS=(${kept[@]+"${kept[@]}"})
}

# ---------------------------------------------------------------------------------------------------------------------
# Tools
ensure_tools() {
    local missing=() cmd pkg
    local tools=(wrk:wrk h2load:nghttp2-client nginx:nginx haproxy:haproxy taskset:util-linux python3:python3 ss:iproute2 curl:curl openssl:openssl)
    [[ $AOT == 0 ]] || tools+=(clang:clang)  # the native AOT linker driver
    for cmd in "${tools[@]}"; do
        command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd#*:}")
    done
    # The other native AOT prerequisite .NET documents (a library, so dpkg rather than a command says it is there).
    [[ $AOT == 0 ]] || dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
    [[ ${#missing[@]} == 0 ]] && return 0
    [[ $INSTALL == 1 ]] || die "missing tools (packages: ${missing[*]}); run without --no-install"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # policy-rc.d may or may not stop Debian's nginx/haproxy services from starting; we never use their ports.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for cmd in wrk h2load nginx haproxy taskset python3 ss openssl; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after apt-get"
    done
}

check_ports_free() {
    local port
    for port in $P_UP $P_UP_H2 $P_SP $P_SP_ADMIN $P_HA $P_NX $P_NX_H2 $P_SP_TLS $P_HA_TLS $P_NX_TLS; do
        if ss -Htln "sport = :$port" | grep -q .; then
            die "port 127.0.0.1:$port is already in use (ss -ltnp 'sport = :$port'); stop that process and retry"
        fi
    done
}

# ---------------------------------------------------------------------------------------------------------------------
# /proc helpers. A process's figures include its children (nginx master + worker).
family() { local pid=$1; echo "$pid"; pgrep -P "$pid" 2>/dev/null || true; }

# utime+stime in clock ticks, summed over the process family (threads included; exited threads still counted).
cpu_ticks() {
    local total=0 p line
    for p in $(family "$1"); do
        line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        line=${line##*) }
        # shellcheck disable=SC2086
        set -- $line
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

status_kb() { # pid field -> sum of that /proc/<pid>/status field (kB) over the family
    local total=0 p v
    for p in $(family "$1"); do
        v=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

reset_hwm() { local p; for p in $(family "$1"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }

# 0 when GET <path> on 127.0.0.1:<port> answers 200. Uses bash's /dev/tcp so a 5 ms poll does not fork curl.
http_ok() {
    local port=$1 path=$2 fd line=""
    { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&"$fd" 2>/dev/null || { exec {fd}>&-; return 1; }
    IFS= read -r -t 2 line <&"$fd" || true
    exec {fd}>&-
    [[ $line == HTTP/1.?" 200"* ]]
}

# Wait (poll every 5 ms, at most 30 s) for GET <path> to return 200; prints milliseconds since <t0 ns>.
wait_ready_ms() {
    local port=$1 path=$2 t0=$3 pid=$4 deadline=$((SECONDS + 30))
    until http_ok "$port" "$path"; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.005
    done
    echo $((($(date +%s%N) - t0) / 1000000))
}

# ---------------------------------------------------------------------------------------------------------------------
# Load generators. Each prints: rps p50_ms p99_ms requests errors
to_ms() { # wrk duration ("812.00us", "1.20ms", "1.01s") -> ms
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else print "nan" }'
}

run_wrk() { # url conns seconds outfile
    bg_wait taskset -c "$LOAD_CPU" wrk -t1 -c"$2" -d"$3"s --latency "$1" >"$4" 2>&1 || true
    local rps p50 p99 reqs errs non2xx sockerr
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$4")
    p50=$(awk '$1 == "50%" { print $2 }' "$4")
    p99=$(awk '$1 == "99%" { print $2 }' "$4")
    reqs=$(awk '/requests in/ { print $1 }' "$4")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$4")
    sockerr=$(awk -F'[ ,]+' '/Socket errors:/ { print $4 + $6 + $8 + $10 }' "$4")
    errs=$((${non2xx:-0} + ${sockerr:-0}))
    [[ -n $rps && -n $reqs ]] || { log "wrk failed: $(tail -3 "$4" | tr '\n' ' ')"; echo "nan nan nan 0 1"; return; }
    echo "$rps $(to_ms "$p50") $(to_ms "$p99") $reqs $errs"
}

# h2load with a per-request log: latency percentiles come from the log, not from h2load's mean.
run_h2load() { # outfile logfile h2load-args...
    local out=$1 reqlog=$2; shift 2
    rm -f "$reqlog"
    bg_wait taskset -c "$LOAD_CPU" h2load -t1 --log-file="$reqlog" "$@" >"$out" 2>&1 || true
    python3 - "$out" "$reqlog" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
st = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
if not m or not r:
    print("nan nan nan 0 1"); sys.exit(0)
lat = []
try:
    with open(sys.argv[2]) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] == "200":
                lat.append(int(parts[2]))
except OSError:
    pass
lat.sort()
def pct(p):
    if not lat: return float("nan")
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] / 1000.0
done = int(r.group(4))
errors = int(r.group(5)) + int(r.group(6)) + (int(st.group(3)) + int(st.group(4)) if st else 0)
print(f"{float(m.group(3)):.2f} {pct(50):.3f} {pct(99):.3f} {done} {errors}")
PY
}

# ---------------------------------------------------------------------------------------------------------------------
# Configurations
write_configs() {
    # One self-signed ECDSA P-256 certificate for every proxy's HTTPS port.
    mkdir -p "$WORK/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=lab.local" \
        -addext "subjectAltName=DNS:lab.local,IP:127.0.0.1" -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.crt" >/dev/null 2>&1 \
        || die "openssl could not create the lab certificate"
    cat "$WORK/tls/server.crt" "$WORK/tls/server.key" >"$WORK/tls/server.pem"
    mkdir -p "$WORK"/{up,nxp,www}
    chmod 755 "$WORK" "$WORK"/{up,nxp,www}
    head -c 1048576 /dev/zero | tr '\0' 'x' >"$WORK/www/1m"
    chmod 644 "$WORK/www/1m"

    # The fixed upstream: 12-byte body on /, a 1 MB file on /1m, keep-alive without a request cap.
    cat >"$WORK/up/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/up/nginx.pid;
error_log $WORK/up/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $WORK/up/body;
    proxy_temp_path $WORK/up/proxy;
    fastcgi_temp_path $WORK/up/fastcgi;
    uwsgi_temp_path $WORK/up/uwsgi;
    scgi_temp_path $WORK/up/scgi;
    server {
        listen 127.0.0.1:$P_UP;
        listen 127.0.0.1:$P_UP_H2 http2;
        location = / { default_type text/plain; return 200 "hello world\n"; }
        location = /1m { root $WORK/www; default_type application/octet-stream; }
        # The tracing variant's OTLP/HTTP span export lands here (accepted, discarded).
        location = /v1/traces { return 200; }
    }
}
EOF

    # nginx as the proxy: one worker, upstream keep-alive, no disk buffering of big bodies.
    cat >"$WORK/nxp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nxp/nginx.pid;
error_log $WORK/nxp/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    http2_max_requests 100000000;
    client_body_temp_path $WORK/nxp/body;
    proxy_temp_path $WORK/nxp/proxy;
    fastcgi_temp_path $WORK/nxp/fastcgi;
    uwsgi_temp_path $WORK/nxp/uwsgi;
    scgi_temp_path $WORK/nxp/scgi;
    upstream up {
        server 127.0.0.1:$P_UP;
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$P_NX;
        listen 127.0.0.1:$P_NX_H2 http2;
        listen 127.0.0.1:$P_NX_TLS ssl;
        ssl_certificate $WORK/tls/server.crt;
        ssl_certificate_key $WORK/tls/server.key;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }
    }
}
EOF

    # HAProxy: one thread, HTTP mode, server-side keep-alive shared across clients. Clear-text HTTP/2 (h2c prior
    # knowledge) is detected on the same bind by its preface.
    cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
    tune.bufsize 16384
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
frontend fe
    bind 127.0.0.1:$P_HA
    bind 127.0.0.1:$P_HA_TLS ssl crt $WORK/tls/server.pem alpn http/1.1
    default_backend be
backend be
    server up 127.0.0.1:$P_UP
EOF

    # SharpProxy: one listener (codec AUTO: HTTP/1.1 and h2c), one static cluster, admin on its own port.
    # generate_request_id off because neither HAProxy nor nginx make one (Envoy's own benchmarking advice).
    cat >"$WORK/sharpproxy.yaml" <<EOF
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: $P_SP_ADMIN }
static_resources:
  listeners:
  - name: lab
    address:
      socket_address: { address: 127.0.0.1, port_value: $P_SP }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: lab
          codec_type: AUTO
          generate_request_id: false
          # Spans only when a tracer exists: the sharpproxy-tracing variant sets OTEL_EXPORTER_OTLP_ENDPOINT.
          tracing:
            random_sampling: { value: 100 }
          route_config:
            name: lab
            virtual_hosts:
            - name: lab
              domains: ["*"]
              routes:
              - match: { prefix: / }
                route: { cluster: upstream }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  - name: lab_tls
    address:
      socket_address: { address: 127.0.0.1, port_value: $P_SP_TLS }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: ["http/1.1"]
            tls_certificates:
            - certificate_chain: { filename: $WORK/tls/server.crt }
              private_key: { filename: $WORK/tls/server.key }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: lab_tls
          codec_type: AUTO
          generate_request_id: false
          route_config:
            name: lab_tls
            virtual_hosts:
            - name: lab
              domains: ["*"]
              routes:
              - match: { prefix: / }
                route: { cluster: upstream }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: $P_UP }
EOF
}

# ---------------------------------------------------------------------------------------------------------------------
# Build
# SP_BIN is the build the SharpProxy rows measure: native AOT, as the image ships it, unless --r2r or the AOT publish
# failed. SP_R2R_BIN is a ReadyToRun build for the rows that need a JIT (sharpproxy-r2r*): published when the variants
# run, or as SP_BIN itself.
SP_R2R_BIN=""
R2R_KIND=""
publish_r2r() {
    local pub="$LAB_DIR/.publish"
    log "publishing SharpProxy (Release, ReadyToRun) ..."
    # --disable-build-servers: no MSBuild/compiler server outlives the lab.
    if bg_wait dotnet publish "$REPO/src/SharpProxy" -c Release -r linux-x64 -p:PublishReadyToRun=true --self-contained false \
            --disable-build-servers -o "$pub" -nologo -v quiet >"$WORK/publish-r2r.log" 2>&1 && [[ -x $pub/sharpproxy ]]; then
        SP_R2R_BIN="$pub/sharpproxy"
        R2R_KIND="ReadyToRun publish (linux-x64, framework-dependent)"
    else
        log "ReadyToRun publish failed (see below); falling back to a plain Release build"
        tail -5 "$WORK/publish-r2r.log" >&2 || true
        bg_wait dotnet build "$REPO/src/SharpProxy" -c Release --disable-build-servers -nologo -v quiet >"$WORK/build.log" 2>&1 \
            || { tail -20 "$WORK/build.log" >&2; die "Release build failed"; }
        SP_R2R_BIN="$REPO/src/SharpProxy/bin/Release/net10.0/sharpproxy"
        R2R_KIND="plain Release build (ReadyToRun publish failed)"
    fi
}

build_sharpproxy() {
    local pub="$LAB_DIR/.publish-aot"
    if [[ $AOT == 1 ]]; then
        log "publishing SharpProxy (Release, native AOT) ..."
        # A native executable, not a JIT build: a publish that lost PublishAot would leave libcoreclr.so beside it.
        if bg_wait dotnet publish "$REPO/src/SharpProxy" -c Release -r linux-x64 -p:PublishAot=true --disable-build-servers \
                -o "$pub" -nologo -v quiet >"$WORK/publish-aot.log" 2>&1 && [[ -x $pub/sharpproxy && ! -e $pub/libcoreclr.so ]]; then
            SP_BIN="$pub/sharpproxy"
            BUILD_KIND="native AOT publish (linux-x64)"
            [[ $VARIANTS_ON == 0 ]] || publish_r2r
            return 0
        fi
        log "native AOT publish failed (see below); measuring the ReadyToRun build instead"
        tail -20 "$WORK/publish-aot.log" >&2 || true
        publish_r2r
        SP_BIN=$SP_R2R_BIN
        BUILD_KIND="$R2R_KIND -- FALLBACK: the native AOT publish failed, so every SharpProxy row is the JIT build"
        return 0
    fi
    publish_r2r
    SP_BIN=$SP_R2R_BIN
    BUILD_KIND="$R2R_KIND (--r2r)"
}

# ---------------------------------------------------------------------------------------------------------------------
# Targets. start_target sets TARGET_PID (0 for the upstream itself), H1_PORT, H2_PORT ("" = no h2c downstream),
# READY_MS and IDLE_KB.
UP_PID=0
start_upstream() {
    taskset -c "$LOAD_CPU" nginx -p "$WORK/up/" -c "$WORK/up/nginx.conf" >"$WORK/up/stdout.log" 2>&1 &
    UP_PID=$!
    PIDS+=("$UP_PID")
    local t0; t0=$(date +%s%N)
    wait_ready_ms "$P_UP" / "$t0" "$UP_PID" >/dev/null || { cat "$WORK/up/error.log" >&2 || true; die "upstream nginx did not start"; }
    local body; body=$(curl -s "http://127.0.0.1:$P_UP/")
    [[ ${#body} == 11 && $body == "hello world" ]] || die "upstream body is not the 12-byte 'hello world\\n'"
}

start_target() { # name [extra env assignments...]
    local name=$1; shift
    local t0 pid ready_path port
    TARGET_PID=0; H2_PORT=""; TLS_PORT=""; READY_MS=""; IDLE_KB=""; THREADS=""; SVR_GC=""
    case "$name" in
        direct)
            H1_PORT=$P_UP; H2_PORT=$P_UP_H2
            return 0 ;;
        haproxy)
            H1_PORT=$P_HA; H2_PORT=$P_HA; TLS_PORT=$P_HA_TLS; ready_path=/; port=$P_HA
            t0=$(date +%s%N)
            taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
            pid=$! ;;
        nginx)
            H1_PORT=$P_NX; H2_PORT=$P_NX_H2; TLS_PORT=$P_NX_TLS; ready_path=/; port=$P_NX
            t0=$(date +%s%N)
            taskset -c "$PROXY_CPU" nginx -p "$WORK/nxp/" -c "$WORK/nxp/nginx.conf" >"$WORK/nxp/stdout.log" 2>&1 &
            pid=$! ;;
        sharpproxy*)
            H1_PORT=$P_SP; H2_PORT=$P_SP; TLS_PORT=$P_SP_TLS; ready_path=/ready; port=$P_SP_ADMIN
            local concurrency=1 cpus=$PROXY_CPU
            [[ $name == *-c2* ]] && concurrency=2
            # Server GC needs more than one CPU in the affinity mask (with one, the runtime silently uses workstation
            # GC), so the GC comparison runs on both CPUs, sharing CPU 1 with the load generator.
            [[ $name == *-2cpu* ]] && cpus="$PROXY_CPU,$LOAD_CPU"
            # sharpproxy-r2r* rows run the ReadyToRun build; the others the build under test (SP_BIN).
            local bin=$SP_BIN jit_env=()
            [[ $name == sharpproxy-r2r* ]] && bin=$SP_R2R_BIN
            # A JIT build runs with the settings its image had (workstation GC; hot methods counted for tier-up 10 ms
            # after JIT activity stops, not the default 100 ms, x10 with one CPU); the sharpproxy-r2r-tiering-delay
            # row puts the default back. A native AOT build reads neither (no JIT; its GC is chosen at publish time).
            [[ $bin == "$SP_R2R_BIN" ]] && jit_env=(DOTNET_gcServer=0 DOTNET_TC_CallCountingDelayMs=10)
            t0=$(date +%s%N)
            taskset -c "$cpus" env ${jit_env[@]+"${jit_env[@]}"} "$@" \
                "$bin" -c "$WORK/sharpproxy.yaml" --concurrency "$concurrency" -l warning >"$WORK/$name.log" 2>&1 &
            pid=$! ;;
        *) die "unknown target $name" ;;
    esac
    PIDS+=("$pid")
    TARGET_PID=$pid
    READY_MS=$(wait_ready_ms "$port" "$ready_path" "$t0" "$pid") || {
        tail -20 "$WORK/$name.log" "$WORK/haproxy.log" "$WORK/nxp/error.log" 2>/dev/null >&2 || true
        die "$name did not become ready"
    }
    sleep 1
    IDLE_KB=$(status_kb "$pid" VmRSS)
    # Equivalence check (after the idle sample, which is taken before any proxied request): the proxy must return the
    # upstream's exact 12-byte body.
    local body; body=$(curl -s --max-time 5 "http://127.0.0.1:$H1_PORT/" || true)
    [[ $body == "hello world" ]] || die "$name does not forward the upstream's body (got '${body:0:80}')"
    if [[ $name == sharpproxy* ]]; then
        THREADS=$(ls "/proc/$pid/task" | wc -l)
        SVR_GC=$(cat /proc/"$pid"/task/*/comm 2>/dev/null | grep -c "Server GC" || true)
    fi
}

# ---------------------------------------------------------------------------------------------------------------------
# One measured scenario against the current target; appends a row to RAW.
measure() { # rep target scenario
    local rep=$1 target=$2 scenario=$3 port url out result p_cpu0 p_cpu1 u_cpu0 u_cpu1 hwm
    local tick_us=$((1000000 / $(getconf CLK_TCK)))
    case "$scenario" in
        h1|big|rate) port=$H1_PORT ;;
        h2) port=$H2_PORT ;;
        tls) port=$TLS_PORT ;;
    esac
    if [[ -z $port ]]; then
        printf '%s\t%s\t%s\tn/a\n' "$rep" "$target" "$scenario" >>"$RAW"
        return
    fi
    url="http://127.0.0.1:$port"
    [[ $scenario == tls ]] && url="https://127.0.0.1:$port"
    out="$WORK/$rep-$target-$scenario"
    local per_conn_rps=$(((RATE + RATE_CONNS - 1) / RATE_CONNS))

    # Warm-up with the same shape (JIT tiering, connection pools), not counted.
    case "$scenario" in
        h1|tls) run_wrk "$url/" "$H1_CONNS" "$WARM" "$out.warm" >/dev/null ;;
        h2) run_h2load "$out.warm" "$out.warmlog" -c"$H2_CONNS" -m"$H2_STREAMS" -D"$WARM" "$url/" >/dev/null ;;
        big) run_wrk "$url/1m" "$BIG_CONNS" "$WARM" "$out.warm" >/dev/null ;;
        rate) run_h2load "$out.warm" "$out.warmlog" --h1 -c"$RATE_CONNS" --rps="$per_conn_rps" -D"$WARM" "$url/" >/dev/null ;;
    esac

    [[ $TARGET_PID != 0 ]] && reset_hwm "$TARGET_PID"
    p_cpu0=$([[ $TARGET_PID != 0 ]] && cpu_ticks "$TARGET_PID" || echo 0)
    u_cpu0=$(cpu_ticks "$UP_PID")
    case "$scenario" in
        h1|tls) run_wrk "$url/" "$H1_CONNS" "$DUR" "$out.txt" >"$out.res" ;;
        h2) run_h2load "$out.txt" "$out.log" -c"$H2_CONNS" -m"$H2_STREAMS" -D"$DUR" "$url/" >"$out.res" ;;
        big) run_wrk "$url/1m" "$BIG_CONNS" "$DUR_1M" "$out.txt" >"$out.res" ;;
        rate) run_h2load "$out.txt" "$out.log" --h1 -c"$RATE_CONNS" --rps="$per_conn_rps" -D"$DUR" "$url/" >"$out.res" ;;
    esac
    result=$(cat "$out.res")
    p_cpu1=$([[ $TARGET_PID != 0 ]] && cpu_ticks "$TARGET_PID" || echo 0)
    u_cpu1=$(cpu_ticks "$UP_PID")
    hwm=$([[ $TARGET_PID != 0 ]] && status_kb "$TARGET_PID" VmHWM || echo 0)
    # Connections the upstream holds open right after the run (kept-alive pool of the proxy, or the clients).
    local up_conns; up_conns=$(ss -Htn state established "( sport = :$P_UP or sport = :$P_UP_H2 )" | wc -l)
    [[ $TARGET_PID == 0 ]] || kill -0 "$TARGET_PID" 2>/dev/null || die "$target died during $scenario (see $WORK)"

    local rps p50 p99 reqs errs
    read -r rps p50 p99 reqs errs <<<"$result"
    local p_us u_us
    if ((reqs > 0)); then
        p_us=$([[ $TARGET_PID != 0 ]] && awk -v t=$((p_cpu1 - p_cpu0)) -v k="$tick_us" -v n="$reqs" 'BEGIN { printf "%.2f", t * k / n }' || echo nan)
        u_us=$(awk -v t=$((u_cpu1 - u_cpu0)) -v k="$tick_us" -v n="$reqs" 'BEGIN { printf "%.2f", t * k / n }')
    else
        p_us=nan; u_us=nan
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$target" "$scenario" "$rps" "$p50" "$p99" "$p_us" "$hwm" "$u_us" "$reqs" "$errs" "$up_conns" >>"$RAW"
    log "  $target $scenario: $rps req/s, p50 $p50 ms, p99 $p99 ms, proxy $p_us us/req, upstream $u_us us/req, HWM $((hwm / 1024)) MB, upstream conns $up_conns, errors $errs"
}

# ---------------------------------------------------------------------------------------------------------------------
main() {
    local started; started=$(date -u +%Y%m%dT%H%M%SZ)
    local load_before; load_before=$(cat /proc/loadavg)
    ensure_tools
    check_ports_free
    WORK=$(mktemp -d /tmp/sharpproxy-perflab.XXXXXX)
    RAW="$WORK/raw.tsv"; STARTUP="$WORK/startup.tsv"; : >"$RAW"; : >"$STARTUP"
    write_configs
    build_sharpproxy
    start_upstream
    log "upstream nginx pid $UP_PID on CPU $LOAD_CPU; proxies on CPU $PROXY_CPU; $REPS repetition(s) of ${DUR}s runs"

    local rep target scenario variant
    local targets=("${TARGET_LIST[@]}")
    # SharpProxy-only variants (name|env[|scenarios]): startup figures and the HTTP/1.1 scenario unless listed.
    # sharpproxy-r2r* rows run the ReadyToRun (JIT) build: the build itself next to native AOT, and what only a JIT or
    # the runtime's GC choice has (the tiering delay; server GC, which a native AOT build links in at publish time or
    # not at all). The others run the build under test.
    local variants=(
        "sharpproxy-r2r|"
        "sharpproxy-no-event-loop|SHARPPROXY_EVENT_LOOP=0|h1 h2"
        "sharpproxy-h2-kestrel|SHARPPROXY_HTTP2_FAST_PATH=0|h2"
        "sharpproxy-c2|"
        "sharpproxy-no-inline|DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0"
        "sharpproxy-kestrel|SHARPPROXY_HTTP1_FAST_PATH=0"
        "sharpproxy-tracing|OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$P_UP"
        "sharpproxy-r2r-tiering-delay|DOTNET_TC_CallCountingDelayMs=100"
        "sharpproxy-r2r-2cpu|"
        "sharpproxy-r2r-gcserver-2cpu|DOTNET_gcServer=1"
    )
    for rep in $(seq 1 "$REPS"); do
        log "repetition $rep/$REPS"
        for target in "${targets[@]}"; do
            start_target "$target"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$target" "${READY_MS:-}" "${IDLE_KB:-}" "${THREADS:-}" "${SVR_GC:-}" >>"$STARTUP"
            for scenario in h1 h2 big rate tls; do
                measure "$rep" "$target" "$scenario"
            done
            [[ $TARGET_PID == 0 ]] || stop_pid "$TARGET_PID"
        done
        [[ $VARIANTS_ON == 1 ]] || continue
        for variant in "${variants[@]}"; do
            local vname=${variant%%|*} vrest=${variant#*|} vscenarios=h1
            local venv=${vrest%%|*}
            [[ $vrest == *"|"* ]] && vscenarios=${vrest#*|}
            # With the ReadyToRun build under test (--r2r, or the AOT publish failed), that row is the default row.
            [[ $vname == sharpproxy-r2r && $SP_BIN == "$SP_R2R_BIN" ]] && continue
            # shellcheck disable=SC2086
            start_target "$vname" $venv
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$vname" "${READY_MS:-}" "${IDLE_KB:-}" "${THREADS:-}" "${SVR_GC:-}" >>"$STARTUP"
            for scenario in $vscenarios; do
                measure "$rep" "$vname" "$scenario"
            done
            stop_pid "$TARGET_PID"
        done
    done
    local load_after; load_after=$(cat /proc/loadavg)

    # Machine description
    local meta="$WORK/meta.txt"
    {
        echo "started_utc=$started"
        echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
        echo "cores=$(nproc) (online: $(cat /sys/devices/system/cpu/online 2>/dev/null || echo '?'))"
        echo "kernel=$(uname -srm)"
        echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
        echo "dotnet=$(dotnet --version 2>/dev/null) (runtime $(dotnet --list-runtimes 2>/dev/null | awk '/Microsoft.NETCore.App/ { v = $2 } END { print v }'))"
        echo "build=$BUILD_KIND"
        [[ -z $SP_R2R_BIN || $SP_BIN == "$SP_R2R_BIN" ]] || echo "r2r_build=$R2R_KIND (the sharpproxy-r2r rows)"
        echo "git=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?') ($(cd "$REPO" && git rev-parse --abbrev-ref HEAD 2>/dev/null || echo '?'))"
        echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')"
        echo "h2load=$(h2load --version 2>&1 | head -1 | awk '{ print $2 }')"
        echo "nginx=$(nginx -v 2>&1 | awk -F/ '{ print $2 }')"
        echo "haproxy=$(haproxy -v 2>&1 | head -1 | awk '{ print $3 }')"
        echo "loadavg_before=$load_before"
        echo "loadavg_after=$load_after"
        echo "reps=$REPS"
        echo "quick=$QUICK"
        echo "durations=${DUR}s per run (1 MB body: ${DUR_1M}s), ${WARM}s warm-up before each"
        echo "shapes=h1: wrk -t1 -c$H1_CONNS; h2: h2load -c$H2_CONNS -m$H2_STREAMS (h2c prior knowledge); 1 MB: wrk -t1 -c$BIG_CONNS; fixed rate: h2load --h1 -c$RATE_CONNS --rps $(((RATE + RATE_CONNS - 1) / RATE_CONNS)) per connection = $RATE req/s"
    } >"$meta"

    mkdir -p "$LAB_DIR/results"
    local result_file="$LAB_DIR/results/$started.md"
    python3 "$LAB_DIR/report.py" "$meta" "$RAW" "$STARTUP" >"$result_file"
    cat "$result_file"
    log "results written to ${result_file#"$REPO"/}"
}

main
