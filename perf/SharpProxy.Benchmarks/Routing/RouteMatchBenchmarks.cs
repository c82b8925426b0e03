using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;

namespace SharpProxy.Benchmarks.Routing;

/// <summary>
/// Route matching against a 1,000-route virtual host: the worst case for first-match-wins is a request that only the
/// last route accepts. Zero bytes allocated per match is the goal.
/// </summary>
[MemoryDiagnoser]
public class RouteMatchBenchmarks
{
    private const int RouteCount = 1_000;

    private CompiledRouteTable _prefixTable = null!;
    private CompiledRouteTable _headerTable = null!;
    private CompiledRouteTable _domainTable = null!;
    private RouteRequest _lastPrefix;
    private RouteRequest _lastHeader;
    private RouteRequest _firstPrefix;
    private RouteRequest _wildcardDomain;

    [GlobalSetup]
    public void Setup()
    {
        // 1,000 prefix routes /svc0/ .. /svc999/ plus a catch-all domain set; the request hits the last route.
        var prefixRoutes = Enumerable.Range(0, RouteCount)
            .Select(i => Route($"r{i}", new RouteMatchConfig { Kind = PathMatchKind.Prefix, Value = $"/svc{i}/" }))
            .ToArray();
        _prefixTable = CompiledRouteTable.Compile(Table(Host("vh", ["reviews.default.svc.cluster.local", "reviews:9080", "*"], prefixRoutes)));

        // 1,000 routes on the same prefix told apart by an exact header (Istio header-based routing); plus query and
        // case-insensitive variants would only add constant factors.
        var headerRoutes = Enumerable.Range(0, RouteCount)
            .Select(i => Route($"h{i}", new RouteMatchConfig
            {
                Kind = PathMatchKind.Prefix,
                Value = "/api",
                Headers = [new HeaderMatcherConfig { Name = "x-tenant", StringMatch = new StringMatcherConfig(StringMatchKind.Exact, $"tenant-{i}") }],
            }))
            .ToArray();
        _headerTable = CompiledRouteTable.Compile(Table(Host("vh", ["*"], headerRoutes)));

        // 1,000 virtual hosts with exact and wildcard domains; the request needs a suffix wildcard and port stripping.
        var hosts = Enumerable.Range(0, RouteCount)
            .Select(i => Host($"vh{i}", [$"svc{i}.example.com", $"*.svc{i}.example.org"], Route("r", new RouteMatchConfig { Kind = PathMatchKind.Prefix, Value = "/" })))
            .ToArray();
        _domainTable = CompiledRouteTable.Compile(Table(hosts), stripAnyHostPort: true);

        var headers = new HeaderDictionary
        {
            ["x-tenant"] = $"tenant-{RouteCount - 1}",
            ["user-agent"] = "bench",
            ["accept"] = "*/*",
        };
        _lastPrefix = new RouteRequest("reviews:9080", $"/svc{RouteCount - 1}/items/42", "page=2", headers, IsGrpc: false);
        _firstPrefix = _lastPrefix with { Path = "/svc0/items/42" };
        _lastHeader = new RouteRequest("anything.local", "/api/v1/orders", "", headers, IsGrpc: false);
        _wildcardDomain = new RouteRequest("API.Svc777.Example.org:8443", "/", "", headers, IsGrpc: false);

        if (Match_LastOfThousandPrefixRoutes() != $"r{RouteCount - 1}" || Match_LastOfThousandHeaderRoutes() != $"h{RouteCount - 1}" ||
            Match_WildcardDomainAmongThousandHosts() != "vh777")
        {
            throw new InvalidOperationException("benchmark setup does not match the intended routes");
        }
    }

    [Benchmark(Baseline = true)]
    public string? Match_FirstOfThousandPrefixRoutes() => _prefixTable.Match(_firstPrefix).Route?.Name;

    [Benchmark]
    public string? Match_LastOfThousandPrefixRoutes() => _prefixTable.Match(_lastPrefix).Route?.Name;

    [Benchmark]
    public string? Match_LastOfThousandHeaderRoutes() => _headerTable.Match(_lastHeader).Route?.Name;

    [Benchmark]
    public string? Match_WildcardDomainAmongThousandHosts() => _domainTable.Match(_wildcardDomain).VirtualHost?.Name;

    private static RouteConfig Route(string name, RouteMatchConfig match) =>
        new() { Name = name, Match = match, Forward = new RouteActionConfig { Cluster = "outbound|9080||" + name } };

    private static VirtualHostConfig Host(string name, string[] domains, params RouteConfig[] routes) =>
        new() { Name = name, Domains = [.. domains], Routes = [.. routes] };

    private static RouteTableConfig Table(params VirtualHostConfig[] hosts) => new() { Name = "bench", VirtualHosts = [.. hosts] };
}
