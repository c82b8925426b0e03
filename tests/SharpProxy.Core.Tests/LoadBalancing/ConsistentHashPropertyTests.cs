using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Core.Tests.LoadBalancing;

/// <summary>
/// Statistical properties of the two consistent-hash tables: spread over equal hosts and how many keys
/// move when a host leaves. Seeded, so the numbers are fixed; the bounds leave room for that sample.
/// </summary>
public sealed class ConsistentHashPropertyTests
{
    private const int SampleCount = 100_000;

    [Fact]
    public void Pick_RingDefaultSize_EachOfTenHostsNearOneTenth()
    {
        // ceil(1024/10) = 103 points per host: ring hash's share per host wobbles by roughly
        // 1/sqrt(103) ~ 10%, which is why Envoy documents larger rings for better balance.
        int[] counts = Distribute(hosts => new RingHashTable(hosts).Pick, 10);
        AssertEachWithin(counts, tolerance: 0.20);
    }

    [Fact]
    public void Pick_RingLargeMinimum_EachOfTenHostsWithinFivePercent()
    {
        int[] counts = Distribute(hosts => new RingHashTable(hosts, minimumRingSize: 100_000).Pick, 10);
        AssertEachWithin(counts, tolerance: 0.05);
    }

    [Fact]
    public void Pick_MaglevDefaultSize_EachOfTenHostsWithinFivePercent()
    {
        // 65537 slots split 6553/6554 per host, so only sampling noise (~1% at 10k keys a host) remains.
        int[] counts = Distribute(hosts => new MaglevTable(hosts).Pick, 10);
        AssertEachWithin(counts, tolerance: 0.05);
    }

    [Fact]
    public void Pick_RingHostRemoved_AboutOneTwentiethOfKeysMove()
    {
        // Going from 20 to 19 hosts changes the per-host point count (ceil(1024/20) = 52 -> ceil(1024/19) = 54),
        // so a few keys of surviving hosts move to the new points as well; measured ~8% total, ~2.5% survivors.
        var result = RemoveOneOfTwenty(hosts => new RingHashTable(hosts).Pick);
        Assert.Equal(result.OnRemoved, result.MovedFromRemoved);
        Assert.InRange(result.Moved, 0, SampleCount * 2 / 20);
        Assert.InRange(result.MovedFromSurvivors, 0, SampleCount * 5 / 100);
    }

    [Fact]
    public void Pick_RingHostRemovedSamePointsPerHost_OnlyRemovedHostsKeysMove()
    {
        // ceil(361/20) == ceil(361/19) == 19 points per host: the surviving points are exactly the old
        // ones, so only the removed host's keys may move.
        var result = RemoveOneOfTwenty(hosts => new RingHashTable(hosts, minimumRingSize: 361).Pick);
        Assert.Equal(result.OnRemoved, result.Moved);
        Assert.Equal(0, result.MovedFromSurvivors);
        Assert.InRange(result.Moved, 0, SampleCount * 2 / 20);
    }

    [Fact]
    public void Pick_MaglevHostRemoved_AboutOneTwentiethOfKeysMove()
    {
        // Maglev trades a little stability for balance: measured ~5.3% moved, ~0.3% from survivors.
        var result = RemoveOneOfTwenty(hosts => new MaglevTable(hosts).Pick);
        Assert.Equal(result.OnRemoved, result.MovedFromRemoved);
        Assert.InRange(result.Moved, 0, SampleCount * 13 / 200);
        Assert.InRange(result.MovedFromSurvivors, 0, SampleCount / 100);
    }

    private static int[] Distribute(Func<HashHost[], Func<ulong, int, int>> build, int hostCount)
    {
        Func<ulong, int, int> pick = build(Hosts(hostCount));
        var counts = new int[hostCount];
        foreach (ulong hash in RandomHashes(SampleCount, seed: 42))
        {
            counts[pick(hash, 0)]++;
        }

        return counts;
    }

    private static void AssertEachWithin(int[] counts, double tolerance)
    {
        double expected = (double)SampleCount / counts.Length;
        for (int i = 0; i < counts.Length; i++)
        {
            double deviation = Math.Abs(counts[i] - expected) / expected;
            Assert.True(deviation <= tolerance, $"host {i} got {counts[i]} keys, {deviation:P1} off the fair {expected}");
        }
    }

    private static RemovalResult RemoveOneOfTwenty(Func<HashHost[], Func<ulong, int, int>> build)
    {
        HashHost[] all = Hosts(20);
        const int Removed = 7;
        HashHost[] rest = [.. all[..Removed], .. all[(Removed + 1)..]];
        Func<ulong, int, int> before = build(all);
        Func<ulong, int, int> after = build(rest);

        var result = new RemovalResult();
        foreach (ulong hash in RandomHashes(SampleCount, seed: 43))
        {
            string oldKey = all[before(hash, 0)].Key;
            string newKey = rest[after(hash, 0)].Key;
            bool wasOnRemoved = oldKey == all[Removed].Key;
            result.OnRemoved += wasOnRemoved ? 1 : 0;
            if (oldKey != newKey)
            {
                result.Moved++;
                if (wasOnRemoved)
                {
                    result.MovedFromRemoved++;
                }
                else
                {
                    result.MovedFromSurvivors++;
                }
            }
        }

        // Sanity: the removed host held roughly its 1/20 share.
        Assert.InRange(result.OnRemoved, SampleCount / 40, SampleCount / 10);
        return result;
    }

    private static HashHost[] Hosts(int count)
    {
        var hosts = new HashHost[count];
        for (int i = 0; i < count; i++)
        {
            hosts[i] = new HashHost($"10.0.0.{i + 1}:8080", 1);
        }

        return hosts;
    }

    private static ulong[] RandomHashes(int count, int seed)
    {
        var random = new Random(seed);
        var hashes = new ulong[count];
        Span<byte> bytes = stackalloc byte[8];
        for (int i = 0; i < count; i++)
        {
            random.NextBytes(bytes);
            hashes[i] = BitConverter.ToUInt64(bytes);
        }

        return hashes;
    }

    private sealed class RemovalResult
    {
        public int OnRemoved { get; set; }

        public int Moved { get; set; }

        public int MovedFromRemoved { get; set; }

        public int MovedFromSurvivors { get; set; }
    }
}
