using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Core.Tests.LoadBalancing;

/// <summary>Host lists and weight normalization shaped like the fixtures in Envoy's LB tests.</summary>
internal static class EnvoyHostSets
{
    /// <summary>Hosts "127.0.0.1:&lt;port&gt;" with weight 1, as makeTestHost(info_, "tcp://127.0.0.1:&lt;port&gt;").</summary>
    public static HashHost[] Loopback(params int[] ports)
    {
        var hosts = new HashHost[ports.Length];
        for (int i = 0; i < ports.Length; i++)
        {
            hosts[i] = new HashHost($"127.0.0.1:{ports[i]}", 1);
        }

        return hosts;
    }

    /// <summary>Hosts keyed by a bare name (hostname or metadata hash_key), weight 1.</summary>
    public static HashHost[] Named(params string[] keys)
    {
        var hosts = new HashHost[keys.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            hosts[i] = new HashHost(keys[i], 1);
        }

        return hosts;
    }

    /// <summary>
    /// Envoy's normalizeLocalityWeights (thread_aware_lb_impl.cc), same double expression and order:
    /// host_weight * (locality_weight / Σlocality_weight) / Σhost_weight_in_locality; zero-weight localities
    /// are skipped entirely.
    /// </summary>
    public static (string[] Keys, double[] Weights) NormalizeLocalities(params (uint LocalityWeight, HashHost[] Hosts)[] localities)
    {
        ulong localitySum = 0;
        foreach (var locality in localities)
        {
            localitySum += locality.LocalityWeight;
        }

        var keys = new List<string>();
        var weights = new List<double>();
        foreach (var (localityWeight, hosts) in localities)
        {
            if (localityWeight == 0)
            {
                continue;
            }

            double normalizedLocalityWeight = (double)localityWeight / localitySum;
            ulong hostSum = 0;
            foreach (HashHost host in hosts)
            {
                hostSum += host.Weight;
            }

            foreach (HashHost host in hosts)
            {
                keys.Add(host.Key);
                weights.Add(host.Weight * normalizedLocalityWeight / hostSum);
            }
        }

        return (keys.ToArray(), weights.ToArray());
    }

    /// <summary>The sweep Envoy's large-ring tests use: i * (UINT64_MAX / count) for i in [0, count).</summary>
    public static int[] Sweep(Func<ulong, int> pick, int count, int hostCount)
    {
        var counts = new int[hostCount];
        ulong step = ulong.MaxValue / (ulong)count;
        for (uint i = 0; i < count; i++)
        {
            counts[pick(i * step)]++;
        }

        return counts;
    }
}
