using System.Collections.Immutable;

namespace SharpProxy.Core.Configuration;

internal sealed record RouteConfig
{
    public string Name { get; init; } = "";

    public required RouteMatchConfig Match { get; init; }

    /// <summary>Exactly one of <see cref="Forward"/>, <see cref="Redirect"/>, <see cref="DirectResponse"/> is set.</summary>
    public RouteActionConfig? Forward { get; init; }

    public RedirectConfig? Redirect { get; init; }

    public DirectResponseConfig? DirectResponse { get; init; }

    public HeaderMutationConfig Headers { get; init; } = HeaderMutationConfig.Empty;

    /// <summary>typed_per_filter_config for envoy.filters.http.fault: replaces the filter's own config for this route.</summary>
    public FaultConfig? Fault { get; init; }

    /// <summary>typed_per_filter_config for envoy.filters.http.cors (replaces the virtual host's).</summary>
    public CorsPolicyConfig? Cors { get; init; }

    /// <summary>Route `tracing`: sampling that overrides the HCM's for this route.</summary>
    public RouteTracingConfig? Tracing { get; init; }
}

internal enum PathMatchKind
{
    Prefix,
    Path,
    SafeRegex,
    PathSeparatedPrefix,
}

internal sealed record RouteMatchConfig
{
    public PathMatchKind Kind { get; init; }

    /// <summary>The prefix, exact path or regex (RE2 syntax, evaluated with .NET's regex engine).</summary>
    public string Value { get; init; } = "/";

    public bool CaseSensitive { get; init; } = true;

    public ImmutableArray<HeaderMatcherConfig> Headers { get; init; } = [];

    public ImmutableArray<QueryParameterMatcherConfig> QueryParameters { get; init; } = [];

    /// <summary>Envoy's `grpc: {}`: only requests with a gRPC content type match.</summary>
    public bool GrpcOnly { get; init; }
}

internal enum StringMatchKind
{
    Exact,
    Prefix,
    Suffix,
    Contains,
    SafeRegex,
}

internal sealed record StringMatcherConfig(StringMatchKind Kind, string Value, bool IgnoreCase = false);

internal sealed record HeaderMatcherConfig
{
    public required string Name { get; init; }

    /// <summary>Null with <see cref="PresentMatch"/> null and <see cref="Range"/> null means "present".</summary>
    public StringMatcherConfig? StringMatch { get; init; }

    public bool? PresentMatch { get; init; }

    public Int64RangeConfig? Range { get; init; }

    public bool InvertMatch { get; init; }

    public bool TreatMissingHeaderAsEmpty { get; init; }
}

internal readonly record struct Int64RangeConfig(long Start, long End);

internal sealed record QueryParameterMatcherConfig
{
    public required string Name { get; init; }

    /// <summary>Null means "present".</summary>
    public StringMatcherConfig? StringMatch { get; init; }
}

internal sealed record RouteActionConfig
{
    /// <summary>Single cluster; null when <see cref="WeightedClusters"/> is set.</summary>
    public string? Cluster { get; init; }

    public WeightedClustersConfig? WeightedClusters { get; init; }

    /// <summary>503 (Envoy default) or 404 when the named cluster does not exist.</summary>
    public int ClusterNotFoundResponseCode { get; init; } = 503;

    /// <summary>Envoy's default route timeout is 15 s; zero disables it.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan? IdleTimeout { get; init; }

    public string? PrefixRewrite { get; init; }

    public string? HostRewriteLiteral { get; init; }

    public bool? WebSocketUpgrade { get; init; }

    public RetryPolicyConfig? RetryPolicy { get; init; }

    public ImmutableArray<HashPolicyConfig> HashPolicies { get; init; } = [];
}

internal sealed record WeightedClustersConfig
{
    public ImmutableArray<WeightedClusterConfig> Clusters { get; init; } = [];

    /// <summary>Pick the cluster from the route's hash instead of a random value (sticky canary).</summary>
    public bool UseHashPolicy { get; init; }
}

internal sealed record WeightedClusterConfig
{
    public required string Name { get; init; }

    public required uint Weight { get; init; }

    public string? HostRewriteLiteral { get; init; }

    public HeaderMutationConfig Headers { get; init; } = HeaderMutationConfig.Empty;
}

/// <summary>Route or virtual-host <c>retry_policy</c>, Envoy's semantics (router retry state).</summary>
internal sealed record RetryPolicyConfig
{
    /// <summary>Envoy's default retry back-off base interval; the maximum defaults to ten times the base.</summary>
    public static readonly TimeSpan DefaultBaseInterval = TimeSpan.FromMilliseconds(25);

    public RetryOn RetryOn { get; init; }

    /// <summary>Retries after the first try; Envoy's default is 1.</summary>
    public int NumRetries { get; init; } = 1;

    public TimeSpan? PerTryTimeout { get; init; }

    public ImmutableArray<int> RetriableStatusCodes { get; init; } = [];

    public TimeSpan BaseInterval { get; init; } = DefaultBaseInterval;

    public TimeSpan MaxInterval { get; init; } = DefaultBaseInterval * 10;

    /// <summary><c>envoy.retry_host_predicates.previous_hosts</c>: a retry avoids hosts already tried.</summary>
    public bool AvoidPreviousHosts { get; init; }

    /// <summary>How many times host selection is redone when the predicate rejects a host (Envoy's default 1).</summary>
    public int HostSelectionMaxAttempts { get; init; } = 1;
}

/// <summary>The <c>retry_on</c> conditions SharpProxy honours (Envoy's names in <see cref="RetryOnNames"/>).</summary>
[Flags]
internal enum RetryOn
{
    None = 0,
    FiveXx = 1 << 0,
    GatewayError = 1 << 1,
    ConnectFailure = 1 << 2,
    Reset = 1 << 3,
    RefusedStream = 1 << 4,
    Retriable4xx = 1 << 5,
    RetriableStatusCodes = 1 << 6,
    EnvoyRateLimited = 1 << 7,
    GrpcCancelled = 1 << 8,
    GrpcDeadlineExceeded = 1 << 9,
    GrpcResourceExhausted = 1 << 10,
    GrpcUnavailable = 1 << 11,
    GrpcInternal = 1 << 12,

    /// <summary>Accepted because istiod and others send it; SharpProxy has no HTTP/3, so it never fires.</summary>
    Http3PostConnectFailure = 1 << 13,

    AnyGrpc = GrpcCancelled | GrpcDeadlineExceeded | GrpcResourceExhausted | GrpcUnavailable | GrpcInternal,
}

internal static class RetryOnNames
{
    /// <summary>Parses one <c>retry_on</c> token; false for a name Envoy has but SharpProxy does not honour, or an unknown one.</summary>
    public static bool TryParse(string token, out RetryOn value)
    {
        value = token switch
        {
            "5xx" => RetryOn.FiveXx,
            "gateway-error" => RetryOn.GatewayError,
            "connect-failure" => RetryOn.ConnectFailure,
            "reset" => RetryOn.Reset,
            "refused-stream" => RetryOn.RefusedStream,
            "retriable-4xx" => RetryOn.Retriable4xx,
            "retriable-status-codes" => RetryOn.RetriableStatusCodes,
            "envoy-ratelimited" => RetryOn.EnvoyRateLimited,
            "cancelled" => RetryOn.GrpcCancelled,
            "deadline-exceeded" => RetryOn.GrpcDeadlineExceeded,
            "resource-exhausted" => RetryOn.GrpcResourceExhausted,
            "unavailable" => RetryOn.GrpcUnavailable,
            "internal" => RetryOn.GrpcInternal,
            "http3-post-connect-failure" => RetryOn.Http3PostConnectFailure,
            _ => RetryOn.None,
        };
        return value != RetryOn.None;
    }

    public const string Honoured = "5xx, gateway-error, connect-failure, reset, refused-stream, retriable-4xx, retriable-status-codes, "
        + "envoy-ratelimited, cancelled, deadline-exceeded, resource-exhausted, unavailable, internal, http3-post-connect-failure";
}

internal enum HashPolicyKind
{
    Header,
    Cookie,
    SourceIp,
    QueryParameter,
}

internal sealed record HashPolicyConfig
{
    public required HashPolicyKind Kind { get; init; }

    /// <summary>Header, cookie or query parameter name; empty for source IP.</summary>
    public string Name { get; init; } = "";

    public bool Terminal { get; init; }

    public TimeSpan? CookieTtl { get; init; }

    public string? CookiePath { get; init; }

    public ImmutableArray<KeyValuePair<string, string>> CookieAttributes { get; init; } = [];
}

internal sealed record RedirectConfig
{
    public string? Scheme { get; init; }

    public string? Host { get; init; }

    public int? Port { get; init; }

    public string? Path { get; init; }

    public string? PrefixRewrite { get; init; }

    public int ResponseCode { get; init; } = 301;

    public bool StripQuery { get; init; }
}

internal sealed record DirectResponseConfig(int Status, string? Body);
