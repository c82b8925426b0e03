using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Core.Upstream;

/// <summary>
/// A cluster as the data plane runs it: hosts, balancer, circuit breakers, outlier detector, and one connection pool
/// per worker. Reused across snapshots while the cluster's config is unchanged, so its pools, connections and
/// ejections survive config pushes.
/// </summary>
internal sealed class ClusterState : IDisposable
{
    private readonly UpstreamPool?[] _pools;
    private readonly FrozenDictionary<IPEndPoint, HostState> _hostsByEndPoint;
    private readonly ConcurrentDictionary<IPEndPoint, HostState>? _originalDestinationHosts;
    private readonly object _rebuildLock = new();
    private readonly Http1.Http1UpstreamPool?[] _http1Pools;
    private PriorityLoadBalancer _balancer;
    private ClusterState? _adoptedFrom;
    private int _disposed;

    /// <param name="time">Clock for outlier detection (tests pass a fake one).</param>
    /// <param name="outlierDispatch">Where outlier detections run; the thread pool unless a test runs them inline.</param>
    /// <param name="previous">
    /// The state this one replaces (same cluster name, changed config, e.g. an EDS update). As Envoy keeps a cluster's
    /// resource manager and its hosts' outlier state across membership updates, the circuit-breaker counters are shared
    /// when the limits are unchanged, and hosts still present keep their ejection and outlier counters.
    /// </param>
    public ClusterState(ClusterConfig config, IReadOnlyList<HostState> hosts, int workers, string? fingerprint, TimeProvider? time = null, Action<Action>? outlierDispatch = null, ClusterState? previous = null)
    {
        Config = config;
        Hosts = hosts;
        Fingerprint = fingerprint;
        // A rebuilt cluster keeps counting into its predecessor's counters, as Envoy's stats outlive a cluster update.
        Stats = previous?.Stats ?? new ClusterStats();
        _pools = new UpstreamPool?[Math.Max(1, workers)];
        _http1Pools = new Http1.Http1UpstreamPool?[_pools.Length];
        var byEndPoint = new Dictionary<IPEndPoint, HostState>();
        foreach (var host in hosts)
        {
            byEndPoint.TryAdd(host.EndPoint, host);
        }

        _hostsByEndPoint = byEndPoint.ToFrozenDictionary();
        if (config.Type == ClusterDiscoveryType.OriginalDst)
        {
            _originalDestinationHosts = new ConcurrentDictionary<IPEndPoint, HostState>();
        }

        if (config.UpstreamBindAddress is { } bind)
        {
            UpstreamBindEndPoint = new IPEndPoint(IPAddress.Parse(bind), config.UpstreamBindPort);
        }

        Resources = previous is not null && previous.Resources.Limits == config.CircuitBreakers
            ? previous.Resources
            : new ClusterResources(config.CircuitBreakers);
        if (config.OutlierDetection is { } outlier)
        {
            Outlier = new OutlierDetector(this, outlier, time ?? TimeProvider.System, outlierDispatch);
            if (previous?.Outlier is { } previousOutlier)
            {
                Outlier.CarryOver(previousOutlier, previous);
            }
        }

        // Built after the carried-over ejections so the first balancer already leaves ejected hosts out.
        _balancer = LoadBalancerFactory.Create(config, hosts, workers, Stats);
    }

    /// <summary>True for ORIGINAL_DST clusters: the host is the downstream connection's original destination.</summary>
    public bool IsOriginalDestination => _originalDestinationHosts is not null;

    /// <summary>The local address upstream sockets bind before connecting (upstream_bind_config), if any.</summary>
    public IPEndPoint? UpstreamBindEndPoint { get; }

    public ClusterConfig Config { get; }

    public string Name => Config.Name;

    /// <summary>
    /// Canonical text of the config this state was built from; equal text means the state can be reused. Null until a
    /// later compile first compares against it (SnapshotCompiler fills it in then), so a compile with nothing to compare
    /// with, as at start-up, serializes nothing.
    /// </summary>
    public string? Fingerprint { get; set; }

    public IReadOnlyList<HostState> Hosts { get; }

    /// <summary>The current balancer; replaced as a whole when host health changes, read with one volatile read.</summary>
    public PriorityLoadBalancer Balancer => Volatile.Read(ref _balancer);

    public ClusterStats Stats { get; }

    /// <summary>Circuit breakers (DEFAULT priority), shared by all workers.</summary>
    public ClusterResources Resources { get; }

    /// <summary>The outlier detector, when the cluster has outlier_detection.</summary>
    public OutlierDetector? Outlier { get; }

    /// <summary>
    /// Takes a max_retries slot for one retry; false (and upstream_rq_retry_overflow counted) when the cluster already
    /// has max_retries retries in flight — Envoy then gives up retrying (flag UO). Pair with <see cref="ReleaseRetry"/>
    /// when the retried attempt ends.
    /// </summary>
    public bool TryAcquireRetry()
    {
        if (Resources.TryAcquireRetry())
        {
            return true;
        }

        Stats.OnRetryOverflow();
        return false;
    }

    public void ReleaseRetry() => Resources.ReleaseRetry();

    /// <summary>
    /// Rebuilds the balancer (priority loads, panic, rings and tables) from the hosts' current health and swaps it in.
    /// Called off the request path when outlier detection ejects or unejects a host.
    /// </summary>
    public void RebuildBalancer()
    {
        lock (_rebuildLock)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                return;
            }

            Volatile.Write(ref _balancer, LoadBalancerFactory.Create(Config, Hosts, _pools.Length, Stats));
        }
    }

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

    /// <summary>This worker's raw HTTP/1.1 connections (the fast path's pool); created on first use.</summary>
    public Http1.Http1UpstreamPool GetHttp1Pool(int worker)
    {
        var index = (uint)worker < (uint)_http1Pools.Length ? worker : 0;
        var pool = Volatile.Read(ref _http1Pools[index]);
        if (pool is not null)
        {
            return pool;
        }

        var created = new Http1.Http1UpstreamPool(this);
        return Interlocked.CompareExchange(ref _http1Pools[index], created, null) ?? created;
    }

    public HostState? FindHost(IPEndPoint endPoint) => _hostsByEndPoint.GetValueOrDefault(endPoint);

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

    /// <summary>
    /// Canonical text of the config without its endpoints: equal text means a newer state may take over this state's
    /// pools (and their open connections), since only the membership changed. Filled in lazily, as <see cref="Fingerprint"/>.
    /// </summary>
    public string? PoolFingerprint { get; set; }

    /// <summary>
    /// Takes over <paramref name="previous"/>'s pools (HttpClient and HTTP/1.1 fast path), so connections to hosts that
    /// remain survive an EDS update as in Envoy. The previous state keeps using them for requests already in flight and
    /// no longer disposes them. Call only once this state is certain to serve (after the snapshot compiled).
    /// </summary>
    public void AdoptPools(ClusterState previous)
    {
        if (previous.Workers != Workers || Volatile.Read(ref previous._disposed) != 0)
        {
            return;
        }

        _adoptedFrom = previous;
        Adopt(_pools, previous._pools, previous);
        Adopt(_http1Pools, previous._http1Pools, previous);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Outlier?.Dispose();
        DisposeOwned(_pools, _adoptedFrom?._pools);
        DisposeOwned(_http1Pools, _adoptedFrom?._http1Pools);
    }

    private void Adopt<T>(T?[] mine, T?[] theirs, ClusterState previous)
        where T : class, IClusterPool
    {
        for (var i = 0; i < mine.Length; i++)
        {
            if (Volatile.Read(ref theirs[i]) is { } pool && pool.Owner == previous
                && Interlocked.CompareExchange(ref mine[i], pool, null) is null)
            {
                pool.Adopt(this);
            }
        }
    }

    private void DisposeOwned<T>(T?[] pools, T?[]? adoptedFromPools)
        where T : class, IClusterPool
    {
        var from = _adoptedFrom;
        for (var i = 0; i < pools.Length; i++)
        {
            var pool = Interlocked.Exchange(ref pools[i], null);
            if (pool is null || pool.Owner != this)
            {
                // Adopted by a newer state of this cluster, which disposes it.
                continue;
            }

            if (from is not null && adoptedFromPools is not null && Volatile.Read(ref from._disposed) == 0 && Volatile.Read(ref adoptedFromPools[i]) == pool)
            {
                // This state is dropped while the one it adopted from serves again (a refused update was rolled back).
                pool.Adopt(from);
                continue;
            }

            pool.Dispose();
        }
    }
}
