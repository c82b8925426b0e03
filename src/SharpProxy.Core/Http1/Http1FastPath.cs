using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Snapshot;
using SharpProxy.Core.Telemetry.Metrics;

namespace SharpProxy.Core.Http1;

/// <summary>
/// What the HTTP/1.1 fast path's connections share: the snapshot, Kestrel (for the connections it hands over), stats.
/// </summary>
/// <remarks>
/// The fast path serves plain HTTP/1.1 keep-alive requests on cleartext listeners with its own parser, straight from
/// the socket to a raw upstream connection and back, without Kestrel, HttpContext or HttpClient: that is where the
/// CPU per request went (thread-pool hops and per-request objects). Anything it does not implement is handed, with
/// the bytes already read, to Kestrel and the full pipeline, which then serves the rest of that connection.
/// </remarks>
internal sealed class Http1FastPath(SnapshotHolder snapshots, DispatchTransport transport, IRandomSource random, ILogger logger)
{
    /// <summary>Off with SHARPPROXY_HTTP1_FAST_PATH=0 (every HTTP/1.1 connection then goes to Kestrel).</summary>
    public static bool EnabledByEnvironment =>
        !string.Equals(Environment.GetEnvironmentVariable("SHARPPROXY_HTTP1_FAST_PATH"), "0", StringComparison.Ordinal);

    public SnapshotHolder Snapshots { get; } = snapshots;

    public DispatchTransport Transport { get; } = transport;

    public IRandomSource Random { get; } = random;

    public ILogger Logger { get; } = logger;

    public StatsStore Stats { get; init; } = StatsStore.Process;

    /// <summary>One epoll loop per worker (Linux, unless SHARPPROXY_EVENT_LOOP=0); null = .NET's socket engine.</summary>
    public Transport.SocketEventLoops? Loops { get; init; }

    private readonly ConcurrentDictionary<Http1Connection, byte> _connections = new();
    private volatile bool _draining;

    /// <summary>Set once the proxy drains: responses carry connection: close and idle connections are closed.</summary>
    public bool Draining => _draining;

    public int OpenConnections => _connections.Count;

    private long _requests;
    private long _handOffs;

    /// <summary>Requests served by the fast path itself (http1_fast_path.rq_total).</summary>
    public long RequestsServed => Volatile.Read(ref _requests);

    /// <summary>Connections handed to Kestrel (http1_fast_path.handoffs).</summary>
    public long HandOffs => Volatile.Read(ref _handOffs);

    internal void OnRequest() => Interlocked.Increment(ref _requests);

    internal void OnHandOff() => Interlocked.Increment(ref _handOffs);

    private readonly ConcurrentDictionary<string, byte> _http2ToKestrel = new(StringComparer.Ordinal);
    private long _http2Streams;

    /// <summary>HTTP/2 streams served through the fast path (http2_fast_path.rq_total).</summary>
    public long Http2StreamsServed => Volatile.Read(ref _http2Streams);

    internal void OnHttp2Stream() => Interlocked.Increment(ref _http2Streams);

    private long _tlsConnections;

    /// <summary>Downstream TLS connections terminated on the event loop (http1_fast_path.tls_connections).</summary>
    public long TlsConnections => Volatile.Read(ref _tlsConnections);

    internal void OnTlsConnection() => Interlocked.Increment(ref _tlsConnections);

    /// <summary>Whether this listener's HTTP/2 connections go on the event loop (off once one of them asked for trailers).</summary>
    public bool ServesHttp2(string listenerName) => Http2Enabled && Loops is not null && !_http2ToKestrel.ContainsKey(listenerName);

    /// <summary>TLS terminated on the event loop (on with an event loop, off with SHARPPROXY_TLS_FAST_PATH=0: Kestrel's TLS endpoint).</summary>
    public bool TlsEnabled => Loops is not null && _tlsAllowed;

    private readonly bool _tlsAllowed =
        !string.Equals(Environment.GetEnvironmentVariable("SHARPPROXY_TLS_FAST_PATH"), "0", StringComparison.Ordinal);

    /// <summary>On with an event loop, off with SHARPPROXY_HTTP2_FAST_PATH=0.</summary>
    public bool Http2Enabled { get; init; } =
        !string.Equals(Environment.GetEnvironmentVariable("SHARPPROXY_HTTP2_FAST_PATH"), "0", StringComparison.Ordinal);

    /// <summary>A request that needs trailers (gRPC) came on this listener's fast HTTP/2 path: its next connections go to Kestrel.</summary>
    internal void PreferKestrelForHttp2(string listenerName) => _http2ToKestrel.TryAdd(listenerName, 0);

    internal void Register(Http1Connection connection) => _connections.TryAdd(connection, 0);

    internal void Unregister(Http1Connection connection) => _connections.TryRemove(connection, out _);

    private readonly ConcurrentDictionary<Http2.Http2Connection, byte> _http2Connections = new();

    internal void Register(Http2.Http2Connection connection) => _http2Connections.TryAdd(connection, 0);

    internal void Unregister(Http2.Http2Connection connection) => _http2Connections.TryRemove(connection, out _);

    /// <summary>Closes the idle connections now; the others close after the response in progress.</summary>
    public void BeginDrain()
    {
        _draining = true;
        foreach (var connection in _connections.Keys)
        {
            connection.OnDrain();
        }

        foreach (var connection in _http2Connections.Keys)
        {
            connection.OnDrain();
        }
    }

    /// <summary>Waits (bounded by <paramref name="deadline"/>, Stopwatch ticks) until every fast-path connection has closed.</summary>
    public async Task WaitForConnectionsAsync(long deadline)
    {
        while ((!_connections.IsEmpty || !_http2Connections.IsEmpty) && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether the fast path implements everything this connection manager asks of every request; per-request features
    /// (upgrades, faults, direct responses...) are checked per request.
    /// </summary>
    /// <remarks>
    /// Tracing runs on the Kestrel path (ProxyPipeline/HttpForwarder): a chain with `tracing` while a tracer is
    /// configured (its `provider`, or the bootstrap's or environment's) is handed over. Access logs are written by both.
    /// </remarks>
    public static bool Supports(HttpConnectionManagerConfig http) =>
        http.Tracing is null || (http.Tracing.Provider is null && !Telemetry.Tracing.ProxyTracer.Enabled);
}
