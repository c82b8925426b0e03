using System.Net;

namespace SharpProxy.Core.Listeners;

/// <summary>
/// What the listener side learned about a downstream connection before HTTP parsing started.
/// Set on the connection's features and visible to every request on it.
/// </summary>
internal sealed class ProxyConnectionFeature
{
    public required string ListenerName { get; init; }

    /// <summary>Index of the filter chain chosen for this connection in the listener config.</summary>
    public required int FilterChainIndex { get; init; }

    /// <summary>The worker owning this connection for its life; selects the upstream pools it uses.</summary>
    public required int Worker { get; init; }

    /// <summary>Destination as the client addressed it (the original destination when the connection was redirected).</summary>
    public required IPEndPoint DestinationEndPoint { get; init; }

    public required IPEndPoint? RemoteEndPoint { get; init; }

    /// <summary>The SNI of the client's TLS hello (Envoy's requested server name, %REQUESTED_SERVER_NAME%); null without one.</summary>
    public string? RequestedServerName { get; init; }

    /// <summary>
    /// The listener as compiled when the connection was accepted: it keeps serving the connection's requests on that
    /// config while the listener drains after leaving the config (Envoy's draining listener).
    /// </summary>
    public Snapshot.CompiledListener? AcceptedListener { get; init; }
}
