using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Tls;

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
    private static async ValueTask<ClientHelloInfo?> InspectTlsAsync(Socket socket, ListenerConfig listener)
    {
        var hello = await TlsInspector.PeekAsync(socket, listener.ListenerFiltersTimeout ?? TlsInspector.DefaultTimeout).ConfigureAwait(false);
        if (ReferenceEquals(hello, ClientHelloInfo.TimedOut))
        {
            return listener.ContinueOnListenerFiltersTimeout ? ClientHelloInfo.NotTls : null;
        }

        return hello;
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
