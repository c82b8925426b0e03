using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using static SharpProxy.Core.Tests.Routing.RouteBuilders;

namespace SharpProxy.Core.Tests.Routing;

public sealed class WeightedClusterPickerTests
{
    private static WeightedClustersConfig Weights(params (string Name, uint Weight)[] clusters) =>
        new() { Clusters = [.. clusters.Select(c => new WeightedClusterConfig { Name = c.Name, Weight = c.Weight })] };

    private sealed class SequenceRandom(IEnumerable<ulong> values) : IRandomSource
    {
        private readonly IEnumerator<ulong> _values = values.GetEnumerator();

        public ulong NextUInt64() => _values.MoveNext() ? _values.Current : throw new InvalidOperationException("sequence exhausted");
    }

    [Fact]
    public void Pick_NinetyTen_ExactIntervalsForInjectedValues()
    {
        var config = Weights(("v1", 90), ("v2", 10));
        var random = new SequenceRandom(Enumerable.Range(0, 201).Select(i => (ulong)i));
        for (var value = 0; value <= 200; value++)
        {
            var picked = WeightedClusterPicker.Pick(config, random)!.Name;
            var expected = value % 100 < 90 ? "v1" : "v2"; // 0..89 -> v1, 90..99 -> v2, 100 -> v1 (value % 100)
            Assert.True(expected == picked, $"value {value}: expected {expected}, got {picked}");
        }
    }

    [Theory]
    [InlineData(0UL, 0)]
    [InlineData(89UL, 0)]
    [InlineData(90UL, 1)]
    [InlineData(99UL, 1)]
    [InlineData(100UL, 0)]
    [InlineData(190UL, 1)]
    [InlineData(ulong.MaxValue, 0)] // 18446744073709551615 % 100 = 15
    public void Pick_NinetyTenBoundaries_ReturnIndex(ulong value, int expected)
    {
        Assert.Equal(expected, WeightedClusterPicker.Pick(Weights(("v1", 90), ("v2", 10)), value));
    }

    [Fact]
    public void Pick_ThreeWay_IntervalsInConfigOrder()
    {
        var config = Weights(("a", 1), ("b", 2), ("c", 3));
        Assert.Equal([0, 1, 1, 2, 2, 2, 0], Enumerable.Range(0, 7).Select(v => WeightedClusterPicker.Pick(config, (ulong)v)));
    }

    [Fact]
    public void Pick_ZeroWeightCluster_NeverPicked()
    {
        var config = Weights(("a", 0), ("b", 3), ("zero", 0), ("c", 1));
        var counts = new int[4];
        for (ulong value = 0; value < 400; value++)
        {
            counts[WeightedClusterPicker.Pick(config, value)]++;
        }

        Assert.Equal([0, 300, 0, 100], counts);
        Assert.Equal(1, WeightedClusterPicker.Pick(config, 0)); // [0,3) is b even though a comes first
        Assert.Equal(3, WeightedClusterPicker.Pick(config, 3));
    }

    [Fact]
    public void Pick_AllZeroOrEmpty_MinusOne()
    {
        Assert.Equal(-1, WeightedClusterPicker.Pick(Weights(("a", 0)), 5));
        Assert.Equal(-1, WeightedClusterPicker.Pick(Weights(), 5));
        Assert.Null(WeightedClusterPicker.Pick(Weights(("a", 0)), new SequenceRandom([1])));
    }

    [Fact]
    public void Pick_SharedRandom_NinetyTenWithinTwoPercent()
    {
        var config = Weights(("v1", 90), ("v2", 10));
        const int Picks = 10_000;
        var v2 = 0;
        for (var i = 0; i < Picks; i++)
        {
            if (WeightedClusterPicker.Pick(config, SharedRandomSource.Instance.NextUInt64()) == 1)
            {
                v2++;
            }
        }

        // Binomial sd at p=0.1, n=10k is 0.3%: a 2% band is over six sigma.
        var share = v2 / (double)Picks;
        Assert.InRange(share, 0.08, 0.12);
    }

    [Fact]
    public void SharedRandomSource_UsesHighBits()
    {
        var anyHigh = false;
        for (var i = 0; i < 64 && !anyHigh; i++)
        {
            anyHigh = SharedRandomSource.Instance.NextUInt64() >= 1UL << 63;
        }

        Assert.True(anyHigh);
    }

    [Fact]
    public void Compile_WeightedClustersAllZero_Throws()
    {
        var route = new RouteConfig { Match = Prefix("/"), Forward = new RouteActionConfig { WeightedClusters = Weights(("a", 0), ("b", 0)) } };
        Assert.Throws<ArgumentException>(() => new CompiledRoute(route, 0));
    }

    [Fact]
    public void Match_IstioCanaryShape_HeaderRouteThenWeighted()
    {
        // Istio's canary VirtualService: testers pinned to v2 by header, everyone else 90/10.
        var table = CompiledRouteTable.Compile(Table(VirtualHost("reviews.default.svc.cluster.local:9080",
            ["reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local:9080", "reviews", "reviews:9080"],
            new RouteConfig
            {
                Name = "canary-tester",
                Match = Prefix("/") with { Headers = [Header("canary", StringMatchKind.Exact, "canary-tester")] },
                Forward = new RouteActionConfig { Cluster = "outbound|9080|v2|reviews.default.svc.cluster.local" },
            },
            new RouteConfig
            {
                Name = "default",
                Match = Prefix("/"),
                Forward = new RouteActionConfig
                {
                    WeightedClusters = Weights(("outbound|9080|v1|reviews.default.svc.cluster.local", 90), ("outbound|9080|v2|reviews.default.svc.cluster.local", 10)),
                },
            })));

        var tester = table.Match(Request("/reviews/1", authority: "reviews:9080", headers: ("canary", "canary-tester")));
        Assert.Equal("canary-tester", tester.Route?.Name);
        Assert.Equal("outbound|9080|v2|reviews.default.svc.cluster.local", tester.Route!.Config.Forward!.Cluster);

        var other = table.Match(Request("/reviews/1", authority: "reviews:9080", headers: ("canary", "someone-else")));
        Assert.Equal("default", other.Route?.Name);
        var weighted = other.Route!.Config.Forward!.WeightedClusters!;
        Assert.Equal(100UL, other.Route.TotalWeight);
        Assert.Equal("outbound|9080|v1|reviews.default.svc.cluster.local", weighted.Clusters[WeightedClusterPicker.Pick(weighted, 42)].Name);
        Assert.Equal("outbound|9080|v2|reviews.default.svc.cluster.local", weighted.Clusters[WeightedClusterPicker.Pick(weighted, 95)].Name);

        Assert.Equal("default", table.Match(Request("/", authority: "reviews")).Route?.Name);
        Assert.Null(table.Match(Request("/", authority: "ratings:9080")).VirtualHost);
    }
}
