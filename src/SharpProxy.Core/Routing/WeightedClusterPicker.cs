using System.Buffers.Binary;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>The source of the 64-bit value a weighted cluster is picked with; a seam for tests.</summary>
internal interface IRandomSource
{
    ulong NextUInt64();
}

/// <summary>Uniform 64-bit values from <see cref="Random.Shared"/> (thread-safe).</summary>
internal sealed class SharedRandomSource : IRandomSource
{
    public static readonly SharedRandomSource Instance = new();

    public ulong NextUInt64()
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        Random.Shared.NextBytes(bytes);
        return BinaryPrimitives.ReadUInt64LittleEndian(bytes);
    }
}

/// <summary>
/// Envoy's weighted cluster choice (WeightedClusterUtil::pickCluster): <c>value % totalWeight</c>, then walk the clusters in
/// config order and take the one whose [begin, end) holds it. A zero-weight cluster has an empty interval and is never picked.
/// </summary>
internal static class WeightedClusterPicker
{
    /// <summary>The index of the picked cluster, or -1 when there are no clusters or every weight is zero.</summary>
    public static int Pick(WeightedClustersConfig config, ulong value)
    {
        var clusters = config.Clusters;
        if (clusters.IsDefaultOrEmpty)
        {
            return -1;
        }

        ulong total = 0;
        foreach (var cluster in clusters)
        {
            total += cluster.Weight;
        }

        if (total == 0)
        {
            return -1;
        }

        var selected = value % total;
        ulong begin = 0;
        for (var i = 0; i < clusters.Length; i++)
        {
            var end = begin + clusters[i].Weight;
            if (selected >= begin && selected < end)
            {
                return i;
            }

            begin = end;
        }

        return -1;
    }

    /// <summary>Picks with a value from <paramref name="random"/>; null when nothing can be picked.</summary>
    public static WeightedClusterConfig? Pick(WeightedClustersConfig config, IRandomSource random)
    {
        var index = Pick(config, random.NextUInt64());
        return index < 0 ? null : config.Clusters[index];
    }
}
