using System.Collections.Frozen;
using System.Collections.Immutable;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Snapshot;

/// <summary>
/// The compiled, immutable form of one <see cref="ProxyConfig"/>. A request reads <see cref="SnapshotHolder.Current"/>
/// once and uses that snapshot to its end, so a config change never mixes two configs within one request.
/// </summary>
internal sealed class ProxySnapshot
{
    private readonly FrozenDictionary<string, CompiledListener> _listeners;
    private readonly FrozenDictionary<string, ClusterState> _clusters;

    public ProxySnapshot(ProxyConfig config, ImmutableArray<CompiledListener> listeners, FrozenDictionary<string, ClusterState> clusters, long version)
    {
        Config = config;
        Listeners = listeners;
        Version = version;
        _clusters = clusters;
        var byName = new Dictionary<string, CompiledListener>(StringComparer.Ordinal);
        foreach (var listener in listeners)
        {
            byName[listener.Config.Name] = listener;
        }

        _listeners = byName.ToFrozenDictionary(StringComparer.Ordinal);
        CreatedAt = DateTimeOffset.UtcNow;
    }

    public ProxyConfig Config { get; }

    public ImmutableArray<CompiledListener> Listeners { get; }

    public IEnumerable<ClusterState> Clusters => _clusters.Values;

    public long Version { get; }

    public DateTimeOffset CreatedAt { get; }

    public CompiledListener? FindListener(string name) => _listeners.GetValueOrDefault(name);

    public ClusterState? FindCluster(string name) => _clusters.GetValueOrDefault(name);
}

internal sealed class CompiledListener(ListenerConfig config, ImmutableArray<CompiledFilterChain> chains)
{
    public ListenerConfig Config { get; } = config;

    public ImmutableArray<CompiledFilterChain> Chains { get; } = chains;
}

internal sealed class CompiledFilterChain(FilterChainConfig config, CompiledRouteTable? routes)
{
    public FilterChainConfig Config { get; } = config;

    public HttpConnectionManagerConfig? Http => Config.Http;

    /// <summary>The route table; null while an RDS route config has not arrived.</summary>
    public CompiledRouteTable? Routes { get; } = routes;
}
