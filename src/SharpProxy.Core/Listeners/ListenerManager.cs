using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Snapshot;
using SharpProxy.Core.Transport;
using SharpProxy.Interception;

namespace SharpProxy.Core.Listeners;

/// <summary>
/// Owns the listening sockets. Accepts connections, restores the original destination of redirected connections (and
/// hands them to the listener of that destination), binds each to a worker for its life, picks the filter chain, and
/// either relays it (tcp_proxy) or sniffs HTTP/2 prior knowledge when the codec is AUTO and hands it to Kestrel.
/// </summary>
internal sealed partial class ListenerManager : IAsyncDisposable
{
    public const string Http1Endpoint = "http1";
    public const string Http2Endpoint = "http2";
    public const string AdminEndpoint = "admin";

    private static readonly TimeSpan SniffTimeout = TimeSpan.FromSeconds(10);

    private readonly DispatchTransport _transport;
    private readonly SnapshotHolder _snapshots;
    private readonly int _workers;
    private readonly ILogger _logger;
    private readonly SocketConnectionContextFactory _connectionFactory;
    private readonly TcpProxyRelay _tcpProxy;
    private readonly Dictionary<string, BoundListener> _bound = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private int _nextWorker = -1;
    private BoundListener? _admin;
    private BoundListener? _prometheus;

    public ListenerManager(DispatchTransport transport, SnapshotHolder snapshots, int workers, ILoggerFactory loggerFactory)
    {
        _transport = transport;
        _snapshots = snapshots;
        _workers = Math.Max(1, workers);
        _logger = loggerFactory.CreateLogger<ListenerManager>();
        _connectionFactory = new SocketConnectionContextFactory(
            new SocketConnectionFactoryOptions { WaitForDataBeforeAllocatingBuffer = true },
            loggerFactory.CreateLogger("SharpProxy.Connections"));
        _tcpProxy = new TcpProxyRelay(SharedRandomSource.Instance, loggerFactory.CreateLogger<TcpProxyRelay>());
    }

    public int Workers => _workers;

    /// <summary>When set, plain HTTP/1.1 connections are served by it instead of Kestrel (which still gets what it hands over).</summary>
    public Http1.Http1FastPath? Http1FastPath { get; set; }

    /// <summary>
    /// --drain-time-s: how long a listener that left the config keeps its open connections (serving their requests on
    /// its old config) before they are closed.
    /// </summary>
    public TimeSpan DrainTime { get; set; } = TimeSpan.FromSeconds(600);

    /// <summary>Bound address of the admin listener, once bound.</summary>
    public IPEndPoint? AdminEndPoint => _admin?.LocalEndPoint;

    public void BindAdmin(AdminConfig admin)
    {
        _admin = Bind("admin", admin.Address, admin.Port, isAdmin: true);
        _ = AcceptLoopAsync(_admin);
    }

    /// <summary>Bound address of the Prometheus scrape listener, once bound.</summary>
    public IPEndPoint? PrometheusEndPoint => _prometheus?.LocalEndPoint;

    /// <summary>
    /// A second admin-served socket for Prometheus scraping, like Istio's 15090 (all addresses). The admin API answers
    /// only /stats/prometheus on it.
    /// </summary>
    public void BindPrometheus(int port)
    {
        _prometheus = Bind("prometheus", "0.0.0.0", port, isAdmin: true);
        _ = AcceptLoopAsync(_prometheus);
    }

    /// <summary>Binds listeners new in the snapshot and stops those that left it. Throws on a bind failure.</summary>
    public void Apply(ProxySnapshot snapshot)
    {
        lock (_bound)
        {
            foreach (var listener in snapshot.Listeners)
            {
                var config = listener.Config;
                if (!config.BindToPort)
                {
                    // A hand-off target only: reached through a use_original_dst listener, never bound itself.
                    if (_bound.Remove(config.Name, out var wasBound))
                    {
                        wasBound.Drain(DrainTime);
                    }

                    continue;
                }

                if (_bound.TryGetValue(config.Name, out var existing))
                {
                    if (existing.ConfiguredAddress == config.Address && existing.ConfiguredPort == config.Port)
                    {
                        continue;
                    }

                    existing.Drain(DrainTime);
                    _bound.Remove(config.Name);
                }

                var bound = Bind(config.Name, config.Address, config.Port, isAdmin: false);
                _bound[config.Name] = bound;
                _ = AcceptLoopAsync(bound);
            }

            List<string>? removed = null;
            foreach (var name in _bound.Keys)
            {
                if (snapshot.FindListener(name) is null)
                {
                    (removed ??= []).Add(name);
                }
            }

            if (removed is not null)
            {
                foreach (var name in removed)
                {
                    _bound[name].Drain(DrainTime);
                    _bound.Remove(name);
                }
            }
        }
    }

    /// <summary>The listeners' bound addresses (ports resolved when the config said 0).</summary>
    public IReadOnlyList<KeyValuePair<string, IPEndPoint>> GetBoundListeners()
    {
        lock (_bound)
        {
            var result = new List<KeyValuePair<string, IPEndPoint>>(_bound.Count);
            foreach (var (name, bound) in _bound)
            {
                result.Add(new(name, bound.LocalEndPoint));
            }

            return result;
        }
    }

    /// <summary>Stops accepting on every proxy listener (drain); the admin listener keeps serving.</summary>
    public void StopAccepting()
    {
        lock (_bound)
        {
            foreach (var bound in _bound.Values)
            {
                bound.Stop();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _shutdown.Cancel();
        StopAccepting();
        _admin?.Stop();
        _prometheus?.Stop();
        _shutdown.Dispose();
        return ValueTask.CompletedTask;
    }

    private static BoundListener Bind(string name, string address, int port, bool isAdmin)
    {
        if (!IPAddress.TryParse(address, out var ip))
        {
            throw new InvalidOperationException($"listener '{name}': address '{address}' is not an IP address");
        }

        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (ip.AddressFamily == AddressFamily.InterNetworkV6 && ip.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(ip, port));
            socket.Listen(1024);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new InvalidOperationException($"listener '{name}': cannot bind {address}:{port}: {ex.Message}", ex);
        }

        return new BoundListener(name, address, port, socket, isAdmin);
    }

    private async Task AcceptLoopAsync(BoundListener bound)
    {
        while (!bound.Stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await bound.Socket.AcceptAsync(bound.Stopping).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                break;
            }
            catch (SocketException ex)
            {
                // Transient accept errors (EMFILE, ECONNABORTED) must not end the listener.
                Log.AcceptFailed(_logger, bound.Name, ex.SocketErrorCode);
                await Task.Delay(10).ConfigureAwait(false);
                continue;
            }

            socket.NoDelay = true;
            _ = HandleConnectionAsync(bound, socket);
        }
    }

    private async Task HandleConnectionAsync(BoundListener bound, Socket socket)
    {
        if (bound.IsAdmin)
        {
            await DispatchToKestrelAsync(bound, socket, AdminEndpoint, feature: null).ConfigureAwait(false);
            return;
        }

        // Out of the loop's table on any failure below (a registered socket stays referenced by its slot).
        LoopSocket? looped = null;
        try
        {
            var snapshot = _snapshots.Current;
            var listener = snapshot.FindListener(bound.Name);
            if (listener is null)
            {
                socket.Dispose();
                return;
            }

            var destination = (IPEndPoint)socket.LocalEndPoint!;
            if (listener.Config.RestoreOriginalDestination)
            {
                destination = RestoreOriginalDestination(socket, destination);
                if (listener.Config.HandOffToOriginalDestination
                    && snapshot.FindListenerForDestination(destination) is { } target)
                {
                    listener = target;
                }
            }

            var chains = listener.Config.FilterChains;
            var worker = (int)((uint)Interlocked.Increment(ref _nextWorker) % (uint)_workers);

            // On the fast path's event loop from the first peek when the connection may stay there: a socket .NET's
            // engine has polled stays in its epoll set too, which would wake both for every event.
            var loop = Http1FastPath?.Loops?.For(worker);
            ClientHelloInfo? hello = null;
            if (listener.Config.InspectTls)
            {
                if (loop is not null)
                {
                    looped = new LoopSocket(socket, loop);
                }

                hello = await InspectTlsAsync(looped ?? new LoopSocket(socket, null), listener.Config).ConfigureAwait(false);
                if (hello is null)
                {
                    looped?.Dispose();
                    socket.Dispose();
                    return;
                }
            }

            HttpProtocols? sniffed = null;
            if (hello?.IsTls != true && FilterChainSelector.NeedsApplicationProtocol(chains))
            {
                // Peeked, not read: a chain that relays bytes must see them all, from the socket itself.
                if (loop is not null)
                {
                    looped ??= new LoopSocket(socket, loop);
                }

                sniffed = await PeekSniffAsync(looped ?? new LoopSocket(socket, null)).ConfigureAwait(false);
                if (sniffed is null)
                {
                    looped?.Dispose();
                    socket.Dispose();
                    return;
                }
            }

            var applicationProtocol = sniffed switch
            {
                HttpProtocols.Http2 => "h2c",
                HttpProtocols.Http1 => "http/1.1",
                _ => null,
            };
            var chainIndex = SelectChain(chains, destination, hello, applicationProtocol);
            var chain = chainIndex >= 0 ? chains[chainIndex] : null;
            if (chain is null || (chain.Http is null && chain.TcpProxy is null))
            {
                Log.NoFilterChain(_logger, listener.Config.Name, destination);
                looped?.Dispose();
                socket.Dispose();
                return;
            }

            var fastPathHttp = Http1FastPath is not null && chain.Http is { } http
                && http.Codec != CodecType.Http2 && Http1.Http1FastPath.Supports(http);
            var fastPathChain = fastPathHttp && chain.Tls is null;
            var tlsOnFastPath = fastPathHttp && chain.Tls is not null && loop is not null && Http1FastPath!.TlsEnabled;
            if (!fastPathChain && !tlsOnFastPath)
            {
                // Everything but the fast path runs on .NET's socket engine.
                looped?.Detach();
                looped = null;
            }

            if (chain.TcpProxy is { } tcp)
            {
                bound.Stats.OnConnectionOpened();
                using var drained = bound.DrainExpired.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket);
                try
                {
                    var downstreamTls = chain.Tls is { } tcpTls ? await TerminateTlsAsync(bound, socket, tcpTls, hello).ConfigureAwait(false) : null;
                    if (chain.Tls is null || downstreamTls is not null)
                    {
                        await _tcpProxy.RunAsync(socket, tcp, snapshot, destination, worker, _shutdown.Token, listener.Config.Direction, downstreamTls).ConfigureAwait(false);
                    }
                    else
                    {
                        socket.Dispose();
                    }
                }
                finally
                {
                    bound.Stats.OnConnectionClosed();
                }

                return;
            }

            var feature = new ProxyConnectionFeature
            {
                ListenerName = listener.Config.Name,
                FilterChainIndex = chainIndex,
                Worker = worker,
                DestinationEndPoint = destination,
                RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint,
                RequestedServerName = hello?.ServerName,
                AcceptedListener = listener,
            };
            if (chain.Tls is { } tls)
            {
                if (tlsOnFastPath)
                {
                    // TLS terminated on the worker's event loop; HTTP/1.1 or HTTP/2 (ALPN) then as in cleartext.
                    await ServeTlsOnFastPathAsync(bound, looped ?? new LoopSocket(socket, loop), tls, feature, hello, Http1FastPath!, listener.Chains[chainIndex], snapshot).ConfigureAwait(false);
                    return;
                }

                // TLS is terminated by Kestrel's TLS endpoint.
                DispatchTlsToKestrel(bound, socket, tls, feature, hello);
                return;
            }

            var codec = chain.Http!.Codec;
            if (fastPathChain && Http1FastPath is { } fastPath)
            {
                looped ??= new LoopSocket(socket, loop);
                if (codec == CodecType.Auto && sniffed is null)
                {
                    // Peeked, so an HTTP/2 connection reaches Kestrel straight from the socket, not through a hand-off.
                    sniffed = await PeekSniffAsync(looped).ConfigureAwait(false);
                    if (sniffed is null)
                    {
                        looped.Dispose();
                        return;
                    }
                }

                if (codec == CodecType.Http1 || sniffed == HttpProtocols.Http1)
                {
                    await ServeOnFastPathAsync(bound, looped, fastPath, feature, FastPathMode.Http1).ConfigureAwait(false);
                    return;
                }

                if (looped.Loop is not null && fastPath.ServesHttp2(listener.Config.Name) && listener.Chains[chainIndex].RoutesAvoidHttp2Clusters(snapshot))
                {
                    await ServeOnFastPathAsync(bound, looped, fastPath, feature, FastPathMode.Http2).ConfigureAwait(false);
                    return;
                }

                looped.Detach();
            }

            await DispatchToKestrelAsync(bound, socket, codec switch
            {
                CodecType.Http1 => Http1Endpoint,
                CodecType.Http2 => Http2Endpoint,
                _ => sniffed switch
                {
                    HttpProtocols.Http2 => Http2Endpoint,
                    HttpProtocols.Http1 => Http1Endpoint,
                    _ => null,
                },
            }, feature).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Nothing may escape a fire-and-forget connection task; the socket is closed whatever went wrong.
            Log.ConnectionSetupFailed(_logger, bound.Name, ex);
            looped?.Dispose();
            socket.Dispose();
        }
    }

    /// <summary>How a connection that reached the fast path is served.</summary>
    private enum FastPathMode
    {
        Http1,
        Http2,

        /// <summary>Decrypted on the loop, then HTTP/2 on Kestrel (a listener whose HTTP/2 must stay there).</summary>
        Http2OnKestrel,
    }

    private static async Task ServeOnFastPathAsync(BoundListener bound, IByteTransport socket, Http1.Http1FastPath fastPath, ProxyConnectionFeature feature, FastPathMode mode)
    {
        bound.Stats.OnConnectionOpened();

        // Closed when its listener, removed from the config, has drained for the drain time (on either path).
        var drained = bound.DrainExpired.UnsafeRegister(static s => ((IDisposable)s!).Dispose(), socket);
        Http1.KestrelHandoff? handedOff;
        switch (mode)
        {
            case FastPathMode.Http2:
                handedOff = await Http2.Http2Connection.RunAsync(fastPath, socket, feature).ConfigureAwait(false);
                break;
            case FastPathMode.Http2OnKestrel:
                fastPath.OnHandOff();
                handedOff = Http1.KestrelHandoff.TryDispatch(fastPath.Transport, Http2Endpoint, socket, [], feature, out var handoff) ? handoff : null;
                break;
            default:
                handedOff = await Http1.Http1Connection.RunAsync(fastPath, socket, feature, sniffHttp2: false).ConfigureAwait(false);
                break;
        }

        if (handedOff is null)
        {
            drained.Dispose();
            bound.Stats.OnConnectionClosed();
        }
        else
        {
            // Still the same downstream connection: it stays counted until Kestrel closes it.
            handedOff.ConnectionClosed.UnsafeRegister(static state => ((Telemetry.Metrics.ListenerStats)state!).OnConnectionClosed(), bound.Stats);
            handedOff.ConnectionClosed.UnsafeRegister(static s => ((IDisposable)s!).Dispose(), drained);
        }
    }

    /// <summary>
    /// SO_ORIGINAL_DST when the kernel redirected the connection; the socket's own local address otherwise (not NATed,
    /// or TPROXY, where the local address already is the original destination).
    /// </summary>
    private static IPEndPoint RestoreOriginalDestination(Socket socket, IPEndPoint local)
    {
        if (!OriginalDestination.TryGet(socket, out var original) || original is null)
        {
            return local;
        }

        return original.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(original.Address.MapToIPv4(), original.Port) : original;
    }

    /// <summary>Wraps the socket for Kestrel and queues it on <paramref name="endpoint"/>; null endpoint = sniff first.</summary>
    private async Task DispatchToKestrelAsync(BoundListener bound, Socket socket, string? endpoint, ProxyConnectionFeature? feature)
    {
        ConnectionContext connection;
        try
        {
            connection = _connectionFactory.Create(socket);
        }
        catch (Exception ex)
        {
            Log.ConnectionSetupFailed(_logger, bound.Name, ex);
            socket.Dispose();
            return;
        }

        if (!bound.IsAdmin)
        {
            bound.Stats.Track(connection.ConnectionClosed);

            // Closed when its listener has drained for the drain time; the registration ends with the connection.
            var drained = bound.DrainExpired.UnsafeRegister(static s => ((ConnectionContext)s!).Abort(), connection);
            connection.ConnectionClosed.UnsafeRegister(static s => ((IDisposable)s!).Dispose(), drained);
        }

        try
        {
            if (endpoint is null)
            {
                var protocol = await SniffAsync(connection.Transport.Input).ConfigureAwait(false);
                if (protocol is null)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    return;
                }

                endpoint = protocol == HttpProtocols.Http2 ? Http2Endpoint : Http1Endpoint;
            }

            if (feature is not null)
            {
                connection.Features.Set(feature);
            }

            if (!_transport.TryDispatch(endpoint, connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            Log.ConnectionSetupFailed(_logger, bound.Name, ex);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Classifies the first bytes with MSG_PEEK, leaving them in the socket: HTTP/2 preface or HTTP/1.x. Null when the
    /// peer closed or stayed silent past the timeout. Only used when chains match on application_protocols.
    /// </summary>
    internal static ValueTask<HttpProtocols?> PeekSniffAsync(Socket socket) => PeekSniffAsync(new LoopSocket(socket, loop: null));

    /// <inheritdoc cref="PeekSniffAsync(Socket)"/>
    internal static async ValueTask<HttpProtocols?> PeekSniffAsync(LoopSocket socket)
    {
        socket.BeginPeeks();
        using var timeout = new CancellationTokenSource(SniffTimeout);
        var buffer = new byte[Http2Preface.Bytes.Length];
        var previous = -1;
        try
        {
            while (true)
            {
                var peeked = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.Peek, timeout.Token).ConfigureAwait(false);
                if (peeked == 0)
                {
                    return null;
                }

                var verdict = Http2Preface.Classify(new System.Buffers.ReadOnlySequence<byte>(buffer, 0, peeked));
                if (verdict != Http2Preface.Verdict.NeedMoreData)
                {
                    return verdict == Http2Preface.Verdict.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1;
                }

                // On .NET's engine a peek returns at once while unread bytes wait: pause briefly until more arrive (on an
                // event loop a short peek already waits for new bytes).
                if (peeked == previous && socket.Loop is null)
                {
                    await Task.Delay(5, timeout.Token).ConfigureAwait(false);
                }

                previous = peeked;
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>
    /// Looks at the first bytes without consuming them: the HTTP/2 connection preface means prior-knowledge HTTP/2,
    /// anything else is HTTP/1.x. Null when the peer closed or stayed silent past the timeout.
    /// </summary>
    internal static async ValueTask<HttpProtocols?> SniffAsync(PipeReader input)
    {
        using var timeout = new CancellationTokenSource(SniffTimeout);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var verdict = Http2Preface.Classify(buffer);
                if (verdict != Http2Preface.Verdict.NeedMoreData)
                {
                    // Nothing consumed or examined: Kestrel reads the same bytes next, without waiting for more.
                    input.AdvanceTo(buffer.Start, buffer.Start);
                    return verdict == Http2Preface.Verdict.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1;
                }

                if (result.IsCompleted)
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                    return null;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private sealed class BoundListener(string name, string address, int port, Socket socket, bool isAdmin)
    {
        private readonly CancellationTokenSource _stopping = new();

        public string Name { get; } = name;

        public string ConfiguredAddress { get; } = address;

        public int ConfiguredPort { get; } = port;

        public Socket Socket { get; } = socket;

        public bool IsAdmin { get; } = isAdmin;

        public IPEndPoint LocalEndPoint { get; } = (IPEndPoint)socket.LocalEndPoint!;

        /// <summary>listener.&lt;address&gt;.downstream_cx_* (HTTP and TCP proxy connections).</summary>
        public Telemetry.Metrics.ListenerStats Stats => field ??= Telemetry.Metrics.StatsStore.Process.Listener(LocalEndPoint);

        public CancellationToken Stopping => _stopping.Token;

        /// <summary>Cancelled when this listener, removed from the config, has drained for the drain time.</summary>
        public CancellationToken DrainExpired => _drainExpired.Token;

        private readonly CancellationTokenSource _drainExpired = new();

        /// <summary>Envoy's removed listener: stop accepting now, close the connections still open after <paramref name="drainTime"/>.</summary>
        public void Drain(TimeSpan drainTime)
        {
            Stop();
            _drainExpired.CancelAfter(drainTime);
        }

        public void Stop()
        {
            if (!_stopping.IsCancellationRequested)
            {
                _stopping.Cancel();
                Socket.Dispose();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(5100, LogLevel.Warning, "Listener {Listener}: accept failed with {Error}")]
        public static partial void AcceptFailed(ILogger logger, string listener, SocketError error);

        [LoggerMessage(5101, LogLevel.Debug, "Listener {Listener}: connection setup failed")]
        public static partial void ConnectionSetupFailed(ILogger logger, string listener, Exception exception);

        [LoggerMessage(5102, LogLevel.Debug, "Listener {Listener}: no filter chain matches destination {Destination}; connection closed")]
        public static partial void NoFilterChain(ILogger logger, string listener, IPEndPoint destination);
    }
}
