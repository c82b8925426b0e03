using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;

namespace SharpProxy.Core.Tests.Routing;

public sealed class HeaderMutatorTests
{
    private static HeaderValueOptionConfig Add(string name, string value, HeaderAppendAction action = HeaderAppendAction.AppendIfExistsOrAdd, bool keepEmpty = false) =>
        new(name, value, action, keepEmpty);

    private static HeaderMutationConfig Request(HeaderValueOptionConfig[]? add = null, string[]? remove = null) =>
        new() { RequestHeadersToAdd = [.. add ?? []], RequestHeadersToRemove = [.. remove ?? []] };

    private static HeaderMutationConfig Response(HeaderValueOptionConfig[]? add = null, string[]? remove = null) =>
        new() { ResponseHeadersToAdd = [.. add ?? []], ResponseHeadersToRemove = [.. remove ?? []] };

    private static (RouteTableConfig Table, VirtualHostConfig Vhost, RouteConfig Route, WeightedClusterConfig Weighted) Levels(
        HeaderMutationConfig table, HeaderMutationConfig vhost, HeaderMutationConfig route, HeaderMutationConfig weighted, bool mostSpecificWins = false)
    {
        var routeConfig = new RouteConfig { Match = new RouteMatchConfig(), Headers = route };
        var vhostConfig = new VirtualHostConfig { Name = "vh", Headers = vhost, Routes = [routeConfig] };
        var tableConfig = new RouteTableConfig { VirtualHosts = [vhostConfig], Headers = table, MostSpecificHeaderMutationsWins = mostSpecificWins };
        return (tableConfig, vhostConfig, routeConfig, new WeightedClusterConfig { Name = "w", Weight = 1, Headers = weighted });
    }

    private static string[] Values(IHeaderDictionary headers, string name) => [.. headers[name].Select(v => v ?? "")];

    private static HeaderDictionary Apply(HeaderDictionary headers, params HeaderValueOptionConfig[] add)
    {
        HeaderMutator.ApplyLevel(headers, [], [.. add]);
        return headers;
    }

    [Fact]
    public void ApplyRequest_DefaultOrder_WeightedRouteVhostTableAndLastWins()
    {
        var (table, vhost, route, weighted) = Levels(
            Request([Add("x-level", "table", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-trace", "table")]),
            Request([Add("x-level", "vhost", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-trace", "vhost")]),
            Request([Add("x-level", "route", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-trace", "route")]),
            Request([Add("x-level", "weighted", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-trace", "weighted")]));
        var headers = new HeaderDictionary();

        HeaderMutator.ApplyRequest(headers, table, vhost, route, weighted);

        Assert.Equal(["weighted", "route", "vhost", "table"], Values(headers, "x-trace"));
        Assert.Equal("table", headers["x-level"]); // the least specific level is applied last and wins
    }

    [Fact]
    public void ApplyRequest_MostSpecificWins_TableVhostRouteAfterWeighted()
    {
        var (table, vhost, route, weighted) = Levels(
            Request([Add("x-level", "table", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-trace", "table")]),
            Request([Add("x-level", "vhost", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-trace", "vhost")]),
            Request([Add("x-level", "route", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-trace", "route")]),
            Request([Add("x-trace", "weighted")]),
            mostSpecificWins: true);
        var headers = new HeaderDictionary();

        HeaderMutator.ApplyRequest(headers, table, vhost, route, weighted);

        Assert.Equal(["weighted", "table", "vhost", "route"], Values(headers, "x-trace"));
        Assert.Equal("route", headers["x-level"]);
    }

    [Fact]
    public void ApplyRequest_NoWeightedCluster_SkipsThatLevel()
    {
        var (table, vhost, route, _) = Levels(Request([Add("x-t", "table")]), Request(), Request([Add("x-t", "route")]), Request());
        var headers = new HeaderDictionary();
        HeaderMutator.ApplyRequest(headers, table, vhost, route, null);
        Assert.Equal(["route", "table"], Values(headers, "x-t"));
    }

    [Fact]
    public void ApplyResponse_UsesResponseListsInSameOrder()
    {
        var (table, vhost, route, weighted) = Levels(
            Response([Add("x-r", "table")], ["x-remove-me"]),
            Response([Add("x-r", "vhost")]),
            Response([Add("x-r", "route")]),
            Response([Add("x-r", "weighted")]));
        var headers = new HeaderDictionary { ["x-remove-me"] = "1", ["x-r"] = "upstream" };

        HeaderMutator.ApplyResponse(headers, table, vhost, route, weighted);
        HeaderMutator.ApplyRequest(headers, table, vhost, route, weighted); // request lists are empty: no effect

        Assert.Equal(["upstream", "weighted", "route", "vhost", "table"], Values(headers, "x-r"));
        Assert.False(headers.ContainsKey("x-remove-me"));
    }

    [Fact]
    public void ApplyLevel_AppendIfExistsOrAdd_AppendsOrAdds()
    {
        var headers = Apply(new HeaderDictionary { ["x-a"] = "1" }, Add("x-a", "2"), Add("x-b", "3"));
        Assert.Equal(["1", "2"], Values(headers, "x-a"));
        Assert.Equal("3", headers["x-b"]);
    }

    [Fact]
    public void ApplyLevel_AddIfAbsent_OnlyWhenAbsent()
    {
        var headers = Apply(new HeaderDictionary { ["x-a"] = "1" }, Add("x-a", "2", HeaderAppendAction.AddIfAbsent), Add("x-b", "3", HeaderAppendAction.AddIfAbsent));
        Assert.Equal("1", headers["x-a"]);
        Assert.Equal("3", headers["x-b"]);
    }

    [Fact]
    public void ApplyLevel_OverwriteIfExistsOrAdd_ReplacesAllValuesOrAdds()
    {
        var headers = new HeaderDictionary();
        headers.Append("x-a", "1");
        headers.Append("x-a", "2");
        Apply(headers, Add("x-a", "3", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-b", "4", HeaderAppendAction.OverwriteIfExistsOrAdd));
        Assert.Equal(["3"], Values(headers, "x-a"));
        Assert.Equal("4", headers["x-b"]);
    }

    [Fact]
    public void ApplyLevel_OverwriteIfExists_OnlyWhenPresent()
    {
        var headers = Apply(new HeaderDictionary { ["x-a"] = "1" }, Add("x-a", "2", HeaderAppendAction.OverwriteIfExists), Add("x-b", "3", HeaderAppendAction.OverwriteIfExists));
        Assert.Equal("2", headers["x-a"]);
        Assert.False(headers.ContainsKey("x-b"));
    }

    [Fact]
    public void ApplyLevel_EmptyValue_SkippedUnlessKeepEmptyValue()
    {
        var headers = Apply(
            new HeaderDictionary { ["x-o"] = "old" },
            Add("x-a", ""),
            Add("x-o", "", HeaderAppendAction.OverwriteIfExistsOrAdd), // skipped entirely: does not clear x-o
            Add("x-k", "", keepEmpty: true));
        Assert.False(headers.ContainsKey("x-a"));
        Assert.Equal("old", headers["x-o"]);
        Assert.True(headers.ContainsKey("x-k"));
        Assert.Equal([""], Values(headers, "x-k"));
    }

    [Fact]
    public void ApplyLevel_RemovalsBeforeAdditions()
    {
        var headers = new HeaderDictionary { ["x-a"] = "old", ["x-b"] = "old" };
        HeaderMutator.ApplyLevel(headers, ["x-a", "X-B"], [Add("x-a", "new"), Add("x-b", "new", HeaderAppendAction.AddIfAbsent)]);
        Assert.Equal(["new"], Values(headers, "x-a"));
        Assert.Equal(["new"], Values(headers, "x-b")); // absent after the removal
    }

    [Fact]
    public void ApplyLevel_ConditionsSeeHeadersBeforeThisLevelsAdditions()
    {
        // Envoy evaluates every entry first, then overwrites, then appends: two ADD_IF_ABSENT for one absent name both add,
        // and OVERWRITE_IF_EXISTS does not see a name added by the same level.
        var headers = Apply(
            new HeaderDictionary(),
            Add("x-a", "1", HeaderAppendAction.AddIfAbsent),
            Add("x-a", "2", HeaderAppendAction.AddIfAbsent),
            Add("x-b", "1"),
            Add("x-b", "2", HeaderAppendAction.OverwriteIfExists));
        Assert.Equal(["1", "2"], Values(headers, "x-a"));
        Assert.Equal(["1"], Values(headers, "x-b"));
    }

    [Fact]
    public void ApplyLevel_OverwritesBeforeAppends()
    {
        var headers = Apply(new HeaderDictionary { ["x-a"] = "old" }, Add("x-a", "appended"), Add("x-a", "set", HeaderAppendAction.OverwriteIfExistsOrAdd));
        Assert.Equal(["set", "appended"], Values(headers, "x-a"));
    }

    [Fact]
    public void ApplyLevel_TwoOverwrites_LastWins()
    {
        var headers = Apply(new HeaderDictionary(), Add("x-a", "1", HeaderAppendAction.OverwriteIfExistsOrAdd), Add("x-a", "2", HeaderAppendAction.OverwriteIfExistsOrAdd));
        Assert.Equal(["2"], Values(headers, "x-a"));
    }

    [Fact]
    public void ApplyLevel_ManyEntries_BeyondStackBuffer()
    {
        var add = Enumerable.Range(0, 100).Select(i => Add($"x-{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        var headers = Apply(new HeaderDictionary(), add);
        Assert.Equal(100, headers.Count);
        Assert.Equal("99", headers["x-99"]);
    }

    [Fact]
    public void ApplyLevel_LaterLevelSeesEarlierLevel()
    {
        var (table, vhost, route, _) = Levels(
            Request([Add("x-a", "table", HeaderAppendAction.AddIfAbsent)]),
            Request(),
            Request([Add("x-a", "route")]),
            Request());
        IHeaderDictionary headers = new HeaderDictionary();
        HeaderMutator.ApplyRequest(headers, table, vhost, route, null);
        Assert.Equal(["route"], Values(headers, "x-a"));
    }
}
