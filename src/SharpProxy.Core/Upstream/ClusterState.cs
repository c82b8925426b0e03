using System.Collections.Concurrent;
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
    private readonly ConcurrentDictionary<IPEndPoint, HostState>? _originalDestinationHosts;
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
        if (config.Type == ClusterDiscoveryType.OriginalDst)
        {
            _originalDestinationHosts = new ConcurrentDictionary<IPEndPoint, HostState>();
        }

        if (config.UpstreamBindAddress is { } bind)
        {
            UpstreamBindEndPoint = new IPEndPoint(IPAddress.Parse(bind), config.UpstreamBindPort);
        }
    }

    /// <summary>True for ORIGINAL_DST clusters: the host is the downstream connection's original destination.</summary>
    public bool IsOriginalDestination => _originalDestinationHosts is not null;

    /// <summary>The local address upstream sockets bind before connecting (upstream_bind_config), if any.</summary>
    public IPEndPoint? UpstreamBindEndPoint { get; }

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

        if (!IPAddress.TryParse(address, out var ip))
        {
            return null;
        }

        var endPoint = new IPEndPoint(ip, port);
        if (_hostsByEndPoint.TryGetValue(endPoint, out var host))
        {
            return host;
        }

        return _originalDestinationHosts is not null && _originalDestinationHosts.TryGetValue(endPoint, out host) ? host : null;
    }

    /// <summary>
    /// ORIGINAL_DST: the host for a connection's original destination, created on first use. Hosts carry only counters,
    /// so the map is simply reset when it grows past a bound instead of Envoy's timed cleanup of unused hosts.
    /// </summary>
    public HostState GetOriginalDestinationHost(IPEndPoint destination)
    {
        var hosts = _originalDestinationHosts ?? throw new InvalidOperationException($"cluster '{Name}' is not an ORIGINAL_DST cluster");
        if (destination.Address.IsIPv4MappedToIPv6)
        {
            destination = new IPEndPoint(destination.Address.MapToIPv4(), destination.Port);
        }

        if (hosts.TryGetValue(destination, out var host))
        {
            return host;
        }

        if (hosts.Count >= MaxOriginalDestinationHosts)
        {
            hosts.Clear();
        }

        var created = new HostState(new EndpointConfig { Address = destination.Address.ToString(), Port = destination.Port }, destination);
        return hosts.GetOrAdd(destination, created);
    }

    private const int MaxOriginalDestinationHosts = 4096;

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
