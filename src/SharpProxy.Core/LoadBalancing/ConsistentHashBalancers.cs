using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>Helpers shared by the consistent-hash balancers.</summary>
internal static class HashBalancing
{
    /// <summary>
    /// Envoy's <c>HashingLoadBalancer::hashKey</c>: a non-empty <c>filter_metadata["envoy.lb"]["hash_key"]</c>,
    /// else the address string ("ip:port", "[v6]:port").
    /// </summary>
    public static string HostKey(HostState host)
    {
        var key = host.Config.Metadata.Get("envoy.lb", "hash_key");
        return string.IsNullOrEmpty(key) ? host.Authority : key;
    }

    public static HashHost[] ToHashHosts(HostState[] hosts)
    {
        var result = new HashHost[hosts.Length];
        for (var i = 0; i < hosts.Length; i++)
        {
            result[i] = new HashHost(HostKey(hosts[i]), Math.Max(1u, hosts[i].Weight));
        }

        return result;
    }

    /// <summary>Envoy falls back to <c>random_.random()</c> (a fresh 64-bit value) when no hash policy produced a hash.</summary>
    public static ulong RandomHash() => (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue);
}

/// <summary>
/// Envoy's ring hash ("ketama") balancer: the ring is built once per host set (off the request path) from the given
/// hosts and shared read-only by all workers; a pick is one binary search.
/// </summary>
internal sealed class RingHashBalancer : LoadBalancer
{
    private readonly HostState[] _hosts;
    private readonly RingHashTable _ring;

    public RingHashBalancer(
        IReadOnlyList<HostState> hosts,
        ulong minimumRingSize = RingHashTable.DefaultMinimumRingSize,
        ulong maximumRingSize = RingHashTable.DefaultMaximumRingSize,
        RingHashFunction hashFunction = RingHashFunction.XxHash)
    {
        _hosts = [.. hosts];
        _ring = new RingHashTable(HashBalancing.ToHashHosts(_hosts), minimumRingSize, maximumRingSize, hashFunction);
    }

    /// <summary>Number of points on the ring (for /clusters and tests).</summary>
    public int RingSize => _ring.RingSize;

    public override HostState? Pick(int worker, ulong? hash, int attempt)
    {
        var index = _ring.Pick(hash ?? HashBalancing.RandomHash(), attempt);
        return index < 0 ? null : _hosts[index];
    }
}

/// <summary>
/// Envoy's Maglev balancer: the lookup table is built once per host set from the given hosts; a pick is
/// <c>hash % table_size</c>.
/// </summary>
internal sealed class MaglevBalancer : LoadBalancer
{
    private readonly HostState[] _hosts;
    private readonly MaglevTable _table;

    public MaglevBalancer(IReadOnlyList<HostState> hosts, ulong tableSize = MaglevTable.DefaultTableSize)
    {
        _hosts = [.. hosts];
        _table = new MaglevTable(HashBalancing.ToHashHosts(_hosts), tableSize);
    }

    public ulong TableSize => _table.TableSize;

    public override HostState? Pick(int worker, ulong? hash, int attempt)
    {
        var index = _table.Pick(hash ?? HashBalancing.RandomHash(), attempt);
        return index < 0 ? null : _hosts[index];
    }
}
