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

    /// <summary>The bootstrap's tracer (tracing.http); null when the bootstrap has none.</summary>
    public TracerConfig? Tracer { get; init; }
}

internal sealed record NodeConfig
{
    public string Id { get; init; } = "";

    public string Cluster { get; init; } = "";

    /// <summary>
    /// node.metadata: top-level key -> value; strings as they are, other scalars as their text, structs and lists as JSON
    /// (Istio's pilot-agent puts the workload identity here: NAME, NAMESPACE, WORKLOAD_NAME, LABELS, CLUSTER_ID, MESH_ID).
    /// </summary>
    public ImmutableDictionary<string, string> Metadata { get; init; } = ImmutableDictionary<string, string>.Empty;
}

internal sealed record AdminConfig(string Address, int Port);
