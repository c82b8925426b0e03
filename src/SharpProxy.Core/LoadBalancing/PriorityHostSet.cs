using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// The hosts a balancer chooses from: the usable hosts of the lowest priority level that has any
/// (a simple form of Envoy's priority failover; overprovisioning and panic mode come with health checking).
/// </summary>
internal static class PriorityHostSet
{
    public static HostState[] SelectUsable(IReadOnlyList<HostState> hosts)
    {
        var bestPriority = int.MaxValue;
        foreach (var host in hosts)
        {
            if (host.IsUsable && host.Config.Priority < bestPriority)
            {
                bestPriority = host.Config.Priority;
            }
        }

        if (bestPriority == int.MaxValue)
        {
            return [];
        }

        var result = new List<HostState>(hosts.Count);
        foreach (var host in hosts)
        {
            if (host.IsUsable && host.Config.Priority == bestPriority)
            {
                result.Add(host);
            }
        }

        return [.. result];
    }
}
