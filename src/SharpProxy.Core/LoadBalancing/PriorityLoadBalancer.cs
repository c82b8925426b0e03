using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// One priority level's balancers, built from the level's hosts as they were when the host set was last rebuilt.
/// </summary>
/// <param name="Healthy">Over the healthy, non-ejected hosts (null when there are none).</param>
/// <param name="Degraded">Over the degraded, non-ejected hosts (null when there are none, and always for hash balancers).</param>
/// <param name="All">Over every host of the level, used when the level is in panic (null otherwise).</param>
internal sealed record PriorityLevelBalancers(LoadBalancer? Healthy, LoadBalancer? Degraded, LoadBalancer? All);

/// <summary>
/// The cluster's balancer: Envoy's priority choice (<see cref="PriorityLoad"/>) in front of the per-level balancers.
/// Immutable; when host health changes the cluster builds a new one and swaps it in, so a pick takes no lock.
/// With one level that takes all the load and is not in panic, a pick goes straight to that level's balancer.
/// </summary>
internal sealed class PriorityLoadBalancer : LoadBalancer
{
    private readonly PriorityLevelBalancers[] _levels;
    private readonly LoadBalancer? _direct;
    private readonly bool _hashAware;
    private readonly ClusterStats? _stats;

    public PriorityLoadBalancer(PriorityLoad load, PriorityLevelBalancers[] levels, bool hashAware, ClusterStats? stats)
    {
        Load = load;
        _levels = levels;
        _hashAware = hashAware;
        _stats = stats;
        for (var i = 0; i < levels.Length; i++)
        {
            if (load.HealthyLoad[i] == 100 && !load.Panic[i])
            {
                _direct = levels[i].Healthy;
                DirectLevel = i;
            }
        }
    }

    public PriorityLoad Load { get; }

    /// <summary>The level that takes all the load without panic, or -1 when picks go through the priority choice.</summary>
    public int DirectLevel { get; } = -1;

    /// <summary>The balancer of one level's healthy hosts (for /clusters: ring and table sizes).</summary>
    public LoadBalancer? LevelBalancer(int priority) =>
        (uint)priority < (uint)_levels.Length ? _levels[priority].Healthy ?? _levels[priority].All : null;

    public override HostState? Pick(int worker, ulong? hash, int attempt)
    {
        if (DirectLevel >= 0)
        {
            return _direct?.Pick(worker, hash, attempt);
        }

        // Hash balancers choose the priority with the request hash (or one random value used for both choices, as
        // Envoy's thread-aware balancers do); the others with a fresh random value.
        var random = _hashAware ? hash ?? HashBalancing.RandomHash() : HashBalancing.RandomHash();
        var priority = Load.ChoosePriority(random, out var degraded);
        var level = _levels[priority];
        LoadBalancer? balancer;
        if (Load.Panic[priority])
        {
            _stats?.OnHealthyPanic();
            balancer = level.All;
        }
        else
        {
            balancer = degraded && !_hashAware ? level.Degraded : level.Healthy;
        }

        return balancer?.Pick(worker, _hashAware ? random : hash, attempt);
    }
}
