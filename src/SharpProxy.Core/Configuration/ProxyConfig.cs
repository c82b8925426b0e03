using System.Collections.Immutable;

namespace SharpProxy.Core.Configuration;

/// <summary>
/// Everything the data plane needs, already validated and translated from Envoy's bootstrap or xDS.
/// Immutable: a config change produces a new instance and a new compiled snapshot.
/// </summary>
internal sealed record ProxyConfig
{
    public AdminConfig? Admin { get; init; }

    public NodeConfig Node { get; init; } = new();

    public ImmutableArray<ListenerConfig> Listeners { get; init; } = [];

    public ImmutableArray<ClusterConfig> Clusters { get; init; } = [];
}

internal sealed record NodeConfig
{
    public string Id { get; init; } = "";

    public string Cluster { get; init; } = "";
}

internal sealed record AdminConfig(string Address, int Port);
