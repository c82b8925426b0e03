using System.Collections.Immutable;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>
/// One route with its matchers precompiled. <see cref="Matches"/> is allocation-free for path, query and single-valued
/// header matches; it checks the cheap path condition first, then gRPC, headers and query parameters (all of which must
/// match; the order cannot change the result because every condition is side-effect free).
/// </summary>
internal sealed class CompiledRoute
{
    private readonly PathMatchKind _pathKind;
    private readonly string _pathValue;
    private readonly bool _ignoreCase;
    private readonly CompiledRegex? _pathRegex;
    private readonly bool _grpcOnly;
    private readonly CompiledHeaderMatcher[] _headers;
    private readonly CompiledQueryParameterMatcher[] _queryParameters;

    /// <exception cref="ArgumentException">The route cannot be compiled (invalid regex, path_separated_prefix, weights, redirect code).</exception>
    /// <param name="headerSlots">Header name to <see cref="HeaderValueCache"/> slot, shared by the routes of one virtual host.</param>
    public CompiledRoute(RouteConfig config, int index, HostNormalization host = default, IReadOnlyDictionary<string, int>? headerSlots = null)
    {
        Config = config;
        Index = index;
        var match = config.Match ?? throw new ArgumentException("route has no match");
        _pathKind = match.Kind;
        _pathValue = match.Value ?? "";
        _ignoreCase = !match.CaseSensitive;
        _grpcOnly = match.GrpcOnly;

        switch (_pathKind)
        {
            case PathMatchKind.Prefix:
                break;
            case PathMatchKind.Path:
                break;
            case PathMatchKind.SafeRegex:
                // case_sensitive is ignored for safe_regex, as Envoy documents.
                _pathRegex = CompiledRegex.Create(_pathValue);
                break;
            case PathMatchKind.PathSeparatedPrefix:
                // Envoy's PGV rule: ^[^?#]+[^?#/]$
                if (_pathValue.Length < 2 || _pathValue.AsSpan().IndexOfAny('?', '#') >= 0 || _pathValue[^1] == '/')
                {
                    throw new ArgumentException($"path_separated_prefix '{_pathValue}' must not be empty, contain '?' or '#', or end with '/'");
                }

                break;
            default:
                throw new ArgumentException($"unknown path match kind {_pathKind}");
        }

        _headers = Compile(match.Headers, h => new CompiledHeaderMatcher(h, host, headerSlots is not null && headerSlots.TryGetValue(h.Name, out var slot) ? slot : -1));
        _queryParameters = Compile(match.QueryParameters, q => new CompiledQueryParameterMatcher(q));

        if (config.Forward?.WeightedClusters is { } weighted)
        {
            ulong total = 0;
            foreach (var cluster in weighted.Clusters)
            {
                total += cluster.Weight;
            }

            if (total == 0)
            {
                throw new ArgumentException("weighted_clusters: the sum of weights must be greater than 0");
            }

            TotalWeight = total;
        }

        if (config.Redirect is { } redirect && !PathRewriter.IsValidRedirectResponseCode(redirect.ResponseCode))
        {
            throw new ArgumentException($"redirect response_code {redirect.ResponseCode} is not one of 301, 302, 303, 307, 308");
        }
    }

    public RouteConfig Config { get; }

    public string Name => Config.Name;

    /// <summary>Position of the route in its virtual host.</summary>
    public int Index { get; }

    /// <summary>Sum of the weighted clusters' weights; 0 when the route has no weighted clusters.</summary>
    public ulong TotalWeight { get; }

    public bool Matches(in RouteRequest request) => Matches(request, PathForMatching(request.Path));

    /// <summary>Envoy's PathUtil::removeQueryAndFragment: everything from the first '?' or '#' is ignored.</summary>
    internal static ReadOnlySpan<char> PathForMatching(string? path)
    {
        var span = (path ?? "").AsSpan();
        var cut = span.IndexOfAny('?', '#');
        return cut < 0 ? span : span[..cut];
    }

    internal bool Matches(in RouteRequest request, ReadOnlySpan<char> path)
    {
        var cache = default(HeaderValueCache);
        return Matches(request, path, ref cache);
    }

    internal bool Matches(in RouteRequest request, ReadOnlySpan<char> path, ref HeaderValueCache cache)
    {
        if (!MatchesPath(path))
        {
            return false;
        }

        if (_grpcOnly && !request.IsGrpc)
        {
            return false;
        }

        var headers = _headers;
        for (var i = 0; i < headers.Length; i++)
        {
            if (!headers[i].Matches(request, ref cache))
            {
                return false;
            }
        }

        var queryParameters = _queryParameters;
        if (queryParameters.Length > 0)
        {
            var query = (request.Query ?? "").AsSpan();
            for (var i = 0; i < queryParameters.Length; i++)
            {
                if (!queryParameters[i].Matches(query))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private bool MatchesPath(ReadOnlySpan<char> path)
    {
        var value = _pathValue.AsSpan();
        switch (_pathKind)
        {
            case PathMatchKind.Prefix:
                return _ignoreCase ? AsciiText.StartsWithIgnoreCase(path, value) : path.StartsWith(value, StringComparison.Ordinal);
            case PathMatchKind.Path:
                return _ignoreCase ? AsciiText.EqualsIgnoreCase(path, value) : path.SequenceEqual(value);
            case PathMatchKind.PathSeparatedPrefix:
                if (path.Length < value.Length || (path.Length > value.Length && path[value.Length] != '/'))
                {
                    return false;
                }

                return _ignoreCase ? AsciiText.StartsWithIgnoreCase(path, value) : path.StartsWith(value, StringComparison.Ordinal);
            default:
                return _pathRegex!.IsMatch(path);
        }
    }

    private static T[] Compile<TConfig, T>(ImmutableArray<TConfig> configs, Func<TConfig, T> compile)
    {
        if (configs.IsDefaultOrEmpty)
        {
            return [];
        }

        var result = new T[configs.Length];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = compile(configs[i]);
        }

        return result;
    }
}
