using System.Collections.Immutable;

namespace SharpProxy.Core.Configuration;

internal enum ClusterDiscoveryType
{
    Static,
    StrictDns,
    Eds,
    OriginalDst,
}

internal enum LbPolicyKind
{
    RoundRobin,
    LeastRequest,
    Random,
    RingHash,
    Maglev,

    /// <summary>The cluster type picks the host itself (ORIGINAL_DST: the connection's original destination).</summary>
    ClusterProvided,
}

internal enum UpstreamProtocol
{
    Http1,
    Http2,

    /// <summary>Envoy's use_downstream_protocol_config: HTTP/2 upstream when the downstream request was HTTP/2.</summary>
    UseDownstream,
}

/// <summary>Envoy's core.v3.HealthStatus.</summary>
internal enum EndpointHealthStatus
{
    Unknown,
    Healthy,
    Unhealthy,
    Draining,
    Timeout,
    Degraded,
}

internal sealed record ClusterConfig
{
    public required string Name { get; init; }

    public ClusterDiscoveryType Type { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public LbPolicyKind LbPolicy { get; init; }

    /// <summary>RING_HASH <c>minimum_ring_size</c> (Envoy default 1024).</summary>
    public ulong RingMinimumSize { get; init; } = 1024;

    /// <summary>RING_HASH <c>maximum_ring_size</c> (Envoy default 8388608).</summary>
    public ulong RingMaximumSize { get; init; } = 8 * 1024 * 1024;

    /// <summary>RING_HASH <c>hash_function</c>.</summary>
    public LoadBalancing.RingHashFunction RingHashFunction { get; init; }

    /// <summary>MAGLEV <c>table_size</c> (Envoy default 65537; must be prime).</summary>
    public ulong MaglevTableSize { get; init; } = 65537;

    /// <summary>LEAST_REQUEST <c>choice_count</c> (Envoy default 2).</summary>
    public int LeastRequestChoiceCount { get; init; } = 2;

    /// <summary><c>common_lb_config.healthy_panic_threshold</c> in whole percent (Envoy default 50; 0 disables panic).</summary>
    public int HealthyPanicThreshold { get; init; } = 50;

    /// <summary><c>outlier_detection</c>; null when the cluster has none.</summary>
    public OutlierDetectionConfig? OutlierDetection { get; init; }

    /// <summary><c>circuit_breakers</c> thresholds for the DEFAULT routing priority (Envoy's defaults when absent).</summary>
    public CircuitBreakerThresholds CircuitBreakers { get; init; } = CircuitBreakerThresholds.Default;

    /// <summary><c>circuit_breakers</c> thresholds for the HIGH routing priority. No route sets priority HIGH here, so they limit nothing.</summary>
    public CircuitBreakerThresholds HighPriorityCircuitBreakers { get; init; } = CircuitBreakerThresholds.Default;

    public UpstreamProtocol Protocol { get; init; }

    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>EDS service name (defaults to the cluster name) when <see cref="Type"/> is EDS.</summary>
    public string? EdsServiceName { get; init; }

    public ImmutableArray<EndpointConfig> Endpoints { get; init; } = [];

    public MetadataConfig Metadata { get; init; } = MetadataConfig.Empty;

    /// <summary>
    /// upstream_bind_config.source_address: upstream sockets bind this IP (and port, 0 = any) before connecting. Istio's
    /// inbound clusters use 127.0.0.6 so the application's replies are not captured again.
    /// </summary>
    public string? UpstreamBindAddress { get; init; }

    public int UpstreamBindPort { get; init; }

    /// <summary>transport_socket envoy.transport_sockets.tls; null = plaintext.</summary>
    public UpstreamTlsConfig? Tls { get; init; }

    /// <summary>transport_socket_matches: per-endpoint choice by its envoy.transport_socket_match metadata (first match wins).</summary>
    public ImmutableArray<TransportSocketMatchConfig> TransportSocketMatches { get; init; } = [];
}

/// <summary>Envoy's <c>OutlierDetection</c> (consecutive-error detectors); defaults are Envoy's.</summary>
internal sealed record OutlierDetectionConfig
{
    public int Consecutive5xx { get; init; } = 5;

    public int ConsecutiveGatewayFailure { get; init; } = 5;

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan BaseEjectionTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Envoy: when unset, the larger of 300 s and <see cref="BaseEjectionTime"/>.</summary>
    public TimeSpan MaxEjectionTime { get; init; } = TimeSpan.FromSeconds(300);

    public int MaxEjectionPercent { get; init; } = 10;

    /// <summary>Percent chance that a consecutive-5xx detection ejects (Envoy default 100).</summary>
    public int EnforcingConsecutive5xx { get; init; } = 100;

    /// <summary>Percent chance that a consecutive-gateway-failure detection ejects (Envoy default 0: detected, not enforced).</summary>
    public int EnforcingConsecutiveGatewayFailure { get; init; }

    /// <summary>Percent chance that a success-rate detection ejects (Envoy default 100: on whenever outlier_detection is set).</summary>
    public int EnforcingSuccessRate { get; init; } = 100;

    public int SuccessRateMinimumHosts { get; init; } = 5;

    public long SuccessRateRequestVolume { get; init; } = 100;

    /// <summary>Thousandths: 1900 means mean - 1.9 * stdev.</summary>
    public int SuccessRateStdevFactor { get; init; } = 1900;

    public int FailurePercentageThreshold { get; init; } = 85;

    /// <summary>Percent chance that a failure-percentage detection ejects (Envoy default 0).</summary>
    public int EnforcingFailurePercentage { get; init; }

    public int FailurePercentageMinimumHosts { get; init; } = 5;

    public long FailurePercentageRequestVolume { get; init; } = 50;
}

/// <summary>One <c>circuit_breakers.thresholds</c> entry; defaults are Envoy's.</summary>
internal sealed record CircuitBreakerThresholds
{
    public static readonly CircuitBreakerThresholds Default = new();

    public long MaxConnections { get; init; } = 1024;

    public long MaxPendingRequests { get; init; } = 1024;

    public long MaxRequests { get; init; } = 1024;

    public long MaxRetries { get; init; } = 3;
}

internal sealed record EndpointConfig
{
    /// <summary>An IP literal for STATIC/EDS, a DNS name for STRICT_DNS.</summary>
    public required string Address { get; init; }

    public required int Port { get; init; }

    public string? Hostname { get; init; }

    public uint Weight { get; init; } = 1;

    public int Priority { get; init; }

    public EndpointHealthStatus Health { get; init; }

    public MetadataConfig Metadata { get; init; } = MetadataConfig.Empty;
}

/// <summary>
/// Envoy's filter_metadata: filter name -> key -> value. Scalars are kept as their text; nested structs as JSON text.
/// </summary>
internal sealed record MetadataConfig(ImmutableDictionary<string, ImmutableDictionary<string, string>> Filters)
{
    public static readonly MetadataConfig Empty = new(ImmutableDictionary<string, ImmutableDictionary<string, string>>.Empty);

    public string? Get(string filter, string key) =>
        Filters.TryGetValue(filter, out var values) && values.TryGetValue(key, out var value) ? value : null;
}
