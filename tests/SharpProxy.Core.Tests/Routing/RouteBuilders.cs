using System.Collections.Immutable;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;

namespace SharpProxy.Core.Tests.Routing;

/// <summary>Small builders so each test shows only what it is about.</summary>
internal static class RouteBuilders
{
    public static RouteConfig Route(string name, RouteMatchConfig match, string cluster = "c") =>
        new() { Name = name, Match = match, Forward = new RouteActionConfig { Cluster = cluster } };

    public static RouteMatchConfig Prefix(string prefix, bool caseSensitive = true) =>
        new() { Kind = PathMatchKind.Prefix, Value = prefix, CaseSensitive = caseSensitive };

    public static RouteMatchConfig ExactPath(string path, bool caseSensitive = true) =>
        new() { Kind = PathMatchKind.Path, Value = path, CaseSensitive = caseSensitive };

    public static RouteMatchConfig Regex(string regex, bool caseSensitive = true) =>
        new() { Kind = PathMatchKind.SafeRegex, Value = regex, CaseSensitive = caseSensitive };

    public static RouteMatchConfig SeparatedPrefix(string prefix, bool caseSensitive = true) =>
        new() { Kind = PathMatchKind.PathSeparatedPrefix, Value = prefix, CaseSensitive = caseSensitive };

    public static VirtualHostConfig VirtualHost(string name, string[] domains, params RouteConfig[] routes) =>
        new() { Name = name, Domains = [.. domains], Routes = [.. routes] };

    public static RouteTableConfig Table(params VirtualHostConfig[] hosts) => new() { Name = "rt", VirtualHosts = [.. hosts] };

    public static RouteRequest Request(string path = "/", string query = "", string authority = "example.com", bool grpc = false, params (string Name, string Value)[] headers)
    {
        var dictionary = new HeaderDictionary();
        foreach (var (name, value) in headers)
        {
            // Not HeaderDictionaryExtensions.Append: it drops empty values, and "present but empty" must be testable.
            dictionary[name] = dictionary.TryGetValue(name, out var existing) ? StringValues.Concat(existing, value) : new StringValues(value);
        }

        return new RouteRequest(authority, path, query, dictionary, grpc);
    }

    public static HeaderMatcherConfig Header(string name, StringMatchKind kind, string value, bool ignoreCase = false, bool invert = false, bool missingAsEmpty = false) =>
        new() { Name = name, StringMatch = new StringMatcherConfig(kind, value, ignoreCase), InvertMatch = invert, TreatMissingHeaderAsEmpty = missingAsEmpty };

    public static CompiledRoute CompileRoute(RouteMatchConfig match) => new(Route("r", match), 0);

    public static ImmutableArray<T> Array<T>(params T[] items) => [.. items];
}
