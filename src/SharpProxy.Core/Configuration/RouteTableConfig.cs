using System.Collections.Immutable;

namespace SharpProxy.Core.Configuration;

internal sealed record RouteTableConfig
{
    public string Name { get; init; } = "";

    public ImmutableArray<VirtualHostConfig> VirtualHosts { get; init; } = [];

    public HeaderMutationConfig Headers { get; init; } = HeaderMutationConfig.Empty;

    public bool MostSpecificHeaderMutationsWins { get; init; }

    /// <summary>Envoy's ignore_port_in_host_matching: the authority's port is dropped for virtual host selection only.</summary>
    public bool IgnorePortInHostMatching { get; init; }
}

internal sealed record VirtualHostConfig
{
    public required string Name { get; init; }

    public ImmutableArray<string> Domains { get; init; } = [];

    public ImmutableArray<RouteConfig> Routes { get; init; } = [];

    public HeaderMutationConfig Headers { get; init; } = HeaderMutationConfig.Empty;

    /// <summary>typed_per_filter_config for envoy.filters.http.fault, for routes without their own.</summary>
    public FaultConfig? Fault { get; init; }

    /// <summary>typed_per_filter_config for envoy.filters.http.cors, for routes without their own.</summary>
    public CorsPolicyConfig? Cors { get; init; }

    /// <summary>Used by routes without their own retry policy (Envoy: the route's policy replaces the virtual host's).</summary>
    public RetryPolicyConfig? RetryPolicy { get; init; }
}

/// <summary>Request and response header additions and removals at one level (route config, virtual host, route, weighted cluster).</summary>
internal sealed record HeaderMutationConfig
{
    public static readonly HeaderMutationConfig Empty = new();

    public ImmutableArray<HeaderValueOptionConfig> RequestHeadersToAdd { get; init; } = [];

    public ImmutableArray<string> RequestHeadersToRemove { get; init; } = [];

    public ImmutableArray<HeaderValueOptionConfig> ResponseHeadersToAdd { get; init; } = [];

    public ImmutableArray<string> ResponseHeadersToRemove { get; init; } = [];

    public bool IsEmpty => RequestHeadersToAdd.IsEmpty && RequestHeadersToRemove.IsEmpty && ResponseHeadersToAdd.IsEmpty && ResponseHeadersToRemove.IsEmpty;
}

/// <summary>Envoy's HeaderValueOption.HeaderAppendAction.</summary>
internal enum HeaderAppendAction
{
    AppendIfExistsOrAdd,
    AddIfAbsent,
    OverwriteIfExistsOrAdd,
    OverwriteIfExists,
}

internal sealed record HeaderValueOptionConfig(string Name, string Value, HeaderAppendAction Action, bool KeepEmptyValue = false);
