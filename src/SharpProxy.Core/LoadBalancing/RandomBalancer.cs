using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// Envoy's RANDOM policy: a uniformly random usable host when all weights are equal, otherwise a host chosen with
/// probability proportional to its weight (cumulative weights are precomputed per host set; a pick is one binary search).
/// </summary>
internal sealed class RandomBalancer : LoadBalancer
{
    private readonly HostState[] _hosts;
    private readonly ulong[]? _cumulative; // null when all weights are equal
    private readonly ulong _total;

    public RandomBalancer(IReadOnlyList<HostState> hosts)
    {
        _hosts = [.. hosts];
        var equal = true;
        foreach (var host in _hosts)
        {
            equal &= host.Weight == _hosts[0].Weight;
        }

        if (!equal)
        {
            _cumulative = new ulong[_hosts.Length];
            for (var i = 0; i < _hosts.Length; i++)
            {
                _total += Math.Max(1u, _hosts[i].Weight);
                _cumulative[i] = _total;
            }
        }
    }

    public override HostState? Pick(int worker, ulong? hash, int attempt)
    {
        var hosts = _hosts;
        if (hosts.Length == 0)
        {
            return null;
        }

        // Envoy's random balancer ignores the request hash: every pick is a fresh random value.
        var random = HashBalancing.RandomHash();
        if (_cumulative is null)
        {
            return hosts[(int)(random % (ulong)hosts.Length)];
        }

        var target = random % _total;
        var index = Array.BinarySearch(_cumulative, target + 1);
        return hosts[index >= 0 ? index : ~index];
    }
}
