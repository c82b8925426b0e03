using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using SharpProxy.Core.Transport;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Http1;

/// <summary>One keep-alive HTTP/1.1 connection to an upstream host, owned by one request at a time.</summary>
internal sealed class Http1UpstreamConnection
{
    public const int BufferSize = 16 * 1024;

    private readonly Http1UpstreamPool _pool;
    private readonly bool _heldSlot;
    private int _closed;

    public Http1UpstreamConnection(Http1UpstreamPool pool, HostState host, LoopSocket socket, bool heldSlot)
    {
        _pool = pool;
        Host = host;
        Socket = socket;
        _heldSlot = heldSlot;
        Buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    }

    public HostState Host { get; }

    public LoopSocket Socket { get; }

    /// <summary>Receive buffer; bytes [Start, End) are read and not consumed.</summary>
    public byte[] Buffer { get; }

    public int Start;

    public int End;

    /// <summary>When it went back to the pool (<see cref="Environment.TickCount64"/>, milliseconds), for the idle timeout.</summary>
    public long IdleSince;

    /// <summary>Requests it has carried; a reused connection may have been closed by the upstream meanwhile.</summary>
    public int Requests;

    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        Socket.Dispose();
        ArrayPool<byte>.Shared.Return(Buffer);
        _pool.OnClosed(this, _heldSlot);
    }
}

/// <summary>
/// One worker's idle HTTP/1.1 connections to one cluster's hosts (Envoy's per-worker connection pools). A connection
/// serves one request at a time and comes back here after a complete, keep-alive response. max_connections and
/// max_pending_requests are the cluster's circuit breakers, shared with the HttpClient pools of the same cluster.
/// </summary>
internal sealed class Http1UpstreamPool(ClusterState cluster) : IClusterPool
{
    private readonly ConcurrentDictionary<HostState, HostConnections> _byHost = new();
    // Idle times in milliseconds of Environment.TickCount64: a coarse clock (a few ms) is plenty for timeouts of half a
    // second and more, and costs less than the precise one twice per request.
    private const long CheckAfterMilliseconds = 500;
    private readonly long _idleTimeoutMilliseconds = (long)(cluster.Config.IdleTimeout ?? TimeSpan.FromHours(1)).TotalMilliseconds;
    private int _disposed;

    // Replaced when a newer state of the cluster adopts the pool (an EDS update that only changed endpoints).
    private volatile ClusterState _cluster = cluster;

    public ClusterState Owner => _cluster;

    /// <summary>
    /// Hands the pool to <paramref name="owner"/>: the connections of hosts that remain are filed under the new state's
    /// host objects (so its requests reuse them); idle connections to hosts that left are closed, as Envoy drains them.
    /// </summary>
    public void Adopt(ClusterState owner)
    {
        _cluster = owner;
        foreach (var (host, connections) in _byHost)
        {
            if (owner.FindHost(host.EndPoint) is { } current)
            {
                if (!ReferenceEquals(current, host) && _byHost.TryAdd(current, connections))
                {
                    _byHost.TryRemove(host, out _);
                }

                continue;
            }

            _byHost.TryRemove(host, out _);
            CloseIdle(connections);
        }
    }

    /// <summary>An idle connection to <paramref name="host"/> that still looks open, or null.</summary>
    public Http1UpstreamConnection? TryTakeIdle(HostState host)
    {
        if (!_byHost.TryGetValue(host, out var connections))
        {
            return null;
        }

        var now = Environment.TickCount64;
        while (true)
        {
            Http1UpstreamConnection? connection;
            lock (connections)
            {
                if (!connections.Idle.TryPop(out connection))
                {
                    return null;
                }
            }

            // Readable while idle means the upstream closed it (or sent bytes nobody asked for): either way unusable.
            // Checked (one poll(2)) only after a pause: a connection back from a request a moment ago is reused as is,
            // and if the upstream closed it meanwhile the request goes once more on a new connection.
            bool usable;
            try
            {
                var idle = now - connection.IdleSince;
                usable = idle < _idleTimeoutMilliseconds && (idle < CheckAfterMilliseconds || !connection.Socket.Socket.Poll(0, SelectMode.SelectRead));
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                usable = false;
            }

            if (usable)
            {
                return connection;
            }

            connection.Close();
        }
    }

    /// <summary>
    /// A connection for a request: a new one within the cluster's max_connections, or, when the limit is reached, the
    /// first of this worker's connections to the host that comes back from its request (Envoy leaves the request
    /// pending) or a new one once another connection of the cluster closes, whichever comes first.
    /// </summary>
    /// <exception cref="UpstreamOverflowException">max_pending_requests refused the wait.</exception>
    public async ValueTask<Http1UpstreamConnection> AcquireAsync(HostState host, SocketEventLoop? loop, CancellationToken cancellationToken)
    {
        var connections = _byHost.GetOrAdd(host, static _ => new HostConnections());
        var resources = _cluster.Resources;
        bool heldSlot;
        if (resources.TryAcquireConnection())
        {
            heldSlot = true;
        }
        else
        {
            _cluster.Stats.OnConnectionOverflow();
            if (Volatile.Read(ref connections.Open) == 0)
            {
                // As in Envoy, a worker with no connection at all to the host still opens one.
                resources.AcquireConnectionOverLimit();
                heldSlot = false;
            }
            else
            {
                if (!resources.TryAcquirePending())
                {
                    _cluster.Stats.OnPendingOverflow();
                    throw new UpstreamOverflowException("max_pending_requests");
                }

                try
                {
                    var handed = await WaitAsync(connections, cancellationToken).ConfigureAwait(false);
                    if (handed is not null)
                    {
                        return handed;
                    }
                }
                finally
                {
                    resources.ReleasePending();
                }

                heldSlot = true;
            }
        }

        return await ConnectAsync(host, connections, heldSlot, loop, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A connection handed over by <see cref="Return"/>, or null once a max_connections slot was taken.</summary>
    private async ValueTask<Http1UpstreamConnection?> WaitAsync(HostConnections connections, CancellationToken cancellationToken)
    {
        var waiter = new TaskCompletionSource<Http1UpstreamConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (connections)
        {
            connections.Waiters.Enqueue(waiter);
        }

        using var slotWait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var slot = _cluster.Resources.WaitForConnectionAsync(slotWait.Token).AsTask();
        var first = await Task.WhenAny(waiter.Task, slot).ConfigureAwait(false);
        if (first == waiter.Task)
        {
            await slotWait.CancelAsync().ConfigureAwait(false);
            try
            {
                await slot.ConfigureAwait(false);

                // The slot came too, at the same moment: give it back.
                _cluster.Resources.ReleaseConnection(heldSlot: true);
            }
            catch (OperationCanceledException)
            {
                // Expected: the slot wait was abandoned.
            }

            return waiter.Task.Result;
        }

        // The slot (or cancellation) came first: withdraw the waiter; a connection handed to it meanwhile goes back.
        if (!waiter.TrySetCanceled() && waiter.Task.IsCompletedSuccessfully)
        {
            Return(waiter.Task.Result);
        }

        await slot.ConfigureAwait(false);
        return null;
    }

    private async ValueTask<Http1UpstreamConnection> ConnectAsync(HostState host, HostConnections connections, bool heldSlot, SocketEventLoop? loop, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var connectTimeout = _cluster.Config.ConnectTimeout;
        if (connectTimeout > TimeSpan.Zero)
        {
            timeout.CancelAfter(connectTimeout);
        }

        LoopSocket socket;
        try
        {
            var target = UpstreamConnector.CreateSocket(_cluster, host.EndPoint, out var unconnected);
            socket = await LoopSocket.ConnectAsync(unconnected, target, loop, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            host.OnConnectFailure();
            _cluster.Stats.OnConnectFailure();
            _cluster.Resources.ReleaseConnection(heldSlot);
            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new SocketException((int)SocketError.TimedOut);
            }

            throw;
        }

        host.OnConnectionOpened();
        Interlocked.Increment(ref connections.Open);
        return new Http1UpstreamConnection(this, host, socket, heldSlot);
    }

    /// <summary>Back to the idle list after a complete response on a connection both sides keep alive.</summary>
    public void Return(Http1UpstreamConnection connection)
    {
        if (Volatile.Read(ref _disposed) != 0 || !TryGetConnections(connection.Host, out var connections))
        {
            connection.Close();
            return;
        }

        connection.IdleSince = Environment.TickCount64;
        connection.Start = 0;
        connection.End = 0;
        lock (connections)
        {
            // A request waiting for a connection to this host (max_connections reached) gets it first.
            while (connections.Waiters.TryDequeue(out var waiter))
            {
                if (waiter.TrySetResult(connection))
                {
                    return;
                }
            }

            connections.Idle.Push(connection);
        }
    }

    /// <summary>Closes the idle connections; those in use close when their request ends.</summary>
    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        foreach (var connections in _byHost.Values)
        {
            CloseIdle(connections);
        }
    }

    private static void CloseIdle(HostConnections connections)
    {
        while (true)
        {
            Http1UpstreamConnection? idle;
            lock (connections)
            {
                if (!connections.Idle.TryPop(out idle))
                {
                    break;
                }
            }

            idle.Close();
        }
    }

    /// <summary>A connection's host list; after an adoption, found through the current state's host of the same endpoint.</summary>
    private bool TryGetConnections(HostState host, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HostConnections? connections) =>
        _byHost.TryGetValue(host, out connections)
        || (_cluster.FindHost(host.EndPoint) is { } current && _byHost.TryGetValue(current, out connections));

    internal void OnClosed(Http1UpstreamConnection connection, bool heldSlot)
    {
        connection.Host.OnConnectionClosed();
        if (TryGetConnections(connection.Host, out var connections))
        {
            Interlocked.Decrement(ref connections.Open);
        }

        _cluster.Resources.ReleaseConnection(heldSlot);
    }

    private sealed class HostConnections
    {
        public readonly Stack<Http1UpstreamConnection> Idle = new();
        public readonly Queue<TaskCompletionSource<Http1UpstreamConnection>> Waiters = new();
        public int Open;
    }
}
