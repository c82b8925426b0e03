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

internal sealed record RetryPolicyConfig
{
    public string RetryOn { get; init; } = "";

    public int NumRetries { get; init; } = 1;

    public TimeSpan? PerTryTimeout { get; init; }

    public ImmutableArray<int> RetriableStatusCodes { get; init; } = [];
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
