using System.Collections.Immutable;

namespace SharpProxy.Core.Configuration;

/// <summary>
/// Envoy's envoy.extensions.filters.http.cors.v3.CorsPolicy (what Istio compiles a VirtualService corsPolicy into):
/// which origins are allowed and the access-control-* values answered for them.
/// </summary>
internal sealed record CorsPolicyConfig
{
    private readonly ImmutableArray<StringMatcherConfig> _allowOrigins = [];

    /// <summary>allow_origin_string_match: an origin is allowed when any matcher matches it.</summary>
    /// <exception cref="ArgumentException">A safe_regex does not compile.</exception>
    public ImmutableArray<StringMatcherConfig> AllowOrigins
    {
        get => _allowOrigins;
        init
        {
            _allowOrigins = value;
            var matchers = new Routing.CompiledStringMatcher[value.Length];
            for (var i = 0; i < matchers.Length; i++)
            {
                matchers[i] = new Routing.CompiledStringMatcher(value[i]);
            }

            OriginMatchers = ImmutableArray.Create(matchers);
        }
    }

    /// <summary><see cref="AllowOrigins"/> compiled once, for request time.</summary>
    public ImmutableArray<Routing.CompiledStringMatcher> OriginMatchers { get; private init; } = [];

    public string? AllowMethods { get; init; }

    public string? AllowHeaders { get; init; }

    public string? ExposeHeaders { get; init; }

    public string? MaxAge { get; init; }

    /// <summary>Null when unset: a less specific policy's value applies (Envoy merges CORS policies field by field).</summary>
    public bool? AllowCredentials { get; init; }

    /// <summary>
    /// forward_not_matching_preflights: a preflight from an origin that is not allowed goes upstream (true, Envoy's
    /// default when no policy sets it) or is answered locally without access-control-allow-origin (false).
    /// </summary>
    public bool? ForwardNotMatchingPreflights { get; init; }
}
