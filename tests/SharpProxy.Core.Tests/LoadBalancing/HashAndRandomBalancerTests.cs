using System.Collections.Immutable;
using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Tests.LoadBalancing;

public sealed class HashAndRandomBalancerTests
{
    [Theory]
    [InlineData(0UL, 94)]
    [InlineData(ulong.MaxValue, 94)]
    [InlineData(3551244743356806947UL, 95)]
    [InlineData(3551244743356806948UL, 93)]
    public void RingHash_EnvoyBasicVector(ulong hash, int expectedPort)
    {
        var hosts = Ports(90, 91, 92, 93, 94, 95);
        var balancer = new RingHashBalancer(hosts, minimumRingSize: 12);

        Assert.Equal(12, balancer.RingSize);
        Assert.Equal(expectedPort, balancer.Pick(0, hash, 0)!.EndPoint.Port);
    }

    [Fact]
    public void EveryPolicy_UnusableHostOnlyInPanic_AndEmptyGivesNull()
    {
        var hosts = new List<HostState> { Host(90, health: EndpointHealthStatus.Unhealthy) };
        foreach (var policy in new[] { LbPolicyKind.RingHash, LbPolicyKind.Maglev, LbPolicyKind.Random, LbPolicyKind.LeastRequest })
        {
            // Panic disabled: the unhealthy host is never used. Default 50 % threshold: 0 % healthy is panic, so it is.
            Assert.Null(LoadBalancerFactory.Create(new ClusterConfig { Name = "c", LbPolicy = policy, HealthyPanicThreshold = 0 }, hosts, 1).Pick(0, 1, 0));
            Assert.Same(hosts[0], LoadBalancerFactory.Create(new ClusterConfig { Name = "c", LbPolicy = policy }, hosts, 1).Pick(0, 1, 0));
        }

        Assert.Null(new RingHashBalancer([]).Pick(0, 1, 0));
        Assert.Null(new MaglevBalancer([]).Pick(0, 1, 0));
        Assert.Null(new RandomBalancer([]).Pick(0, null, 0));
        Assert.Null(new LeastRequestBalancer([]).Pick(0, null, 0));
    }

    [Fact]
    public void RingHash_HashKeyMetadata_ReplacesAddress()
    {
        // Two different addresses with the same hash_key occupy the same ring points: every hash maps to the host
        // with the same key at the same position, so swapping addresses does not move keys.
        var a = new List<HostState> { Host(90, hashKey: "alpha"), Host(91, hashKey: "beta") };
        var b = new List<HostState> { Host(190, hashKey: "alpha"), Host(191, hashKey: "beta") };
        var ra = new RingHashBalancer(a);
        var rb = new RingHashBalancer(b);
        var rng = new Random(7);
        for (var i = 0; i < 1000; i++)
        {
            var h = (ulong)rng.NextInt64(long.MinValue, long.MaxValue);
            Assert.Equal(ra.Pick(0, h, 0)!.EndPoint.Port + 100, rb.Pick(0, h, 0)!.EndPoint.Port);
        }
    }

    [Fact]
    public void RingHash_NullHash_PicksRandomly()
    {
        var balancer = new RingHashBalancer(Ports(90, 91, 92));
        var seen = new HashSet<int>();
        for (var i = 0; i < 300; i++)
        {
            seen.Add(balancer.Pick(0, null, 0)!.EndPoint.Port);
        }

        Assert.Equal(3, seen.Count);
    }

    [Fact]
    public void Maglev_MatchesTable_AndIsStablePerHash()
    {
        var hosts = Ports(90, 91, 92);
        var balancer = new MaglevBalancer(hosts, 7);
        var table = new MaglevTable([new HashHost("127.0.0.1:90", 1), new HashHost("127.0.0.1:91", 1), new HashHost("127.0.0.1:92", 1)], 7);
        Assert.Equal(7UL, balancer.TableSize);
        for (ulong h = 0; h < 50; h++)
        {
            Assert.Equal(90 + table.Pick(h), balancer.Pick(0, h, 0)!.EndPoint.Port);
            Assert.Same(balancer.Pick(0, h, 0), balancer.Pick(1, h, 0));
        }
    }

    [Fact]
    public void Maglev_Distribution_WithinTolerance()
    {
        var balancer = new MaglevBalancer(Ports(90, 91, 92, 93));
        var counts = new Dictionary<int, int>();
        var rng = new Random(3);
        for (var i = 0; i < 40000; i++)
        {
            var port = balancer.Pick(0, (ulong)rng.NextInt64(long.MinValue, long.MaxValue), 0)!.EndPoint.Port;
            counts[port] = counts.GetValueOrDefault(port) + 1;
        }

        Assert.Equal(4, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 9000, 11000));
    }

    [Fact]
    public void HashBalancers_PickWithHash_DoNotAllocate()
    {
        var hosts = Ports(90, 91, 92, 93);
        LoadBalancer[] balancers = [new RingHashBalancer(hosts), new MaglevBalancer(hosts), new RandomBalancer(hosts), new LeastRequestBalancer(hosts)];
        foreach (var balancer in balancers)
        {
            balancer.Pick(0, 1, 0);
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (ulong h = 0; h < 1000; h++)
            {
                Assert.NotNull(balancer.Pick(0, h * 0x9E3779B97F4A7C15UL, (int)(h % 3)));
            }

            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    [Fact]
    public void Random_Weighted_ProportionalToWeights()
    {
        var hosts = new List<HostState> { Host(90, weight: 1), Host(91, weight: 3) };
        var balancer = new RandomBalancer(hosts);
        var high = 0;
        for (var i = 0; i < 40000; i++)
        {
            high += balancer.Pick(0, null, 0)!.EndPoint.Port == 91 ? 1 : 0;
        }

        Assert.InRange(high, 29000, 31000);
    }

    [Fact]
    public void Random_EqualWeights_CoversAllHosts()
    {
        var balancer = new RandomBalancer(Ports(90, 91, 92));
        var counts = new int[3];
        for (var i = 0; i < 30000; i++)
        {
            counts[balancer.Pick(0, null, 0)!.EndPoint.Port - 90]++;
        }

        Assert.All(counts, c => Assert.InRange(c, 9000, 11000));
    }

    [Fact]
    public void Random_IgnoresRequestHash()
    {
        var balancer = new RandomBalancer(Ports(90, 91, 92));
        var seen = new HashSet<int>();
        for (var i = 0; i < 300; i++)
        {
            seen.Add(balancer.Pick(0, 42, 0)!.EndPoint.Port);
        }

        Assert.Equal(3, seen.Count);
    }

    [Fact]
    public void LeastRequest_PrefersIdleHost()
    {
        var hosts = Ports(90, 91);
        for (var i = 0; i < 10; i++)
        {
            hosts[0].OnRequestStart();
        }

        var balancer = new LeastRequestBalancer(hosts);
        Assert.Equal(2, balancer.ChoiceCount);
        Assert.False(balancer.IsWeighted);
        var idle = 0;
        for (var i = 0; i < 10000; i++)
        {
            idle += balancer.Pick(0, null, 0)!.EndPoint.Port == 91 ? 1 : 0;
        }

        // Two draws with replacement: the busy host wins only when both draws hit it (1/4).
        Assert.InRange(idle, 7000, 8000);
    }

    [Fact]
    public void LeastRequest_ChoiceCount_SharpensPreference()
    {
        var hosts = Ports(90, 91);
        hosts[0].OnRequestStart();
        var balancer = new LeastRequestBalancer(hosts, choiceCount: 5);
        var idle = 0;
        for (var i = 0; i < 10000; i++)
        {
            idle += balancer.Pick(0, null, 0)!.EndPoint.Port == 91 ? 1 : 0;
        }

        Assert.InRange(idle, 9500, 10000); // 1 - 1/32
    }

    [Fact]
    public void LeastRequest_Weighted_UsesWeightOverActiveRequests()
    {
        var hosts = new List<HostState> { Host(90, weight: 1), Host(91, weight: 3) };
        var balancer = new LeastRequestBalancer(hosts);
        Assert.True(balancer.IsWeighted);
        var high = 0;
        for (var i = 0; i < 20000; i++)
        {
            high += balancer.Pick(0, null, 0)!.EndPoint.Port == 91 ? 1 : 0;
        }

        Assert.InRange(high, 14300, 15700); // 3/4 when idle

        // 2 active requests on the heavy host: effective weights 1 and 3/3 = 1 -> even split.
        hosts[1].OnRequestStart();
        hosts[1].OnRequestStart();
        high = 0;
        for (var i = 0; i < 20000; i++)
        {
            high += balancer.Pick(0, null, 0)!.EndPoint.Port == 91 ? 1 : 0;
        }

        Assert.InRange(high, 9300, 10700);
    }

    [Fact]
    public void Factory_BuildsEveryPolicy()
    {
        var hosts = Ports(90, 91, 92);
        Assert.IsType<RingHashBalancer>(Level(new ClusterConfig { Name = "c", LbPolicy = LbPolicyKind.RingHash, RingMinimumSize = 12 }, hosts));
        Assert.IsType<MaglevBalancer>(Level(new ClusterConfig { Name = "c", LbPolicy = LbPolicyKind.Maglev, MaglevTableSize = 7 }, hosts));
        Assert.IsType<RandomBalancer>(Level(new ClusterConfig { Name = "c", LbPolicy = LbPolicyKind.Random }, hosts));
        var lr = Assert.IsType<LeastRequestBalancer>(Level(new ClusterConfig { Name = "c", LbPolicy = LbPolicyKind.LeastRequest, LeastRequestChoiceCount = 3 }, hosts));
        Assert.Equal(3, lr.ChoiceCount);
    }

    private static LoadBalancer? Level(ClusterConfig config, List<HostState> hosts)
    {
        var balancer = LoadBalancerFactory.Create(config, hosts, 2);
        Assert.Equal(0, balancer.DirectLevel);
        return balancer.LevelBalancer(0);
    }

    private static List<HostState> Ports(params int[] ports) => [.. ports.Select(p => Host(p))];

    private static HostState Host(int port, uint weight = 1, EndpointHealthStatus health = EndpointHealthStatus.Healthy, string? hashKey = null)
    {
        var metadata = hashKey is null
            ? MetadataConfig.Empty
            : new MetadataConfig(ImmutableDictionary<string, ImmutableDictionary<string, string>>.Empty
                .Add("envoy.lb", ImmutableDictionary<string, string>.Empty.Add("hash_key", hashKey)));
        return new(new EndpointConfig { Address = "127.0.0.1", Port = port, Weight = weight, Health = health, Metadata = metadata }, new IPEndPoint(IPAddress.Loopback, port));
    }
}
