using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace SharpProxy.Core.Upstream;

/// <summary>
/// One worker's connections to one cluster: a SocketsHttpHandler owned by that worker alone (Envoy's per-worker pools).
/// Connections are opened by <see cref="ConnectAsync"/> so they go straight to the chosen host's address and are counted.
/// </summary>
/// <remarks>
/// max_connections is a cluster-wide limit (Envoy's circuit breakers are per cluster, its pools per worker), enforced
/// here and not with MaxConnectionsPerServer (per handler, per host). A new connection beyond the limit waits for
/// another connection of the cluster to close, as Envoy leaves the request pending; meanwhile the handler gives the
/// waiting request to any connection of this pool to that host that frees up first. As in Envoy (whose pools are per
/// worker and host), a worker with no connection at all to the host still opens one (counted in upstream_cx_overflow). Waiting connection attempts are what max_pending_requests limits:
/// one more fails the request waiting for it with 503 UO.
/// </remarks>
internal sealed class UpstreamPool : IClusterPool
{
    // The cluster state this pool serves: replaced when a newer state of the same cluster adopts the pool (an EDS
    // update that only changed endpoints), so new connections find the new hosts and count into the shared stats.
    private volatile ClusterState _cluster;
    private readonly TimeSpan _connectTimeout;
    private readonly ConcurrentDictionary<HostState, StrongBox<int>> _openByHost = new();
    private readonly StrongBox<int> _openToUnknownHosts = new();

    public UpstreamPool(ClusterState cluster)
    {
        _cluster = cluster;
        var config = cluster.Config;
        _connectTimeout = config.ConnectTimeout;
        Invoker = new HttpMessageInvoker(CreateHandler(ConnectAsync), disposeHandler: true);
    }

    public HttpMessageInvoker Invoker { get; }

    /// <summary>
    /// The invoker for one request: the plain handler (whose connect adds TLS under HTTP/1.1 itself, with the context's
    /// own ALPN list), or for HTTP/2 to a TLS host a handler per TLS context that runs TLS itself, so that :scheme is
    /// https (one pool per worker per TLS context).
    /// </summary>
    public HttpMessageInvoker InvokerFor(HostState host, Version version)
    {
        if (version.Major < 2 || host.TlsFor(_cluster.Config) is not { } tls)
        {
            return Invoker;
        }

        var invokers = Volatile.Read(ref _http2TlsInvokers);
        if (invokers is not null && invokers.TryGetValue(tls, out var existing))
        {
            return existing;
        }

        return AddHttp2TlsInvoker(tls);
    }

    private HttpMessageInvoker AddHttp2TlsInvoker(Configuration.UpstreamTlsConfig tls)
    {
        lock (_openByHost)
        {
            var invokers = _http2TlsInvokers ?? new Dictionary<Configuration.UpstreamTlsConfig, HttpMessageInvoker>(ReferenceEqualityComparer.Instance);
            if (invokers.TryGetValue(tls, out var existing))
            {
                return existing;
            }

            var stats = _cluster.Stats.Ssl;
            var handler = CreateHandler(ConnectPlainAsync);
            handler.SslOptions = Tls.UpstreamTlsContext.For(tls).CreateHandlerOptions(stats);

            // Called once the handler's TLS is up: the handshake succeeded.
            handler.PlaintextStreamFilter = (context, _) =>
            {
                stats.OnHandshake();
                return ValueTask.FromResult(context.PlaintextStream);
            };
            var invoker = new HttpMessageInvoker(handler, disposeHandler: true);
            var copy = new Dictionary<Configuration.UpstreamTlsConfig, HttpMessageInvoker>(invokers, ReferenceEqualityComparer.Instance) { [tls] = invoker };
            Volatile.Write(ref _http2TlsInvokers, copy);
            return invoker;
        }
    }

    private Dictionary<Configuration.UpstreamTlsConfig, HttpMessageInvoker>? _http2TlsInvokers;

    public void Dispose()
    {
        Invoker.Dispose();
        if (Volatile.Read(ref _http2TlsInvokers) is { } invokers)
        {
            foreach (var invoker in invokers.Values)
            {
                invoker.Dispose();
            }
        }
    }

    private SocketsHttpHandler CreateHandler(Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> connect)
    {
        var config = _cluster.Config;
        return new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            // connect_timeout bounds the TCP connect only (applied in ConnectAsync), not the wait for a max_connections slot.
            ConnectTimeout = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = config.IdleTimeout ?? TimeSpan.FromHours(1),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ActivityHeadersPropagator = null,
            MaxResponseHeadersLength = 96,
            ConnectCallback = connect,
        };
    }

    private ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        ConnectAsync(context, addTls: true, cancellationToken);

    /// <summary>The cluster state that owns (and will dispose) this pool.</summary>
    public ClusterState Owner => _cluster;

    /// <summary>Hands the pool, with its open connections, to <paramref name="owner"/> (a newer state of the same cluster).</summary>
    public void Adopt(ClusterState owner) => _cluster = owner;

    /// <summary>For the handlers that run TLS themselves (HTTP/2 over TLS).</summary>
    private ValueTask<Stream> ConnectPlainAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        ConnectAsync(context, addTls: false, cancellationToken);

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, bool addTls, CancellationToken cancellationToken)
    {
        // Request URIs carry the host's literal "ip:port", so the endpoint is known without DNS.
        var host = _cluster.FindHost(context.DnsEndPoint.Host, context.DnsEndPoint.Port);
        EndPoint target = host is not null ? host.EndPoint : context.DnsEndPoint;
        var open = host is null ? _openToUnknownHosts : _openByHost.GetOrAdd(host, static _ => new StrongBox<int>());
        var heldSlot = await AcquireConnectionAsync(open, cancellationToken).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_connectTimeout > TimeSpan.Zero)
        {
            timeout.CancelAfter(_connectTimeout);
        }

        Socket socket;
        try
        {
            // Bound to upstream_bind_config's source when the cluster has one (the connector disposes the socket on failure).
            socket = await UpstreamConnector.ConnectAsync(_cluster, target, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            host?.OnConnectFailure();
            _cluster.Stats.OnConnectFailure();
            _cluster.Resources.ReleaseConnection(heldSlot);
            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new SocketException((int)SocketError.TimedOut);
            }

            throw;
        }

        host?.OnConnectionOpened();
        Interlocked.Increment(ref open.Value);
        var stream = new CountedNetworkStream(socket, host, open, this, heldSlot);
        var tls = addTls ? (host is not null ? host.TlsFor(_cluster.Config) : Tls.UpstreamTlsContext.Select(_cluster.Config, null)) : null;
        if (tls is null)
        {
            return stream;
        }

        // TLS under an HTTP/1.1 connection (HTTP/2 over TLS takes the handlers of InvokerFor): the handler speaks its
        // usual HTTP/1.1, the ALPN list is alpn_protocols as configured, and a handshake failure is a connect failure (503 UF).
        try
        {
            return await Tls.UpstreamTlsContext.For(tls).HandshakeAsync(stream, _cluster.Stats.Ssl, context.InitialRequestMessage.Version.Major >= 2, timeout.Token).ConfigureAwait(false);
        }
        catch (Tls.UpstreamTlsException)
        {
            host?.OnConnectFailure();
            _cluster.Stats.OnConnectFailure();
            throw;
        }
    }

    /// <returns>Whether the connection holds a max_connections slot (false when opened over the limit).</returns>
    private async ValueTask<bool> AcquireConnectionAsync(StrongBox<int> openToHost, CancellationToken cancellationToken)
    {
        var resources = _cluster.Resources;
        if (resources.TryAcquireConnection())
        {
            return true;
        }

        _cluster.Stats.OnConnectionOverflow();
        if (Volatile.Read(ref openToHost.Value) == 0)
        {
            resources.AcquireConnectionOverLimit();
            return false;
        }

        if (!resources.TryAcquirePending())
        {
            _cluster.Stats.OnPendingOverflow();
            throw new UpstreamOverflowException("max_pending_requests");
        }

        try
        {
            await resources.WaitForConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            resources.ReleasePending();
        }

        return true;
    }

    private void OnConnectionClosed(HostState? host, StrongBox<int> openToHost, bool heldSlot)
    {
        host?.OnConnectionClosed();
        Interlocked.Decrement(ref openToHost.Value);
        _cluster.Resources.ReleaseConnection(heldSlot);
    }

    private sealed class CountedNetworkStream(Socket socket, HostState? host, StrongBox<int> openToHost, UpstreamPool pool, bool heldSlot) : NetworkStream(socket, ownsSocket: true)
    {
        private int _closed;

        protected override void Dispose(bool disposing)
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                pool.OnConnectionClosed(host, openToHost, heldSlot);
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>A circuit breaker refused the request (Envoy's reset reason "overflow", flag UO).</summary>
internal sealed class UpstreamOverflowException(string limit) : Exception("circuit breaker " + limit + " overflow")
{
    public string Limit { get; } = limit;
}
