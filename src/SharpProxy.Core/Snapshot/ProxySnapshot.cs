using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Net;
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
    private readonly FrozenDictionary<IPEndPoint, CompiledListener> _listenersByAddress;

    public ProxySnapshot(ProxyConfig config, ImmutableArray<CompiledListener> listeners, FrozenDictionary<string, ClusterState> clusters, long version)
    {
        Config = config;
        Listeners = listeners;
        Version = version;
        _clusters = clusters;
        var byName = new Dictionary<string, CompiledListener>(StringComparer.Ordinal);
        var byAddress = new Dictionary<IPEndPoint, CompiledListener>();
        foreach (var listener in listeners)
        {
            byName[listener.Config.Name] = listener;
            if (IPAddress.TryParse(listener.Config.Address, out var ip))
            {
                // The first listener on an address wins, as the bind of a second one would fail.
                byAddress.TryAdd(new IPEndPoint(ip, listener.Config.Port), listener);
            }
        }

        _listeners = byName.ToFrozenDictionary(StringComparer.Ordinal);
        _listenersByAddress = byAddress.ToFrozenDictionary();
        CreatedAt = DateTimeOffset.UtcNow;
    }

    public ProxyConfig Config { get; }

    public ImmutableArray<CompiledListener> Listeners { get; }

    public IEnumerable<ClusterState> Clusters => _clusters.Values;

    public long Version { get; }

    public DateTimeOffset CreatedAt { get; }

    public CompiledListener? FindListener(string name) => _listeners.GetValueOrDefault(name);

    public ClusterState? FindCluster(string name) => _clusters.GetValueOrDefault(name);

    /// <summary>
    /// Envoy's hand-off lookup for a restored original destination: the listener on exactly ip:port, else the one on the
    /// wildcard address of the same family (for IPv4 also [::]), else null (the accepting listener keeps the connection).
    /// </summary>
    public CompiledListener? FindListenerForDestination(IPEndPoint destination)
    {
        var address = destination.Address.IsIPv4MappedToIPv6 ? destination.Address.MapToIPv4() : destination.Address;
        var port = destination.Port;
        if (_listenersByAddress.TryGetValue(new IPEndPoint(address, port), out var exact))
        {
            return exact;
        }

        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            && _listenersByAddress.TryGetValue(new IPEndPoint(IPAddress.Any, port), out var any))
        {
            return any;
        }

        return _listenersByAddress.TryGetValue(new IPEndPoint(IPAddress.IPv6Any, port), out var any6) ? any6 : null;
    }
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

    // 0 = not computed yet, 1 = yes, 2 = no (a benign race computes it twice).
    private int _routesAvoidHttp2Clusters;

    /// <summary>
    /// Whether no route of this chain leads to an HTTP/2 cluster (whose responses may carry trailers): only then may an
    /// HTTP/2 connection be served on the fast path, through the HTTP/1.1 bridge.
    /// </summary>
    public bool RoutesAvoidHttp2Clusters(ProxySnapshot snapshot)
    {
        if (_routesAvoidHttp2Clusters == 0)
        {
            _routesAvoidHttp2Clusters = Routes is { } routes && !ReferencesHttp2Cluster(routes.Config, snapshot) ? 1 : 2;
        }

        return _routesAvoidHttp2Clusters == 1;
    }

    private static bool ReferencesHttp2Cluster(RouteTableConfig table, ProxySnapshot snapshot)
    {
        foreach (var vhost in table.VirtualHosts)
        {
            foreach (var route in vhost.Routes)
            {
                if (route.Forward is not { } action)
                {
                    continue;
                }

                if (action.Cluster is { } name && IsHttp2(name, snapshot))
                {
                    return true;
                }

                if (action.WeightedClusters is { } weighted)
                {
                    foreach (var entry in weighted.Clusters)
                    {
                        if (IsHttp2(entry.Name, snapshot))
                        {
                            return true;
                        }
                    }
                }
            }
        }

        return false;
    }

    private static bool IsHttp2(string cluster, ProxySnapshot snapshot) =>
        snapshot.FindCluster(cluster)?.Config.Protocol == Configuration.UpstreamProtocol.Http2;
}
