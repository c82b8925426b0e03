using SharpProxy.Core.Configuration;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

internal static class LoadBalancerFactory
{
    /// <summary>
    /// Builds the cluster's balancer from the hosts' current health (endpoint health_status and outlier ejection):
    /// Envoy's priority loads and panic per level, and one balancer per level and host source.
    /// </summary>
    public static PriorityLoadBalancer Create(ClusterConfig config, IReadOnlyList<HostState> hosts, int workers, ClusterStats? stats = null)
    {
        var levelCount = 1;
        foreach (var host in hosts)
        {
            levelCount = Math.Max(levelCount, host.Config.Priority + 1);
        }

        var all = new List<HostState>[levelCount];
        var healthy = new List<HostState>[levelCount];
        var degraded = new List<HostState>[levelCount];
        for (var i = 0; i < levelCount; i++)
        {
            all[i] = [];
            healthy[i] = [];
            degraded[i] = [];
        }

        foreach (var host in hosts)
        {
            var priority = Math.Max(0, host.Config.Priority);
            all[priority].Add(host);
            switch (host.Availability)
            {
                case HostAvailability.Healthy:
                    healthy[priority].Add(host);
                    break;
                case HostAvailability.Degraded:
                    degraded[priority].Add(host);
                    break;
            }
        }

        var counts = new PriorityLevelCounts[levelCount];
        for (var i = 0; i < levelCount; i++)
        {
            counts[i] = new PriorityLevelCounts(all[i].Count, healthy[i].Count, degraded[i].Count);
        }

        var load = PriorityLoad.Compute(counts, config.HealthyPanicThreshold);
        var hashAware = config.LbPolicy is LbPolicyKind.RingHash or LbPolicyKind.Maglev;
        var levels = new PriorityLevelBalancers[levelCount];
        for (var i = 0; i < levelCount; i++)
        {
            var inUse = load.HealthyLoad[i] > 0 || load.DegradedLoad[i] > 0;
            if (load.Panic[i])
            {
                levels[i] = new PriorityLevelBalancers(null, null, inUse ? CreateForHosts(config, all[i], workers) : null);
                continue;
            }

            levels[i] = new PriorityLevelBalancers(
                inUse && healthy[i].Count > 0 ? CreateForHosts(config, healthy[i], workers) : null,
                inUse && !hashAware && degraded[i].Count > 0 ? CreateForHosts(config, degraded[i], workers) : null,
                null);
        }

        return new PriorityLoadBalancer(load, levels, hashAware, stats);
    }

    /// <summary>A balancer over exactly these hosts (health already taken into account by the caller).</summary>
    public static LoadBalancer CreateForHosts(ClusterConfig config, IReadOnlyList<HostState> hosts, int workers) => config.LbPolicy switch
    {
        LbPolicyKind.RoundRobin => new RoundRobinBalancer(hosts, workers),
        LbPolicyKind.Random => new RandomBalancer(hosts),
        LbPolicyKind.LeastRequest => new LeastRequestBalancer(hosts, config.LeastRequestChoiceCount),
        LbPolicyKind.RingHash => new RingHashBalancer(hosts, config.RingMinimumSize, config.RingMaximumSize, config.RingHashFunction),
        LbPolicyKind.Maglev => new MaglevBalancer(hosts, config.MaglevTableSize),

        // ORIGINAL_DST has no configured hosts: ClusterState.GetOriginalDestinationHost picks per connection.
        LbPolicyKind.ClusterProvided => new RoundRobinBalancer(hosts, workers),
        _ => throw new NotSupportedException($"cluster '{config.Name}': lb_policy {config.LbPolicy} is not supported yet"),
    };
}
