using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Tests.LoadBalancing;

public sealed class RoundRobinBalancerTests
{
    [Fact]
    public void Pick_EqualWeights_CyclesThroughEveryHost()
    {
        var hosts = Hosts((1, EndpointHealthStatus.Healthy), (1, EndpointHealthStatus.Healthy), (1, EndpointHealthStatus.Unknown));
        var balancer = new RoundRobinBalancer(hosts, workers: 1);

        var picks = new List<int>();
        for (var i = 0; i < 6; i++)
        {
            picks.Add(hosts.IndexOf(balancer.Pick(0, null, 0)!));
        }

        Assert.Equal(new[] { 0, 1, 2, 0, 1, 2 }, picks.ToArray());
    }

    [Fact]
    public void Pick_Weights5To1To1_SmoothAndProportional()
    {
        var hosts = Hosts((5, EndpointHealthStatus.Healthy), (1, EndpointHealthStatus.Healthy), (1, EndpointHealthStatus.Healthy));
        var balancer = new RoundRobinBalancer(hosts, workers: 1);

        var picks = new int[7];
        var longestRun = 0;
        var run = 0;
        var previous = -1;
        for (var i = 0; i < 7; i++)
        {
            var index = hosts.IndexOf(balancer.Pick(0, null, 0)!);
            picks[index]++;
            run = index == previous ? run + 1 : 1;
            longestRun = Math.Max(longestRun, run);
            previous = index;
        }

        Assert.Equal(new[] { 5, 1, 1, 0, 0, 0, 0 }, picks);
        // nginx's smooth weighted round robin gives a a,a,b,a,c,a,a pattern: never 5 in a row.
        Assert.True(longestRun <= 2, $"longest run of one host was {longestRun}");
    }

    [Fact]
    public void Pick_UnhealthyAndDrainingHosts_NeverPickedAbovePanicThreshold()
    {
        // One of four usable is 25 %: below Envoy's 50 % panic threshold, so only with panic disabled (0) are the
        // unhealthy, draining and timed-out hosts left out.
        var hosts = Hosts((1, EndpointHealthStatus.Unhealthy), (1, EndpointHealthStatus.Healthy), (1, EndpointHealthStatus.Draining), (1, EndpointHealthStatus.Timeout));
        var balancer = LoadBalancerFactory.Create(Config(panicThreshold: 0), hosts, workers: 2);

        for (var i = 0; i < 20; i++)
        {
            Assert.Same(hosts[1], balancer.Pick(i % 2, null, 0));
        }
    }

    [Fact]
    public void Pick_NoUsableHost_NullWithPanicDisabled_PanicPicksItOtherwise()
    {
        var hosts = Hosts((1, EndpointHealthStatus.Unhealthy));

        Assert.Null(LoadBalancerFactory.Create(Config(panicThreshold: 0), hosts, workers: 1).Pick(0, null, 0));
        Assert.Same(hosts[0], LoadBalancerFactory.Create(Config(), hosts, workers: 1).Pick(0, null, 0));
        Assert.Null(LoadBalancerFactory.Create(Config(), [], workers: 1).Pick(0, null, 0));
        Assert.Null(new RoundRobinBalancer([], workers: 1).Pick(0, null, 0));
    }

    [Fact]
    public void Pick_LowerPriorityUsedOnlyWhenHigherHasNoUsableHost()
    {
        var primary = Host(1, EndpointHealthStatus.Unhealthy, priority: 0, port: 1);
        var failover = Host(1, EndpointHealthStatus.Healthy, priority: 1, port: 2);
        Assert.Same(failover, LoadBalancerFactory.Create(Config(), [primary, failover], 1).Pick(0, null, 0));

        var healthyPrimary = Host(1, EndpointHealthStatus.Healthy, priority: 0, port: 3);
        var balancer = LoadBalancerFactory.Create(Config(), [healthyPrimary, failover], 1);
        for (var i = 0; i < 10; i++)
        {
            Assert.Same(healthyPrimary, balancer.Pick(0, null, 0));
        }
    }

    [Fact]
    public void Pick_TwoWorkers_EachCyclesIndependently()
    {
        var hosts = Hosts((1, EndpointHealthStatus.Healthy), (1, EndpointHealthStatus.Healthy));
        var balancer = new RoundRobinBalancer(hosts, workers: 2);

        var worker0 = new[] { balancer.Pick(0, null, 0), balancer.Pick(0, null, 0) };
        var worker1 = new[] { balancer.Pick(1, null, 0), balancer.Pick(1, null, 0) };

        Assert.NotSame(worker0[0], worker0[1]);
        Assert.NotSame(worker1[0], worker1[1]);
    }

    private static ClusterConfig Config(int panicThreshold = 50) =>
        new() { Name = "c", LbPolicy = LbPolicyKind.RoundRobin, HealthyPanicThreshold = panicThreshold };

    private static List<HostState> Hosts(params (uint Weight, EndpointHealthStatus Health)[] specs)
    {
        var hosts = new List<HostState>();
        for (var i = 0; i < specs.Length; i++)
        {
            hosts.Add(Host(specs[i].Weight, specs[i].Health, 0, 9000 + i));
        }

        return hosts;
    }

    private static HostState Host(uint weight, EndpointHealthStatus health, int priority, int port) =>
        new(new EndpointConfig { Address = "127.0.0.1", Port = port, Weight = weight, Health = health, Priority = priority }, new IPEndPoint(IPAddress.Loopback, port));
}
