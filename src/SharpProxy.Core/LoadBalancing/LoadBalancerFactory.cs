using SharpProxy.Core.Configuration;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

internal static class LoadBalancerFactory
{
    public static LoadBalancer Create(ClusterConfig config, IReadOnlyList<HostState> hosts, int workers) => config.LbPolicy switch
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
