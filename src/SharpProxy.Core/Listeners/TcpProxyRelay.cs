using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Snapshot;
using SharpProxy.Core.Upstream;

using SharpProxy.Core.Telemetry.Metrics;

namespace SharpProxy.Core.Listeners;

/// <summary>
/// envoy.filters.network.tcp_proxy on plain sockets: picks the cluster (weighted per connection) and a host, connects
/// (up to max_connect_attempts), then copies bytes both ways. A FIN from one side is passed on as a FIN to the other
/// (shutdown(SHUT_WR)) while the opposite direction keeps flowing; both sockets close when both directions ended, on a
/// reset or error in either, or when no byte moved either way for idle_timeout.
/// </summary>
internal sealed partial class TcpProxyRelay(IRandomSource random, ILogger logger)
{
    private const int BufferSize = 64 * 1024;

    /// <param name="downstreamTls">The terminated TLS stream over <paramref name="downstream"/> (a chain with a TLS transport socket), or null.</param>
    public async Task RunAsync(Socket downstream, TcpProxyConfig config, ProxySnapshot snapshot, IPEndPoint destination, int worker, CancellationToken shutdown, TrafficDirection direction = TrafficDirection.Unspecified, System.Net.Security.SslStream? downstreamTls = null)
    {
        Socket? upstream = null;
        System.Net.Security.SslStream? upstreamTls = null;
        HostState? host = null;
        IstioTcpSeries? metrics = null;
        try
        {
            var clusterName = PickCluster(config);
            var cluster = clusterName is null ? null : snapshot.FindCluster(clusterName);
            if (cluster is null)
            {
                Log.NoCluster(logger, config.StatPrefix, clusterName ?? "");
                return;
            }

            for (var attempt = 0; attempt < config.MaxConnectAttempts && upstream is null; attempt++)
            {
                host = cluster.IsOriginalDestination
                    ? cluster.GetOriginalDestinationHost(destination)
                    : cluster.Balancer.Pick(worker, null, attempt);
                if (host is null)
                {
                    // BlackHoleCluster (no endpoints) or no healthy host: the downstream is closed at once.
                    cluster.Stats.OnNoHealthyUpstream();
                    Log.NoHealthyUpstream(logger, config.StatPrefix, cluster.Name);
                    return;
                }

                using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
                connectTimeout.CancelAfter(cluster.Config.ConnectTimeout);
                try
                {
                    upstream = await UpstreamConnector.ConnectAsync(cluster, host.EndPoint, connectTimeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException)
                {
                    host.OnConnectFailure();
                    cluster.Stats.OnConnectFailure();
                    Log.ConnectFailed(logger, config.StatPrefix, host.Authority, attempt + 1, ex.Message);
                    if (shutdown.IsCancellationRequested)
                    {
                        return;
                    }

                    continue;
                }

                // The cluster's transport socket (per endpoint with transport_socket_matches): TLS under the relay, as Istio's mTLS for TCP.
                if (Tls.UpstreamTlsContext.Select(cluster.Config, host.Config.Metadata) is { } tls)
                {
                    try
                    {
                        upstreamTls = await Tls.UpstreamTlsContext.For(tls)
                            .HandshakeAsync(new NetworkStream(upstream, ownsSocket: false), cluster.Stats.Ssl, http2: false, connectTimeout.Token)
                            .ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is Tls.UpstreamTlsException or OperationCanceledException)
                    {
                        host.OnConnectFailure();
                        cluster.Stats.OnConnectFailure();
                        Log.ConnectFailed(logger, config.StatPrefix, host.Authority, attempt + 1, ex.Message);
                        upstream.Dispose();
                        upstream = null;
                        if (shutdown.IsCancellationRequested)
                        {
                            return;
                        }
                    }
                }
            }

            if (upstream is null)
            {
                return;
            }

            host!.OnConnectionOpened();

            // Istio's TCP metrics: one series per (direction, cluster, host), looked up once per connection.
            metrics = TcpMetrics.Series(direction, cluster, host);
            metrics.ConnectionOpened();
            if (upstreamTls is not null || downstreamTls is not null)
            {
                RelayEnd downstreamEnd = downstreamTls is not null ? new TlsEnd(downstreamTls) : new SocketEnd(downstream);
                RelayEnd upstreamEnd = upstreamTls is not null ? new TlsEnd(upstreamTls) : new SocketEnd(upstream);
                await RelayAsync(downstreamEnd, upstreamEnd, config.IdleTimeout, shutdown, metrics).ConfigureAwait(false);
            }
            else
            {
                await RelayAsync(downstream, upstream, config.IdleTimeout, shutdown, metrics).ConfigureAwait(false);
            }
        }
        finally
        {
            if (upstreamTls is not null)
            {
                await upstreamTls.DisposeAsync().ConfigureAwait(false);
            }

            if (downstreamTls is not null)
            {
                await downstreamTls.DisposeAsync().ConfigureAwait(false);
            }

            if (upstream is not null)
            {
                host?.OnConnectionClosed();
                upstream.Dispose();
            }

            metrics?.ConnectionClosed();

            downstream.Dispose();
        }
    }

    private string? PickCluster(TcpProxyConfig config)
    {
        if (config.WeightedClusters is not { } weighted)
        {
            return config.Cluster;
        }

        var index = WeightedClusterPicker.Pick(weighted, random.NextUInt64());
        return index < 0 ? null : weighted.Clusters[index].Name;
    }

    /// <summary>Copies both directions until both ended, one failed, the idle timeout passed, or shutdown.</summary>
    internal static Task RelayAsync(Socket downstream, Socket upstream, TimeSpan idleTimeout, CancellationToken shutdown, IstioTcpSeries? metrics = null) =>
        RelayAsync(new SocketEnd(downstream), new SocketEnd(upstream), idleTimeout, shutdown, metrics);

    private static async Task RelayAsync(RelayEnd downstream, RelayEnd upstream, TimeSpan idleTimeout, CancellationToken shutdown, IstioTcpSeries? metrics)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        var activity = new ActivityClock();
        var toUpstream = PumpAsync(downstream, upstream, activity, stop, metrics, fromDownstream: true);
        var toDownstream = PumpAsync(upstream, downstream, activity, stop, metrics, fromDownstream: false);
        var both = Task.WhenAll(toUpstream, toDownstream);
        if (idleTimeout > TimeSpan.Zero)
        {
            while (!both.IsCompleted)
            {
                var idleFor = activity.IdleFor;
                if (idleFor >= idleTimeout)
                {
                    stop.Cancel();
                    break;
                }

                // One timer per idle period, not per read: reset only when it fires.
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                var delay = Task.Delay(idleTimeout - idleFor, wake.Token);
                if (await Task.WhenAny(both, delay).ConfigureAwait(false) == both)
                {
                    wake.Cancel();
                    break;
                }
            }
        }

        await both.ConfigureAwait(false);
    }

    /// <summary>Reads from <paramref name="source"/> and writes to <paramref name="target"/> until EOF, then half-closes target.</summary>
    private static async Task PumpAsync(RelayEnd source, RelayEnd target, ActivityClock activity, CancellationTokenSource stop, IstioTcpSeries? metrics, bool fromDownstream)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                var read = await source.ReceiveAsync(buffer.AsMemory(), stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    // FIN from the source: pass it on, keep the other direction open.
                    await target.ShutdownSendAsync().ConfigureAwait(false);
                    return;
                }

                activity.Touch();
                await target.SendAsync(buffer.AsMemory(0, read), stop.Token).ConfigureAwait(false);
                activity.Touch();
                if (fromDownstream)
                {
                    metrics?.AddReceivedBytes(read);
                }
                else
                {
                    metrics?.AddSentBytes(read);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            // A reset or error on either side ends both directions: the caller closes both sockets.
            stop.Cancel();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One side of a relay: a plain socket, or the TLS stream over an upstream socket.</summary>
    private abstract class RelayEnd
    {
        public abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

        public abstract ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

        /// <summary>Half-close: FIN on a socket, close_notify on TLS; the other direction keeps flowing.</summary>
        public abstract ValueTask ShutdownSendAsync();
    }

    private sealed class SocketEnd(Socket socket) : RelayEnd
    {
        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
            socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

        public override async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);

        public override ValueTask ShutdownSendAsync()
        {
            socket.Shutdown(SocketShutdown.Send);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class TlsEnd(System.Net.Security.SslStream stream) : RelayEnd
    {
        public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
            stream.ReadAsync(buffer, cancellationToken);

        public override ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            stream.WriteAsync(data, cancellationToken);

        public override async ValueTask ShutdownSendAsync() => await stream.ShutdownAsync().ConfigureAwait(false);
    }

    /// <summary>Milliseconds of the last byte moved, shared by both directions.</summary>
    private sealed class ActivityClock
    {
        private long _lastActivity = Environment.TickCount64;

        public TimeSpan IdleFor => TimeSpan.FromMilliseconds(Environment.TickCount64 - Volatile.Read(ref _lastActivity));

        public void Touch() => Volatile.Write(ref _lastActivity, Environment.TickCount64);
    }

    private static partial class Log
    {
        [LoggerMessage(5110, LogLevel.Debug, "tcp_proxy {StatPrefix}: cluster '{Cluster}' not found; connection closed")]
        public static partial void NoCluster(ILogger logger, string statPrefix, string cluster);

        [LoggerMessage(5111, LogLevel.Debug, "tcp_proxy {StatPrefix}: no healthy upstream in cluster '{Cluster}'; connection closed")]
        public static partial void NoHealthyUpstream(ILogger logger, string statPrefix, string cluster);

        [LoggerMessage(5112, LogLevel.Debug, "tcp_proxy {StatPrefix}: connect to {Host} failed (attempt {Attempt}): {Reason}")]
        public static partial void ConnectFailed(ILogger logger, string statPrefix, string host, int attempt, string reason);
    }
}
