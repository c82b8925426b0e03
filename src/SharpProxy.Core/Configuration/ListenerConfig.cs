using System.Collections.Immutable;
using System.Net;

namespace SharpProxy.Core.Configuration;

internal sealed record ListenerConfig
{
    public required string Name { get; init; }

    public required string Address { get; init; }

    public required int Port { get; init; }

    /// <summary>Envoy's traffic_direction; Istio's metrics take their <c>reporter</c> label from it.</summary>
    public TrafficDirection Direction { get; init; }

    public ImmutableArray<FilterChainConfig> FilterChains { get; init; } = [];

    /// <summary>
    /// Envoy's bind_to_port: false makes the listener a hand-off target only (Istio's per-port outbound listeners),
    /// reached through a <see cref="HandOffToOriginalDestination"/> listener, never bound itself.
    /// </summary>
    public bool BindToPort { get; init; } = true;

    /// <summary>
    /// The envoy.filters.listener.original_dst listener filter (or use_original_dst): chain selection and ORIGINAL_DST
    /// clusters see the destination the connection had before an iptables/nftables REDIRECT.
    /// </summary>
    public bool RestoreOriginalDestination { get; init; }

    /// <summary>
    /// Envoy's use_original_dst: a restored connection is handed to the listener bound to its original ip:port
    /// (else 0.0.0.0:port / [::]:port), and stays on this listener's own chains when there is none.
    /// </summary>
    public bool HandOffToOriginalDestination { get; init; }

    /// <summary>
    /// The envoy.filters.listener.tls_inspector listener filter is configured (transport protocol "tls", SNI and ALPN
    /// for chain selection). Recorded here; the TLS work peeks the ClientHello when it is set.
    /// </summary>
    public bool TlsInspector { get; init; }

    /// <summary>The envoy.filters.listener.http_inspector listener filter (sniff HTTP/1.x vs h2c for application_protocols).</summary>
    public bool HttpInspector { get; init; }

    /// <summary>Envoy's listener_filters_timeout; null or zero = no timeout.</summary>
    public TimeSpan? ListenerFiltersTimeout { get; init; }

    /// <summary>Envoy's continue_on_listener_filters_timeout.</summary>
    public bool ContinueOnListenerFiltersTimeout { get; init; }

    /// <summary>
    /// Envoy's tls_inspector: the ClientHello is peeked before the chain is chosen (SNI, ALPN, transport protocol "tls").
    /// Set by the listener filter, and whenever a chain matches on server_names or transport_protocol "tls".
    /// </summary>
    public bool InspectTls { get; init; }
}

/// <summary>Envoy's core.v3.TrafficDirection.</summary>
internal enum TrafficDirection
{
    Unspecified,
    Inbound,
    Outbound,
}

/// <summary>Envoy's filter_chain_match subset. A null field matches anything.</summary>
internal sealed record FilterChainMatchConfig
{
    public int? DestinationPort { get; init; }

    public ImmutableArray<CidrRange> PrefixRanges { get; init; } = [];

    public ImmutableArray<string> ServerNames { get; init; } = [];

    public string? TransportProtocol { get; init; }

    public ImmutableArray<string> ApplicationProtocols { get; init; } = [];
}

internal readonly record struct CidrRange(IPAddress Prefix, int Length);

internal sealed record FilterChainConfig
{
    public string Name { get; init; } = "";

    public FilterChainMatchConfig Match { get; init; } = new();

    /// <summary>The HTTP connection manager, when this chain terminates HTTP.</summary>
    public HttpConnectionManagerConfig? Http { get; init; }

    /// <summary>The TCP proxy, when this chain relays bytes (exactly one of Http and TcpProxy is set).</summary>
    public TcpProxyConfig? TcpProxy { get; init; }

    /// <summary>
    /// Envoy's default_filter_chain: kept last in the listener's chains, never matched by criteria, used only when no
    /// other chain matches.
    /// </summary>
    public bool IsDefault { get; init; }

    /// <summary>transport_socket envoy.transport_sockets.tls: the chain terminates TLS; null = raw_buffer (plaintext or passthrough).</summary>
    public DownstreamTlsConfig? Tls { get; init; }
}

/// <summary>envoy.filters.network.tcp_proxy: relay the connection's bytes both ways to one upstream host.</summary>
internal sealed record TcpProxyConfig
{
    /// <summary>Envoy's default idle_timeout (1 hour); zero disables it.</summary>
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromHours(1);

    public required string StatPrefix { get; init; }

    /// <summary>The cluster, unless <see cref="WeightedClusters"/> picks one per connection.</summary>
    public string? Cluster { get; init; }

    public WeightedClustersConfig? WeightedClusters { get; init; }

    /// <summary>No byte either way for this long closes both sides; <see cref="TimeSpan.Zero"/> = never.</summary>
    public TimeSpan IdleTimeout { get; init; } = DefaultIdleTimeout;

    /// <summary>Upstream connect attempts before the downstream is closed (Envoy default 1).</summary>
    public int MaxConnectAttempts { get; init; } = 1;
}

internal enum CodecType
{
    Auto,
    Http1,
    Http2,
}

internal sealed record HttpConnectionManagerConfig
{
    public required string StatPrefix { get; init; }

    public CodecType Codec { get; init; }

    /// <summary>Inline route table; null while it comes from RDS under <see cref="RdsRouteConfigName"/>.</summary>
    public RouteTableConfig? RouteConfig { get; init; }

    public string? RdsRouteConfigName { get; init; }

    public string? ServerName { get; init; }

    public bool UseRemoteAddress { get; init; }

    public bool SkipXffAppend { get; init; }

    public bool GenerateRequestId { get; init; } = true;

    public bool PreserveExternalRequestId { get; init; }

    public bool StripAnyHostPort { get; init; }

    public bool StripMatchingHostPort { get; init; }

    public bool WebSocketUpgradeEnabled { get; init; }

    public ImmutableArray<AccessLogConfig> AccessLogs { get; init; } = [];

    /// <summary>HCM `tracing`; requests are traced only when it is set and a tracer is configured.</summary>
    public HttpTracingConfig? Tracing { get; init; }

    public TimeSpan? StreamIdleTimeout { get; init; }

    public TimeSpan? RequestTimeout { get; init; }

    /// <summary>The fault filter's own config when the chain has envoy.filters.http.fault (routes may override it); null without the filter.</summary>
    public FaultConfig? FaultFilter { get; init; }

    /// <summary>The chain has envoy.filters.http.cors: route / virtual host CORS policies apply (before the fault filter).</summary>
    public bool CorsFilter { get; init; }

    /// <summary>normalize_path: RFC 3986 dot segments are removed from the path before routing and forwarding.</summary>
    public bool NormalizePath { get; init; }

    /// <summary>
    /// x-forwarded-client-cert is removed from requests. Envoy removes it on every connection without a client
    /// certificate unless forward_client_cert_details is ALWAYS_FORWARD_ONLY; SharpProxy has no downstream TLS yet.
    /// </summary>
    public bool SanitizeForwardedClientCert { get; init; }
}

internal enum AccessLogTarget
{
    Stdout,
    Stderr,
    File,
}

/// <summary>An HCM access log and its compiled format (Envoy's default unless log_format says otherwise).</summary>
internal sealed record AccessLogConfig(AccessLogTarget Target, string? Path)
{
    public Telemetry.AccessLog.AccessLogFormat Format { get; init; } = Telemetry.AccessLog.AccessLogFormat.EnvoyDefault;
}
