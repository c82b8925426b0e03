using System.Net.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace SharpProxy.Core.Tls;

/// <summary>
/// What the listener decided for a TLS-terminated connection, set on the connection's features before it is queued
/// for Kestrel's TLS endpoint: the chain's compiled TLS context and the listener's ssl.* counters.
/// </summary>
internal sealed class DownstreamTlsFeature(DownstreamTlsContext context, TlsStats stats, string[]? offeredAlpn)
{
    private int _handshakeCompleted;

    public DownstreamTlsContext Context { get; } = context;

    public TlsStats Stats { get; } = stats;

    /// <summary>The client's ALPN list from the TLS inspector (null when the listener did not inspect).</summary>
    public string[]? OfferedAlpn { get; } = offeredAlpn;

    public bool HandshakeCompleted => Volatile.Read(ref _handshakeCompleted) != 0;

    public void OnHandshakeCompleted()
    {
        Volatile.Write(ref _handshakeCompleted, 1);
        Stats.OnHandshake();
    }

    /// <summary>Counts ssl.connection_error when the connection closes before its handshake completed.</summary>
    public void Track(CancellationToken connectionClosed) =>
        connectionClosed.UnsafeRegister(static state =>
        {
            var feature = (DownstreamTlsFeature)state!;
            if (!feature.HandshakeCompleted)
            {
                feature.Stats.OnConnectionError();
            }
        }, this);
}

/// <summary>
/// Hooks for Kestrel's TLS endpoint: Kestrel runs the handshake (SslStream, ALPN-driven HTTP/1.1 or HTTP/2, IsHttps),
/// with the options of the filter chain the listener chose for the connection.
/// </summary>
internal static class DownstreamTlsHandshake
{
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long closing waits for the close_notify alert to leave (a client that stopped reading gets none).</summary>
    private static readonly TimeSpan CloseNotifyTimeout = TimeSpan.FromSeconds(1);

    public static TlsHandshakeCallbackOptions CreateKestrelOptions() => new()
    {
        OnConnection = OnConnection,
        HandshakeTimeout = HandshakeTimeout,
    };

    /// <summary>Connection middleware placed after Kestrel's TLS middleware: only connections whose handshake succeeded get here.</summary>
    public static ConnectionDelegate AfterHandshake(ConnectionDelegate next) => async connection =>
    {
        connection.Features.Get<DownstreamTlsFeature>()?.OnHandshakeCompleted();
        await next(connection).ConfigureAwait(false);

        // The HTTP server is done with the connection and Kestrel's TLS layer is about to close it: close_notify first,
        // as Envoy's SSL_shutdown does (Kestrel sends none; OpenSSL 3 clients report the bare FIN as a possible cut).
        if (connection.Features.Get<ISslStreamFeature>()?.SslStream is { } ssl)
        {
            try
            {
                await ssl.ShutdownAsync().WaitAsync(CloseNotifyTimeout).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or NotSupportedException or ObjectDisposedException or TimeoutException)
            {
                // The client is gone or the connection broke: nothing to tell it.
            }
        }
    };

    private static ValueTask<SslServerAuthenticationOptions> OnConnection(TlsHandshakeCallbackContext context)
    {
        var feature = context.Connection.Features.Get<DownstreamTlsFeature>()
            ?? throw new InvalidOperationException("a connection reached the TLS endpoint without its filter chain's TLS context");
        return ValueTask.FromResult(feature.Context.CreateOptions(context.ClientHelloInfo.ServerName, feature.OfferedAlpn, feature.Stats));
    }
}
