using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// Envoy's LEAST_REQUEST policy. With equal weights: power of <c>choice_count</c> choices — draw that many hosts at
/// random (with replacement, as Envoy does) and keep the one with the fewest active requests (the first drawn wins a tie).
/// With unequal weights Envoy switches to weighted scheduling with effective weight
/// <c>weight / (active_requests + 1)^active_request_bias</c> (bias default 1.0); this picks a host at random with
/// probability proportional to that effective weight, evaluated at pick time.
/// </summary>
internal sealed class LeastRequestBalancer : LoadBalancer
{
    public const int DefaultChoiceCount = 2;

    private readonly HostState[] _hosts;
    private readonly int _choiceCount;
    private readonly bool _weighted;

    public LeastRequestBalancer(IReadOnlyList<HostState> hosts, int choiceCount = DefaultChoiceCount)
    {
        _hosts = [.. hosts];
        _choiceCount = Math.Max(2, choiceCount);
        foreach (var host in _hosts)
        {
            _weighted |= host.Weight != _hosts[0].Weight;
        }
    }

    public int ChoiceCount => _choiceCount;

    public bool IsWeighted => _weighted;

    public override HostState? Pick(int worker, ulong? hash, int attempt)
    {
        var hosts = _hosts;
        if (hosts.Length == 0)
        {
            return null;
        }

        if (hosts.Length == 1)
        {
            return hosts[0];
        }

        return _weighted ? PickWeighted(hosts) : PickPowerOfChoices(hosts, _choiceCount);
    }

    private static HostState PickPowerOfChoices(HostState[] hosts, int choices)
    {
        HostState? best = null;
        var bestActive = long.MaxValue;
        for (var i = 0; i < choices; i++)
        {
            var candidate = hosts[Random.Shared.Next(hosts.Length)];
            var active = candidate.ActiveRequests;
            if (active < bestActive)
            {
                best = candidate;
                bestActive = active;
            }
        }

        return best!;
    }

    private static HostState PickWeighted(HostState[] hosts)
    {
        var total = 0.0;
        foreach (var host in hosts)
        {
            total += EffectiveWeight(host);
        }

        var target = Random.Shared.NextDouble() * total;
        foreach (var host in hosts)
        {
            target -= EffectiveWeight(host);
            if (target < 0)
            {
                return host;
            }
        }

        return hosts[^1];
    }

    private static double EffectiveWeight(HostState host) => Math.Max(1u, host.Weight) / (double)(Math.Max(0, host.ActiveRequests) + 1);
}
