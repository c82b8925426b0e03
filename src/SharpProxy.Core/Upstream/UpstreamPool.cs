using System.Net;
using System.Net.Sockets;

namespace SharpProxy.Core.Upstream;

/// <summary>
/// One worker's connections to one cluster: a SocketsHttpHandler owned by that worker alone (Envoy's per-worker pools).
/// Connections are opened by <see cref="ConnectAsync"/> so they go straight to the chosen host's address and are counted.
/// </summary>
internal sealed class UpstreamPool : IDisposable
{
    private readonly ClusterState _cluster;

    public UpstreamPool(ClusterState cluster)
    {
        _cluster = cluster;
        var config = cluster.Config;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = config.ConnectTimeout > TimeSpan.Zero ? config.ConnectTimeout : Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = config.IdleTimeout ?? TimeSpan.FromHours(1),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ActivityHeadersPropagator = null,
            MaxResponseHeadersLength = 96,
            ConnectCallback = ConnectAsync,
        };
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        // Request URIs carry the host's literal "ip:port", so the endpoint is known without DNS.
        var host = _cluster.FindHost(context.DnsEndPoint.Host, context.DnsEndPoint.Port);
        EndPoint target = host is not null ? host.EndPoint : context.DnsEndPoint;
        Socket socket;
        try
        {
            socket = await UpstreamConnector.ConnectAsync(_cluster, target, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            host?.OnConnectFailure();
            _cluster.Stats.OnConnectFailure();
            throw;
        }

        host?.OnConnectionOpened();
        return new CountedNetworkStream(socket, host);
    }

    private sealed class CountedNetworkStream(Socket socket, HostState? host) : NetworkStream(socket, ownsSocket: true)
    {
        private int _closed;

        protected override void Dispose(bool disposing)
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                host?.OnConnectionClosed();
            }

            base.Dispose(disposing);
        }
    }
}
