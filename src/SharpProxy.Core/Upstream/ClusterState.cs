using System.Collections.Frozen;
using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Core.Upstream;

/// <summary>
/// A cluster as the data plane runs it: hosts, balancer, and one connection pool per worker.
/// Reused across snapshots while the cluster's config is unchanged, so its pools and connections survive config pushes.
/// </summary>
internal sealed class ClusterState : IDisposable
{
    private readonly UpstreamPool?[] _pools;
    private readonly FrozenDictionary<IPEndPoint, HostState> _hostsByEndPoint;
    private int _disposed;

    public ClusterState(ClusterConfig config, IReadOnlyList<HostState> hosts, int workers, string fingerprint)
    {
        Config = config;
        Hosts = hosts;
        Fingerprint = fingerprint;
        _pools = new UpstreamPool?[Math.Max(1, workers)];
        var byEndPoint = new Dictionary<IPEndPoint, HostState>();
        foreach (var host in hosts)
        {
            byEndPoint.TryAdd(host.EndPoint, host);
        }

        _hostsByEndPoint = byEndPoint.ToFrozenDictionary();
        Balancer = LoadBalancerFactory.Create(config, hosts, workers);
    }

    public ClusterConfig Config { get; }

    public string Name => Config.Name;

    /// <summary>Canonical text of the config this state was built from; equal text means the state can be reused.</summary>
    public string Fingerprint { get; }

    public IReadOnlyList<HostState> Hosts { get; }

    public LoadBalancer Balancer { get; }

    public ClusterStats Stats { get; } = new();

    public int Workers => _pools.Length;

    /// <summary>This worker's pool; created on first use so idle workers hold no connections.</summary>
    public UpstreamPool GetPool(int worker)
    {
        var index = (uint)worker < (uint)_pools.Length ? worker : 0;
        var pool = Volatile.Read(ref _pools[index]);
        if (pool is not null)
        {
            return pool;
        }

        var created = new UpstreamPool(this);
        var existing = Interlocked.CompareExchange(ref _pools[index], created, null);
        if (existing is not null)
        {
            created.Dispose();
            return existing;
        }

        return created;
    }

    public HostState? FindHost(string address, int port)
    {
        if (address.Length > 2 && address[0] == '[')
        {
            address = address[1..^1];
        }

        return IPAddress.TryParse(address, out var ip) && _hostsByEndPoint.TryGetValue(new IPEndPoint(ip, port), out var host) ? host : null;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        for (var i = 0; i < _pools.Length; i++)
        {
            Interlocked.Exchange(ref _pools[i], null)?.Dispose();
        }
    }
}
