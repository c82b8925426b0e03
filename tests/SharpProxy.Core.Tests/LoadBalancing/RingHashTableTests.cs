using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Core.Tests.LoadBalancing;

/// <summary>
/// Reproduces Envoy's test/extensions/load_balancing_policies/ring_hash/ring_hash_lb_test.cc cases that
/// concern the ring itself. Host indices in the expectations are Envoy's hostSet().hosts_ indices.
/// </summary>
public sealed class RingHashTableTests
{
    // Envoy's "hash ring" comment for 127.0.0.1:90..95 with minimum_ring_size 12 (Basic and
    // BasicWithRetryHostPredicate): position -> port.
    private static readonly (ulong Hash, int Port)[] BasicRing =
    [
        (833437586790550860UL, 94),
        (928266305478181108UL, 92),
        (1033482794131418490UL, 90),
        (3551244743356806947UL, 95),
        (3851675632748031481UL, 93),
        (5583722120771150861UL, 91),
        (6311230543546372928UL, 91),
        (7700377290971790572UL, 93),
        (13144177310400110813UL, 95),
        (13444792449719432967UL, 92),
        (15516499411664133160UL, 94),
        (16117243373044804889UL, 90),
    ];

    [Fact]
    public void Constructor_NoHosts_EmptyRingPicksNothing()
    {
        var ring = new RingHashTable([]);
        Assert.Equal(0, ring.RingSize);
        Assert.Equal(0, ring.HostCount);
        Assert.Equal(-1, ring.Pick(0));
        Assert.Equal(-1, ring.Pick(12345, attempt: 3));
    }

    [Fact]
    public void Constructor_MinimumAboveMaximum_ThrowsEnvoyMessage()
    {
        var ex = Assert.Throws<ArgumentException>(() => new RingHashTable(EnvoyHostSets.Loopback(90), 20, 10));
        Assert.StartsWith("ring hash: minimum_ring_size (20) > maximum_ring_size (10)", ex.Message);
    }

    [Theory]
    [InlineData(0UL, 1024UL)]
    [InlineData(8388609UL, 8388609UL)]
    [InlineData(1024UL, 8388609UL)]
    public void Constructor_RingSizeOutOfProtoBounds_Throws(ulong min, ulong max)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RingHashTable(EnvoyHostSets.Loopback(90), min, max));
    }

    [Fact]
    public void Constructor_InvalidHosts_Throw()
    {
        Assert.Throws<ArgumentException>(() => new RingHashTable([new HashHost("", 1)]));
        Assert.Throws<ArgumentException>(() => new RingHashTable([new HashHost("a", 0)]));
        Assert.Throws<ArgumentException>(() => new RingHashTable([new HashHost("a", uint.MaxValue), new HashHost("b", 1)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RingHashTable(EnvoyHostSets.Loopback(90), hashFunction: (RingHashFunction)7));
    }

    [Fact]
    public void Constructor_EnvoyBasicRing_PointsMatchEnvoyTrace()
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(90, 91, 92, 93, 94, 95), minimumRingSize: 12);

        Assert.Equal(12, ring.RingSize);
        Assert.Equal(12UL, ring.RingSizeGauge);
        Assert.Equal(2UL, ring.MinHashesPerHost);
        Assert.Equal(2UL, ring.MaxHashesPerHost);
        for (int i = 0; i < BasicRing.Length; i++)
        {
            Assert.Equal((BasicRing[i].Hash, BasicRing[i].Port - 90), ring.GetPoint(i));
        }
    }

    // Envoy RingHashLoadBalancerTest.Basic.
    [Theory]
    [InlineData(0UL, 4)]
    [InlineData(ulong.MaxValue, 4)]
    [InlineData(3551244743356806947UL, 5)]
    [InlineData(3551244743356806948UL, 3)]
    [InlineData(16117243373044804880UL, 0)]
    public void Pick_EnvoyBasicVectors_ReturnsEnvoyHost(ulong hash, int expectedHost)
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(90, 91, 92, 93, 94, 95), minimumRingSize: 12);
        Assert.Equal(expectedHost, ring.Pick(hash));
    }

    // Envoy RingHashLoadBalancerTest.BasicWithRetryHostPredicate: attempt i moves i slots along the ring,
    // and when every attempt is rejected Envoy keeps the last candidate (attempt == retry count).
    [Theory]
    [InlineData(0, 4)]  // first attempt
    [InlineData(1, 2)]  // second attempt: next slot
    [InlineData(2, 0)]  // exhausted retries (count 2) return the last checked host
    [InlineData(13, 2)] // retries wrap around the ring (count 13)
    public void Pick_RetryAttempt_MovesAlongRing(int attempt, int expectedHost)
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(90, 91, 92, 93, 94, 95), minimumRingSize: 12);
        Assert.Equal(expectedHost, ring.Pick(0, attempt));
    }

    // Envoy RingHashLoadBalancerTest.BasicWithMurmur2.
    [Fact]
    public void Pick_EnvoyMurmur2Ring_MatchesEnvoy()
    {
        var ring = new RingHashTable(
            EnvoyHostSets.Loopback(80, 81, 82, 83, 84, 85), minimumRingSize: 12, hashFunction: RingHashFunction.MurmurHash2);

        Assert.Equal(12, ring.RingSize);
        Assert.Equal(2UL, ring.MinHashesPerHost);
        Assert.Equal(2UL, ring.MaxHashesPerHost);
        (ulong, int)[] expectedRing =
        [
            (1358027074129602068UL, 5), (4361834613929391114UL, 3), (7224494972555149682UL, 4),
            (7701421856454313576UL, 1), (8649315368077433379UL, 2), (8739448859063030639UL, 4),
            (9887544217113020895UL, 1), (10150910876324007731UL, 2), (15168472011420622455UL, 3),
            (15427156902705414897UL, 0), (16375050414328759093UL, 5), (17613279263364193813UL, 0),
        ];
        for (int i = 0; i < expectedRing.Length; i++)
        {
            Assert.Equal(expectedRing[i], ring.GetPoint(i));
        }

        Assert.Equal(5, ring.Pick(0));
        Assert.Equal(5, ring.Pick(ulong.MaxValue));
        Assert.Equal(5, ring.Pick(1358027074129602068UL));
        Assert.Equal(3, ring.Pick(1358027074129602069UL));
        Assert.Equal(2, ring.Pick(10150910876324007730UL));
    }

    // Envoy BasicWithHostname and BasicWithMetadataHashKey: keys "90".."95" (hostname or hash_key; the
    // caller chooses, the ring only sees the key).
    [Fact]
    public void Pick_EnvoyHostnameKeys_MatchesEnvoy()
    {
        var ring = new RingHashTable(EnvoyHostSets.Named("90", "91", "92", "93", "94", "95"), minimumRingSize: 12);

        Assert.Equal(12, ring.RingSize);
        Assert.Equal(2UL, ring.MinHashesPerHost);
        Assert.Equal(2UL, ring.MaxHashesPerHost);
        (ulong, int)[] expectedRing =
        [
            (1975508444536362413UL, 5), (2376063919839173711UL, 5), (2386806903309390596UL, 3),
            (6749904478991551885UL, 4), (6803900775736438537UL, 3), (7225015537174310577UL, 2),
            (8787465352164086522UL, 0), (11282020843382717940UL, 2), (13723418369486627818UL, 1),
            (13776502110861797421UL, 0), (14338313586354474791UL, 1), (15364271037087512980UL, 4),
        ];
        for (int i = 0; i < expectedRing.Length; i++)
        {
            Assert.Equal(expectedRing[i], ring.GetPoint(i));
        }

        Assert.Equal(5, ring.Pick(0));
        Assert.Equal(5, ring.Pick(ulong.MaxValue));
        Assert.Equal(2, ring.Pick(7225015537174310577UL));
        Assert.Equal(3, ring.Pick(6803900775736438537UL));
    }

    // Envoy RingHashLoadBalancerTest.UnevenHosts: 2 hosts, minimum 3 -> scale 4, 2 replicas each.
    [Fact]
    public void Constructor_UnevenHosts_ScalesToWholeReplicas()
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(80, 81), minimumRingSize: 3);
        Assert.Equal(4, ring.RingSize);
        Assert.Equal(2UL, ring.MinHashesPerHost);
        Assert.Equal(2UL, ring.MaxHashesPerHost);
        Assert.Equal((5454692015285649509UL, 0), ring.GetPoint(0));
        Assert.Equal((7859399908942313493UL, 1), ring.GetPoint(1));
        Assert.Equal((13838424394637650569UL, 0), ring.GetPoint(2));
        Assert.Equal((16064866803292627174UL, 1), ring.GetPoint(3));
        Assert.Equal(0, ring.Pick(0));

        var next = new RingHashTable(EnvoyHostSets.Loopback(81, 82), minimumRingSize: 3);
        Assert.Equal((7859399908942313493UL, 0), next.GetPoint(0));
        Assert.Equal((8241336090459785962UL, 1), next.GetPoint(1));
        Assert.Equal((12882406409176325258UL, 1), next.GetPoint(2));
        Assert.Equal((16064866803292627174UL, 0), next.GetPoint(3));
        Assert.Equal(0, next.Pick(0));
    }

    // Envoy HostWeightedTinyRing (and LocalityWeightedTinyRing, which normalizes to the same weights).
    private static readonly (ulong Hash, int Host)[] WeightedTinyRingExpectations =
    [
        (928266305478181108UL, 2), (4443673547860492590UL, 2), (5583722120771150861UL, 1),
        (6311230543546372928UL, 1), (13444792449719432967UL, 2), (16117243373044804889UL, 0),
    ];

    [Fact]
    public void Pick_EnvoyHostWeightedTinyRing_ReplicasFollowWeights()
    {
        HashHost[] hosts = [new("127.0.0.1:90", 1), new("127.0.0.1:91", 2), new("127.0.0.1:92", 3)];
        var ring = new RingHashTable(hosts, minimumRingSize: 6, maximumRingSize: 6);

        Assert.Equal(6, ring.RingSize);
        Assert.Equal(1UL, ring.MinHashesPerHost);
        Assert.Equal(3UL, ring.MaxHashesPerHost);
        foreach (var (hash, host) in WeightedTinyRingExpectations)
        {
            Assert.Equal(host, ring.Pick(hash));
        }
    }

    // Envoy HostWeightedLargeRing: exact hit counts over Envoy's 6000-point sweep.
    [Fact]
    public void Pick_EnvoyHostWeightedLargeRing_SweepCountsMatchEnvoy()
    {
        HashHost[] hosts = [new("127.0.0.1:90", 1), new("127.0.0.1:91", 2), new("127.0.0.1:92", 3)];
        var ring = new RingHashTable(hosts, minimumRingSize: 6144);

        Assert.Equal(6144, ring.RingSize);
        Assert.Equal(1024UL, ring.MinHashesPerHost);
        Assert.Equal(3072UL, ring.MaxHashesPerHost);
        Assert.Equal([987, 1932, 3081], EnvoyHostSets.Sweep(h => ring.Pick(h), 6000, 3));
    }

    // Envoy LocalityWeightedTinyRing: localities weighted 1, 2, 3, 0 with one host each; the zero-weight
    // locality's host (:93) is left out of the ring entirely.
    [Fact]
    public void FromNormalizedWeights_EnvoyLocalityWeightedTinyRing_MatchesEnvoy()
    {
        var (keys, weights) = EnvoyHostSets.NormalizeLocalities(
            (1, EnvoyHostSets.Loopback(90)), (2, EnvoyHostSets.Loopback(91)), (3, EnvoyHostSets.Loopback(92)), (0, EnvoyHostSets.Loopback(93)));
        var ring = RingHashTable.FromNormalizedWeights(keys, weights, 6, 6);

        Assert.Equal(3, ring.HostCount);
        Assert.Equal(6, ring.RingSize);
        Assert.Equal(1UL, ring.MinHashesPerHost);
        Assert.Equal(3UL, ring.MaxHashesPerHost);
        foreach (var (hash, host) in WeightedTinyRingExpectations)
        {
            Assert.Equal(host, ring.Pick(hash));
        }
    }

    // Envoy LocalityWeightedLargeRing.
    [Fact]
    public void FromNormalizedWeights_EnvoyLocalityWeightedLargeRing_SweepCountsMatchEnvoy()
    {
        var (keys, weights) = EnvoyHostSets.NormalizeLocalities(
            (1, EnvoyHostSets.Loopback(90)), (2, EnvoyHostSets.Loopback(91)), (3, EnvoyHostSets.Loopback(92)), (0, EnvoyHostSets.Loopback(93)));
        var ring = RingHashTable.FromNormalizedWeights(keys, weights, 6144);

        Assert.Equal(6144, ring.RingSize);
        Assert.Equal(1024UL, ring.MinHashesPerHost);
        Assert.Equal(3072UL, ring.MaxHashesPerHost);
        Assert.Equal([987, 1932, 3081], EnvoyHostSets.Sweep(h => ring.Pick(h), 6000, 3));
    }

    // Envoy HostAndLocalityWeightedTinyRing: hosts 1:2 inside each locality, localities 1:2.
    [Fact]
    public void FromNormalizedWeights_EnvoyHostAndLocalityWeightedTinyRing_MatchesEnvoy()
    {
        var (keys, weights) = HostAndLocalityWeights();
        var ring = RingHashTable.FromNormalizedWeights(keys, weights, 9, 9);

        Assert.Equal(9, ring.RingSize);
        Assert.Equal(1UL, ring.MinHashesPerHost);
        Assert.Equal(4UL, ring.MaxHashesPerHost);
        (ulong Hash, int Host)[] expected =
        [
            (928266305478181108UL, 2), (3851675632748031481UL, 3), (5583722120771150861UL, 1),
            (6311230543546372928UL, 1), (7700377290971790572UL, 3), (12559126875973811811UL, 3),
            (13444792449719432967UL, 2), (13784988426630141778UL, 3), (16117243373044804889UL, 0),
        ];
        foreach (var (hash, host) in expected)
        {
            Assert.Equal(host, ring.Pick(hash));
        }
    }

    // Envoy HostAndLocalityWeightedLargeRing.
    [Fact]
    public void FromNormalizedWeights_EnvoyHostAndLocalityWeightedLargeRing_SweepCountsMatchEnvoy()
    {
        var (keys, weights) = HostAndLocalityWeights();
        var ring = RingHashTable.FromNormalizedWeights(keys, weights, 9216);

        Assert.Equal(9216, ring.RingSize);
        Assert.Equal(1024UL, ring.MinHashesPerHost);
        Assert.Equal(4096UL, ring.MaxHashesPerHost);
        Assert.Equal([924, 2009, 2053, 4014], EnvoyHostSets.Sweep(h => ring.Pick(h), 9000, 4));
    }

    // Envoy SmallFractionalScale: 4 hosts on a ring of exactly 2 -> two hosts get no replica at all.
    [Fact]
    public void Pick_EnvoySmallFractionalScale_TwoHostsAbsent()
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(90, 91, 92, 93), 2, 2);

        Assert.Equal(2, ring.RingSize);
        Assert.Equal(0UL, ring.MinHashesPerHost);
        Assert.Equal(1UL, ring.MaxHashesPerHost);
        int[] counts = EnvoyHostSets.Sweep(h => ring.Pick(h), 1024, 4);
        Assert.Equal(2, counts.Count(c => c == 0));
        Assert.Equal(1024, counts.Sum());
    }

    // Envoy LargeFractionalScale: 2 hosts on a ring of exactly 1023 -> 511/512 replicas.
    [Fact]
    public void Pick_EnvoyLargeFractionalScale_SweepCountsMatchEnvoy()
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(90, 91), 1023, 1023);

        Assert.Equal(1023, ring.RingSize);
        Assert.Equal(511UL, ring.MinHashesPerHost);
        Assert.Equal(512UL, ring.MaxHashesPerHost);
        Assert.Equal([526, 497], EnvoyHostSets.Sweep(h => ring.Pick(h), 1023, 2));
    }

    // Envoy LopsidedWeightSmallScale: one host in a locality of weight 127, 1023 hosts in a locality of
    // weight 1, ring of exactly 1024 -> the heavy host owns 1016 points and every 128th light host one.
    private static readonly (ulong Hash, int Host)[] LopsidedExpectations =
    [
        (11664790346325243808UL, 1), (15894554872961148518UL, 128), (13958138884277627155UL, 256),
        (15803774069438192949UL, 384), (3829253010855396576UL, 512), (17918147347826565154UL, 640),
        (6442769608292299103UL, 768), (5881074926069334434UL, 896),
    ];

    [Fact]
    public void FromNormalizedWeights_EnvoyLopsidedWeightSmallScale_MatchesEnvoy()
    {
        HashHost[] all = EnvoyHostSets.Loopback(Enumerable.Range(0, 1024).ToArray());
        var (keys, weights) = EnvoyHostSets.NormalizeLocalities((127, all[..1]), (1, all[1..]));
        AssertLopsided(RingHashTable.FromNormalizedWeights(keys, weights, 1024, 1024));
    }

    // The same ring from a flat host list: weights 127*1023 : 1 x 1023 normalize to bit-identical doubles
    // (127/128 and 1/130944), so a flat list reproduces the locality-weighted Envoy ring exactly.
    [Fact]
    public void Constructor_FlatEquivalentOfLopsidedLocalities_MatchesEnvoy()
    {
        HashHost[] hosts = EnvoyHostSets.Loopback(Enumerable.Range(0, 1024).ToArray());
        hosts[0] = hosts[0] with { Weight = 127 * 1023 };
        AssertLopsided(new RingHashTable(hosts, 1024, 1024));
    }

    // Envoy HostAndLocalityWeightedTinyRing/LargeRing again, from the flat host weights 1:2:2:4 those
    // localities amount to; the doubles come out identical, so the rings do too.
    [Fact]
    public void Constructor_FlatEquivalentOfHostAndLocalityWeights_MatchesEnvoy()
    {
        HashHost[] hosts = [new("127.0.0.1:90", 1), new("127.0.0.1:91", 2), new("127.0.0.1:92", 2), new("127.0.0.1:93", 4)];
        var tiny = new RingHashTable(hosts, 9, 9);
        Assert.Equal(9, tiny.RingSize);
        Assert.Equal(1UL, tiny.MinHashesPerHost);
        Assert.Equal(4UL, tiny.MaxHashesPerHost);
        Assert.Equal(3, tiny.Pick(12559126875973811811UL));
        Assert.Equal(0, tiny.Pick(16117243373044804889UL));

        var large = new RingHashTable(hosts, 9216);
        Assert.Equal([924, 2009, 2053, 4014], EnvoyHostSets.Sweep(h => large.Pick(h), 9000, 4));
    }

    // Five hosts of weight 0.2 (not exact in binary) on a ring capped at 3: the running target reaches
    // 3.0000000000000004, so Envoy's loop emits a 4th point while its size gauge says ceil(scale) = 3.
    // Retries must wrap modulo the real point count.
    [Fact]
    public void Constructor_WeightRoundingOvershoot_AddsEnvoysExtraPoint()
    {
        var ring = new RingHashTable(EnvoyHostSets.Named("h0", "h1", "h2", "h3", "h4"), 3, 3);
        Assert.Equal(4, ring.RingSize);
        Assert.Equal(3UL, ring.RingSizeGauge);
        Assert.Equal(0UL, ring.MinHashesPerHost);
        Assert.Equal(1UL, ring.MaxHashesPerHost);
        Assert.Equal(ring.Pick(0), ring.Pick(0, attempt: 4));
        Assert.Equal(ring.GetPoint(1).HostIndex, ring.Pick(0, attempt: 1));
    }

    [Fact]
    public void Pick_AnyHash_ReturnsIndexOfFirstPointAtOrAfterHashWrapping()
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(90, 91, 92, 93, 94, 95), minimumRingSize: 12);
        var random = new Random(1234);
        Span<byte> bytes = stackalloc byte[8];
        for (int n = 0; n < 10_000; n++)
        {
            random.NextBytes(bytes);
            ulong hash = BitConverter.ToUInt64(bytes);
            int expected = BasicRing[0].Port - 90;
            foreach (var (pointHash, port) in BasicRing)
            {
                if (pointHash >= hash)
                {
                    expected = port - 90;
                    break;
                }
            }

            Assert.Equal(expected, ring.Pick(hash));
        }

        foreach (var (pointHash, port) in BasicRing)
        {
            Assert.Equal(port - 90, ring.Pick(pointHash));
        }
    }

    [Fact]
    public void Pick_DefaultRingThreeHosts_UsesCeilOfMinimumOverHostCount()
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(1, 2, 3));
        Assert.Equal(1026, ring.RingSize);
        Assert.Equal(342UL, ring.MinHashesPerHost);
        Assert.Equal(342UL, ring.MaxHashesPerHost);
    }

    [Fact]
    public void Pick_RepeatedCalls_DoesNotAllocate()
    {
        var ring = new RingHashTable(EnvoyHostSets.Loopback(Enumerable.Range(0, 100).ToArray()));
        ring.Pick(1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int sink = 0;
        for (ulong h = 0; h < 10_000; h++)
        {
            sink += ring.Pick(h * 0x9E3779B97F4A7C15UL, (int)(h & 3));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(sink >= 0);
    }

    private static (string[] Keys, double[] Weights) HostAndLocalityWeights() =>
        EnvoyHostSets.NormalizeLocalities(
            (1, [new HashHost("127.0.0.1:90", 1), new HashHost("127.0.0.1:91", 2)]),
            (2, [new HashHost("127.0.0.1:92", 1), new HashHost("127.0.0.1:93", 2)]));

    private static void AssertLopsided(RingHashTable ring)
    {
        Assert.Equal(1024, ring.RingSize);
        Assert.Equal(0UL, ring.MinHashesPerHost);
        Assert.Equal(1016UL, ring.MaxHashesPerHost);
        foreach (var (hash, host) in LopsidedExpectations)
        {
            Assert.Equal(host, ring.Pick(hash));
        }
    }
}
