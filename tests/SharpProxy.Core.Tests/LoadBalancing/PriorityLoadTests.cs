using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Tests.LoadBalancing;

/// <summary>
/// Envoy's priority load and panic computation. Expected values are the tables of Envoy's docs
/// (docs/root/intro/arch_overview/upstream/load_balancing/priority.rst and panic_threshold.rst) where they agree with
/// the integer arithmetic of load_balancer_impl.cc, with 100 hosts per level so that "71 % healthy" is exact.
/// </summary>
public sealed class PriorityLoadTests
{
    [Theory]
    [InlineData(100, 100, 0)]
    [InlineData(72, 100, 0)]
    [InlineData(71, 99, 1)]
    [InlineData(50, 70, 30)]
    [InlineData(25, 35, 65)]
    [InlineData(0, 0, 100)]
    public void TwoLevels_P1FullyHealthy_DocsTable(int p0Healthy, int p0Load, int p1Load)
    {
        var load = PriorityLoad.Compute([Level(p0Healthy), Level(100)]);

        Assert.Equal([p0Load, p1Load], load.HealthyLoad);
        Assert.Equal([0, 0], load.DegradedLoad);
        Assert.Equal([false, false], load.Panic);
    }

    [Theory]
    [InlineData(100, 100, 100, 0)]
    [InlineData(72, 72, 100, 0)]
    [InlineData(71, 71, 99, 1)]
    [InlineData(50, 50, 70, 30)]
    [InlineData(25, 100, 35, 65)]
    [InlineData(25, 25, 50, 50)]
    public void TwoLevels_BothDegrading_DocsTable(int p0Healthy, int p1Healthy, int p0Load, int p1Load)
    {
        var load = PriorityLoad.Compute([Level(p0Healthy), Level(p1Healthy)]);

        Assert.Equal([p0Load, p1Load], load.HealthyLoad);
    }

    [Theory]
    [InlineData(100, 100, 100, 100, 0, 0)]
    [InlineData(72, 72, 100, 100, 0, 0)]
    [InlineData(71, 71, 100, 99, 1, 0)]
    [InlineData(50, 50, 100, 70, 30, 0)]
    [InlineData(25, 100, 100, 35, 65, 0)]
    [InlineData(25, 25, 100, 35, 35, 30)]
    public void ThreeLevels_DocsTable(int p0, int p1, int p2, int load0, int load1, int load2)
    {
        var load = PriorityLoad.Compute([Level(p0), Level(p1), Level(p2)]);

        Assert.Equal([load0, load1, load2], load.HealthyLoad);
    }

    [Fact]
    public void ThreeLevels_Normalized_RoundingLeftoverGoesToFirstHealthyLevel()
    {
        // Health 35/35/28 = 98 < 100: loads 35*100/98 = 35, 35, 28*100/98 = 28, and the 2 left over go to P0 (the
        // docs' table, which leaves panic aside, rounds this row to 36/36/28). Panic disabled to see the plain loads.
        var load = PriorityLoad.Compute([Level(25), Level(25), Level(20)], panicThreshold: 0);
        Assert.Equal([37, 35, 28], load.HealthyLoad);
        Assert.Equal([false, false, false], load.Panic);

        // With the default 50 % threshold every level is in panic: total panic spreads load by host count.
        var panic = PriorityLoad.Compute([Level(25), Level(25), Level(20)]);
        Assert.Equal([true, true, true], panic.Panic);
        Assert.Equal([34, 33, 33], panic.HealthyLoad);
    }

    [Fact]
    public void Panic_NormalizedHealth100_NeverPanics()
    {
        // P0 at 25 % is under the 50 % threshold, but P1 can take the rest: no panic anywhere.
        var load = PriorityLoad.Compute([Level(25), Level(100)]);

        Assert.Equal([false, false], load.Panic);
    }

    [Fact]
    public void Panic_BothLevelsBelowThreshold_TotalPanicByHostCount()
    {
        // Docs: 25 %/25 % -> normalized total health 70, both levels in panic, 50 %/50 %.
        var load = PriorityLoad.Compute([Level(25), Level(25)]);
        Assert.Equal([true, true], load.Panic);
        Assert.Equal([50, 50], load.HealthyLoad);

        // In total panic the load follows host counts, whatever the health: 10 hosts vs 30 hosts.
        var uneven = PriorityLoad.Compute([new PriorityLevelCounts(10, 1, 0), new PriorityLevelCounts(30, 3, 0)]);
        Assert.Equal([true, true], uneven.Panic);
        Assert.Equal([25, 75], uneven.HealthyLoad);
    }

    [Fact]
    public void Panic_OnlyTheLevelBelowThreshold()
    {
        // Docs' row "5 % / 65 %": normalized health 98, P0 in panic, P1 not. Load from the code: 7*100/98 = 7 and
        // min(93, 91*100/98 = 92) = 92, the leftover 1 to P0 (the docs' table shows 7/93).
        var load = PriorityLoad.Compute([Level(5), Level(65)]);

        Assert.Equal([true, false], load.Panic);
        Assert.Equal([8, 92], load.HealthyLoad);
    }

    [Fact]
    public void Panic_SingleLevelBelowThreshold_AllLoadInPanic()
    {
        var load = PriorityLoad.Compute([new PriorityLevelCounts(3, 1, 0)]);

        Assert.Equal([100], load.HealthyLoad);
        Assert.Equal([true], load.Panic);
    }

    [Fact]
    public void Panic_ThresholdZero_NothingHealthy_AllToP0WithoutPanic()
    {
        var load = PriorityLoad.Compute([new PriorityLevelCounts(3, 0, 0), new PriorityLevelCounts(2, 0, 0)], panicThreshold: 0);

        Assert.Equal([100, 0], load.HealthyLoad);
        Assert.Equal([false, false], load.Panic);
    }

    [Fact]
    public void Panic_ThresholdApplies_AsConfigured()
    {
        // 60 % healthy: 84 availability, below 100, so the threshold is checked: 60 < 70 is panic, 60 < 50 is not.
        Assert.Equal([true], PriorityLoad.Compute([Level(60)], panicThreshold: 70).Panic);
        Assert.Equal([false], PriorityLoad.Compute([Level(60)], panicThreshold: 50).Panic);
    }

    [Fact]
    public void Degraded_LoadGoesToDegradedHostsAfterHealthyOnes()
    {
        // P0: 100 hosts, 50 healthy and 50 degraded: healthy 70, degraded 70, normalized 100.
        var load = PriorityLoad.Compute([new PriorityLevelCounts(100, 50, 50)]);

        Assert.Equal([70], load.HealthyLoad);
        Assert.Equal([30], load.DegradedLoad);
        Assert.Equal(0, load.ChoosePriority(69, out var degraded));
        Assert.False(degraded);
        Assert.Equal(0, load.ChoosePriority(70, out degraded));
        Assert.True(degraded);
    }

    [Theory]
    [InlineData(0UL, 0)]
    [InlineData(98UL, 0)]
    [InlineData(99UL, 1)]
    [InlineData(199UL, 1)]
    [InlineData(200UL, 0)]
    public void ChoosePriority_HashMod100PlusOne_OverCumulativeLoad(ulong hash, int expected)
    {
        var load = PriorityLoad.Compute([Level(71), Level(100)]);

        Assert.Equal(expected, load.ChoosePriority(hash, out _));
    }

    [Fact]
    public void Balancer_HalfOfP0Ejected_SpillsAbout30PercentToP1()
    {
        var hosts = new List<HostState>();
        for (var i = 0; i < 10; i++)
        {
            hosts.Add(Host(9000 + i, priority: 0));
        }

        for (var i = 0; i < 10; i++)
        {
            hosts.Add(Host(9100 + i, priority: 1));
        }

        for (var i = 0; i < 5; i++)
        {
            hosts[i].SetEjected(true);
        }

        var balancer = LoadBalancerFactory.Create(new ClusterConfig { Name = "c", LbPolicy = LbPolicyKind.RoundRobin }, hosts, workers: 1);
        Assert.Equal([70, 30], balancer.Load.HealthyLoad);

        var toP1 = 0;
        const int Picks = 10_000;
        for (var i = 0; i < Picks; i++)
        {
            var host = balancer.Pick(0, null, 0)!;
            Assert.False(host.IsEjected);
            toP1 += host.Config.Priority;
        }

        // Binomial(10000, 0.3): standard deviation 46; 2,700..3,300 is more than 6 deviations either side.
        Assert.InRange(toP1, 2700, 3300);
    }

    [Theory]
    [InlineData("RingHash")]
    [InlineData("Maglev")]
    [InlineData("RoundRobin")]
    public void Balancer_LevelInPanic_UsesAllItsHosts(string policyName)
    {
        var policy = Enum.Parse<LbPolicyKind>(policyName);
        var hosts = new List<HostState> { Host(9000), Host(9001, EndpointHealthStatus.Unhealthy), Host(9002, EndpointHealthStatus.Unhealthy) };
        var balancer = LoadBalancerFactory.Create(new ClusterConfig { Name = "c", LbPolicy = policy, RingMinimumSize = 64, MaglevTableSize = 251 }, hosts, workers: 1);
        var stats = new ClusterStats();
        var counted = LoadBalancerFactory.Create(new ClusterConfig { Name = "c", LbPolicy = policy, RingMinimumSize = 64, MaglevTableSize = 251 }, hosts, workers: 1, stats);

        var seen = new HashSet<int>();
        for (var i = 0; i < 300; i++)
        {
            seen.Add(balancer.Pick(0, (ulong)i * 0x9E3779B97F4A7C15UL, 0)!.EndPoint.Port);
            counted.Pick(0, (ulong)i, 0);
        }

        Assert.Equal(3, seen.Count);
        Assert.Equal(300, stats.HealthyPanic);
    }

    [Fact]
    public void Balancer_RingHashAboveThreshold_BuiltFromHealthyHostsOnly()
    {
        var hosts = new List<HostState> { Host(9000), Host(9001), Host(9002), Host(9003, EndpointHealthStatus.Unhealthy) };
        var balancer = LoadBalancerFactory.Create(new ClusterConfig { Name = "c", LbPolicy = LbPolicyKind.RingHash, RingMinimumSize = 64 }, hosts, workers: 1);

        Assert.Equal(0, balancer.DirectLevel);
        for (var i = 0; i < 500; i++)
        {
            Assert.NotEqual(9003, balancer.Pick(0, (ulong)i * 0x9E3779B97F4A7C15UL, 0)!.EndPoint.Port);
        }
    }

    private static PriorityLevelCounts Level(int healthyPercent) => new(100, healthyPercent, 0);

    private static HostState Host(int port, EndpointHealthStatus health = EndpointHealthStatus.Healthy, int priority = 0) =>
        new(new EndpointConfig { Address = "127.0.0.1", Port = port, Health = health, Priority = priority }, new IPEndPoint(IPAddress.Loopback, port));
}
