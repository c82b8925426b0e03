using System.Collections.Immutable;
using System.Net;

namespace SharpProxy.Core.Configuration;

internal sealed record ListenerConfig
{
    public required string Name { get; init; }

    public required string Address { get; init; }

    public required int Port { get; init; }

    public ImmutableArray<FilterChainConfig> FilterChains { get; init; } = [];
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

    public TimeSpan? StreamIdleTimeout { get; init; }

    public TimeSpan? RequestTimeout { get; init; }

    /// <summary>The fault filter's own config when the chain has envoy.filters.http.fault (routes may override it); null without the filter.</summary>
    public FaultConfig? FaultFilter { get; init; }
}

internal enum AccessLogTarget
{
    Stdout,
    Stderr,
    File,
}

/// <summary>An HCM access log; entries use Envoy's default format.</summary>
internal sealed record AccessLogConfig(AccessLogTarget Target, string? Path);
