using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Core.Tests.LoadBalancing;

/// <summary>
/// Reproduces Envoy's test/extensions/load_balancing_policies/maglev/maglev_lb_test.cc cases that concern
/// the table itself. Host indices in the expectations are Envoy's host_set_.hosts_ indices.
/// </summary>
public sealed class MaglevTableTests
{
    // Envoy Basic/BasicStability trace for 127.0.0.1:90..95, table size 7: slot -> host index.
    private static readonly int[] BasicAssignments = [2, 4, 0, 1, 5, 0, 3];

    [Fact]
    public void Constructor_NoHosts_PicksNothing()
    {
        var table = new MaglevTable([], 7);
        Assert.Equal(0, table.HostCount);
        Assert.Equal(-1, table.Pick(0));
        Assert.Equal(-1, table.Pick(99, attempt: 2));
    }

    [Theory]
    [InlineData(8UL)]
    [InlineData(0UL)]
    [InlineData(1UL)]
    [InlineData(65536UL)]
    public void Constructor_NonPrimeTableSize_ThrowsEnvoyMessage(ulong size)
    {
        var ex = Assert.Throws<ArgumentException>(() => new MaglevTable(EnvoyHostSets.Loopback(90), size));
        Assert.StartsWith("The table size of maglev must be prime number", ex.Message);
    }

    [Fact]
    public void Constructor_TableSizeAboveProtoLimit_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaglevTable(EnvoyHostSets.Loopback(90), 5000101));
    }

    [Fact]
    public void Constructor_InvalidHosts_Throw()
    {
        Assert.Throws<ArgumentException>(() => new MaglevTable([new HashHost("", 1)], 7));
        Assert.Throws<ArgumentException>(() => new MaglevTable([new HashHost("a", 0)], 7));
        Assert.Throws<ArgumentException>(() => new MaglevTable([new HashHost("a", uint.MaxValue), new HashHost("b", 1)], 7));
    }

    [Fact]
    public void Constructor_Default_Uses65537()
    {
        Assert.Equal(65537UL, MaglevTable.DefaultTableSize);
        Assert.Equal(65537UL, new MaglevTable(EnvoyHostSets.Loopback(90, 91)).TableSize);
    }

    [Theory]
    [InlineData(2UL, true)]
    [InlineData(7UL, true)]
    [InlineData(17UL, true)]
    [InlineData(65537UL, true)]
    [InlineData(5000011UL, true)]
    [InlineData(9UL, false)]
    [InlineData(65535UL, false)]
    [InlineData(4999997UL, false)]
    [InlineData(4999999UL, true)]
    public void IsPrime_Value_Classifies(ulong value, bool expected)
    {
        Assert.Equal(expected, MaglevTable.IsPrime(value));
    }

    // Envoy SingleHost and WeightedSingleHost: the degenerate table always returns the host and reports
    // one entry.
    [Theory]
    [InlineData(7UL, 1u)]
    [InlineData(17UL, 7u)]
    public void Pick_SingleHost_AlwaysThatHostWithOneEntry(ulong size, uint weight)
    {
        var table = new MaglevTable([new HashHost("127.0.0.1:90", weight)], size);
        Assert.Equal(1UL, table.MinEntriesPerHost);
        Assert.Equal(1UL, table.MaxEntriesPerHost);
        for (ulong i = 0; i < size; i++)
        {
            Assert.Equal(0, table.Pick(i));
            Assert.Equal(0, table.Pick(i, attempt: 1));
        }
    }

    // Envoy MaglevLoadBalancerTest.Basic.
    [Fact]
    public void Pick_EnvoyBasic_TableMatchesEnvoyTrace()
    {
        var table = new MaglevTable(EnvoyHostSets.Loopback(90, 91, 92, 93, 94, 95), 7);

        Assert.Equal(1UL, table.MinEntriesPerHost);
        Assert.Equal(2UL, table.MaxEntriesPerHost);
        AssertAssignments(table, BasicAssignments);
    }

    // Envoy BasicWithHostName, BasicWithMetadataHashKey and BasicWithBoundedLoad (the bounded-load wrapper
    // does not change the table): keys "90".."95".
    [Fact]
    public void Pick_EnvoyHostnameKeys_TableMatchesEnvoyTrace()
    {
        var table = new MaglevTable(EnvoyHostSets.Named("90", "91", "92", "93", "94", "95"), 7);

        Assert.Equal(1UL, table.MinEntriesPerHost);
        Assert.Equal(2UL, table.MaxEntriesPerHost);
        AssertAssignments(table, [2, 5, 0, 3, 4, 1, 0]);
    }

    // Envoy BasicWithRetryHostPredicate: hash 10 hits slot 3 (:91); attempt 1 XORs the hash with 2^64-1
    // and lands on :90; attempt 2 (the last of retry count 2) XORs with 2^64-2 and lands on :95.
    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 0)]
    [InlineData(2, 5)]
    public void Pick_EnvoyRetryAttempts_FollowEnvoyHashMutation(int attempt, int expectedHost)
    {
        var table = new MaglevTable(EnvoyHostSets.Loopback(90, 91, 92, 93, 94, 95), 7);
        Assert.Equal(expectedHost, table.Pick(10, attempt));
        Assert.Equal(table.Pick(10UL ^ (0UL - (ulong)attempt)), table.Pick(10, attempt));
    }

    // Envoy BasicStability: shuffling the host set must not change which host owns which slot.
    [Fact]
    public void Pick_ShuffledHosts_SameHostPerSlot()
    {
        HashHost[] hosts = EnvoyHostSets.Loopback(90, 91, 92, 93, 94, 95);
        var table = new MaglevTable(hosts, 7);
        var random = new Random(7);
        for (int round = 0; round < 10; round++)
        {
            HashHost[] shuffled = (HashHost[])hosts.Clone();
            random.Shuffle(shuffled);
            var other = new MaglevTable(shuffled, 7);
            for (ulong slot = 0; slot < 7; slot++)
            {
                Assert.Equal(hosts[table.Pick(slot)].Key, shuffled[other.Pick(slot)].Key);
            }
        }
    }

    // Envoy MaglevLoadBalancerTest.Weighted: weights 1 and 2, table size 17.
    [Fact]
    public void Pick_EnvoyWeighted_TableMatchesEnvoyTrace()
    {
        var table = new MaglevTable([new HashHost("127.0.0.1:90", 1), new HashHost("127.0.0.1:91", 2)], 17);

        Assert.Equal(6UL, table.MinEntriesPerHost);
        Assert.Equal(11UL, table.MaxEntriesPerHost);
        AssertAssignments(table, [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1]);
    }

    // Envoy LocalityWeightedSameLocalityWeights (and LocalityWeightedGlobalPanic, same table): :90 weight 1
    // in zone A, :91 weight 2 in zone B, localities 1:1 -> both normalize to 0.5.
    [Fact]
    public void FromNormalizedWeights_EnvoySameLocalityWeights_TableMatchesEnvoyTrace()
    {
        var (keys, weights) = EnvoyHostSets.NormalizeLocalities(
            (1, [new HashHost("127.0.0.1:90", 1)]), (1, [new HashHost("127.0.0.1:91", 2)]));
        var table = MaglevTable.FromNormalizedWeights(keys, weights, 17);

        Assert.Equal(8UL, table.MinEntriesPerHost);
        Assert.Equal(9UL, table.MaxEntriesPerHost);
        AssertAssignments(table, [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]);

        // Equal flat weights give the same 0.5/0.5 doubles and so the same table.
        AssertAssignments(new MaglevTable(EnvoyHostSets.Loopback(90, 91), 17), [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]);
    }

    // Envoy LocalityWeightedDifferentLocalityWeights: localities {:90} w8, {:92} w0, {:91} w2 -> :90 0.8,
    // :91 0.2, :92 absent.
    [Fact]
    public void FromNormalizedWeights_EnvoyDifferentLocalityWeights_TableMatchesEnvoyTrace()
    {
        var (keys, weights) = EnvoyHostSets.NormalizeLocalities(
            (8, [new HashHost("127.0.0.1:90", 1)]), (0, [new HashHost("127.0.0.1:92", 3)]), (2, [new HashHost("127.0.0.1:91", 2)]));
        var table = MaglevTable.FromNormalizedWeights(keys, weights, 17);

        Assert.Equal(2, table.HostCount);
        Assert.Equal(4UL, table.MinEntriesPerHost);
        Assert.Equal(13UL, table.MaxEntriesPerHost);
        int[] expected = [1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0];
        AssertAssignments(table, expected);

        // Flat weights 4:1 normalize to the same 0.8/0.2 doubles.
        AssertAssignments(new MaglevTable([new HashHost("127.0.0.1:90", 4), new HashHost("127.0.0.1:91", 1)], 17), expected);
    }

    // Envoy LocalityWeightedLopsided: 1 heavy host (locality 127) and 1023 light ones (locality 1) in the
    // default table: every light host gets exactly one slot, the heavy one the rest.
    [Fact]
    public void FromNormalizedWeights_EnvoyLopsidedLocalities_LightHostsGetOneSlotEach()
    {
        HashHost[] all = EnvoyHostSets.Loopback(Enumerable.Range(0, 1024).ToArray());
        var (keys, weights) = EnvoyHostSets.NormalizeLocalities((127, all[..1]), (1, all[1..]));
        AssertLopsided(MaglevTable.FromNormalizedWeights(keys, weights));

        HashHost[] flat = (HashHost[])all.Clone();
        flat[0] = flat[0] with { Weight = 127 * 1023 };
        AssertLopsided(new MaglevTable(flat));
    }

    // More hosts than slots: Envoy fills the table in sorted-key order during the first iteration, so the
    // first M hosts by key get one slot each and the rest none. Also exercises the int-indexed table.
    [Fact]
    public void Pick_MoreHostsThanSlots_FirstHostsByKeyOwnOneSlotEach()
    {
        const int HostCount = 70_000;
        var hosts = new HashHost[HostCount];
        for (int i = 0; i < HostCount; i++)
        {
            hosts[i] = new HashHost($"host-{i:D6}", 1);
        }

        var table = new MaglevTable(hosts);
        Assert.Equal(0UL, table.MinEntriesPerHost);
        Assert.Equal(1UL, table.MaxEntriesPerHost);

        var seen = new HashSet<int>();
        for (ulong slot = 0; slot < table.TableSize; slot++)
        {
            int host = table.Pick(slot);
            Assert.Equal(host, table.GetSlot((int)slot));
            Assert.True(host < (int)table.TableSize, "hosts are sorted by key, and keys sort like their index");
            Assert.True(seen.Add(host));
        }

        Assert.Equal((int)table.TableSize, seen.Count);
    }

    [Fact]
    public void Pick_RepeatedCalls_DoesNotAllocate()
    {
        var table = new MaglevTable(EnvoyHostSets.Loopback(Enumerable.Range(0, 100).ToArray()));
        table.Pick(1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int sink = 0;
        for (ulong h = 0; h < 10_000; h++)
        {
            sink += table.Pick(h * 0x9E3779B97F4A7C15UL, (int)(h & 3));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(sink >= 0);
    }

    private static void AssertAssignments(MaglevTable table, int[] expected)
    {
        for (int slot = 0; slot < expected.Length; slot++)
        {
            Assert.Equal(expected[slot], table.GetSlot(slot));
        }

        // Envoy's loop: hashes 0 .. 3M-1 map to slot hash % M.
        for (uint i = 0; i < 3 * expected.Length; i++)
        {
            Assert.Equal(expected[i % expected.Length], table.Pick(i));
        }
    }

    private static void AssertLopsided(MaglevTable table)
    {
        const int Size = (int)MaglevTable.DefaultTableSize;
        Assert.Equal(1UL, table.MinEntriesPerHost);
        Assert.Equal((ulong)(Size - 1023), table.MaxEntriesPerHost);
        var counts = new int[1024];
        for (uint i = 0; i < Size; i++)
        {
            counts[table.Pick(i)]++;
        }

        Assert.Equal(Size - 1023, counts[0]);
        for (int i = 1; i < 1024; i++)
        {
            Assert.Equal(1, counts[i]);
        }
    }
}
