using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Tls;

using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Listeners;

/// <summary>TLS on the listener side: chain choice with the TLS inspector's findings, and termination through Kestrel's TLS endpoint.</summary>
internal sealed partial class ListenerManager
{
    /// <summary>
    /// Kestrel endpoint that terminates TLS (HTTP/1.1 and HTTP/2 by ALPN) with the options of the chain chosen here;
    /// TLS connections never take the plaintext HTTP/1.1 fast path.
    /// </summary>
    public const string TlsEndpoint = "tls";

    /// <summary>
    /// The TLS inspector with the listener's listener_filters_timeout (Envoy's 15 s when unset); a silent client is
    /// dropped, or with continue_on_listener_filters_timeout carries on as raw_buffer (server-first protocols).
    /// </summary>
    /// <returns>Null when the connection is to be closed.</returns>
    private static async ValueTask<ClientHelloInfo?> InspectTlsAsync(LoopSocket socket, ListenerConfig listener)
    {
        var hello = await TlsInspector.PeekAsync(socket, listener.ListenerFiltersTimeout ?? TlsInspector.DefaultTimeout).ConfigureAwait(false);
        if (ReferenceEquals(hello, ClientHelloInfo.TimedOut))
        {
            return listener.ContinueOnListenerFiltersTimeout ? ClientHelloInfo.NotTls : null;
        }

        return hello;
    }

    /// <summary>
    /// TLS termination for a tcp_proxy chain (Istio's inbound TCP over mutual TLS): the handshake runs here, the relay
    /// then moves the plaintext. Null when the handshake failed (counted; the caller closes the socket).
    /// </summary>
    private async Task<System.Net.Security.SslStream?> TerminateTlsAsync(BoundListener bound, Socket socket, DownstreamTlsConfig tls, ClientHelloInfo? hello)
    {
        var stats = bound.Stats.Ssl;
        var ssl = new System.Net.Security.SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        using var timeout = new CancellationTokenSource(DownstreamTlsHandshake.HandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsServerAsync(DownstreamTlsContext.For(tls).CreateOptions(hello?.ServerName, hello?.ApplicationProtocols, stats), timeout.Token).ConfigureAwait(false);
            stats.OnHandshake();
            return ssl;
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            stats.OnConnectionError();
            Log.ConnectionSetupFailed(_logger, bound.Name, ex);
            await ssl.DisposeAsync().ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>
    /// TLS terminated on the worker's event loop (SslStream over the loop socket), then the connection is served by the
    /// fast path: HTTP/1.1, or HTTP/2 when ALPN chose h2 and the listener's HTTP/2 may stay on the loop; otherwise (h2 for
    /// a gRPC listener, or one routing to HTTP/2 clusters) the decrypted connection goes whole to Kestrel's HTTP/2 server.
    /// </summary>
    private async Task ServeTlsOnFastPathAsync(
        BoundListener bound, LoopSocket socket, DownstreamTlsConfig tls, ProxyConnectionFeature feature, ClientHelloInfo? hello,
        Http1.Http1FastPath fastPath, Snapshot.CompiledFilterChain chain, Snapshot.ProxySnapshot snapshot)
    {
        var stats = bound.Stats.Ssl;
        var ssl = new System.Net.Security.SslStream(new LoopSocketStream(socket), leaveInnerStreamOpen: true);
        try
        {
            using var timeout = new CancellationTokenSource(DownstreamTlsHandshake.HandshakeTimeout);
            await ssl.AuthenticateAsServerAsync(
                static (_, clientHello, state, _) =>
                {
                    var (context, offered, counters) = ((DownstreamTlsContext, string[]?, TlsStats))state!;
                    return ValueTask.FromResult(context.CreateOptions(clientHello.ServerName, offered, counters));
                },
                (DownstreamTlsContext.For(tls), hello?.ApplicationProtocols, stats),
                timeout.Token).ConfigureAwait(false);
            stats.OnHandshake();
            fastPath.OnTlsConnection();
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            stats.OnConnectionError();
            Log.ConnectionSetupFailed(_logger, bound.Name, ex);
            await ssl.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
            return;
        }

        var transport = new TlsTransport(socket, ssl);
        var mode = ssl.NegotiatedApplicationProtocol != System.Net.Security.SslApplicationProtocol.Http2 ? FastPathMode.Http1
            : fastPath.ServesHttp2(feature.ListenerName) && chain.RoutesAvoidHttp2Clusters(snapshot) ? FastPathMode.Http2
            : FastPathMode.Http2OnKestrel;
        await ServeOnFastPathAsync(bound, transport, fastPath, feature, mode).ConfigureAwait(false);
    }

    private static int SelectChain(IReadOnlyList<FilterChainConfig> chains, IPEndPoint destination, ClientHelloInfo? hello, string? sniffedProtocol)
    {
        if (hello is { IsTls: true })
        {
            return FilterChainSelector.Select(chains, destination, hello.ServerName, hello.TransportProtocol, hello.ApplicationProtocols);
        }

        return FilterChainSelector.Select(chains, destination, serverName: null, "raw_buffer", sniffedProtocol is null ? [] : [sniffedProtocol]);
    }

    /// <summary>Queues the still-encrypted connection on Kestrel's TLS endpoint, with the chain's TLS context on its features.</summary>
    private void DispatchTlsToKestrel(BoundListener bound, Socket socket, DownstreamTlsConfig tls, ProxyConnectionFeature feature, ClientHelloInfo? hello)
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

        bound.Stats.Track(connection.ConnectionClosed);
        var tlsFeature = new DownstreamTlsFeature(DownstreamTlsContext.For(tls), bound.Stats.Ssl, hello?.ApplicationProtocols);
        tlsFeature.Track(connection.ConnectionClosed);
        connection.Features.Set(feature);
        connection.Features.Set(tlsFeature);
        if (!_transport.TryDispatch(TlsEndpoint, connection))
        {
            _ = connection.DisposeAsync();
        }
    }
}
