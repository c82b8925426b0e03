using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>
/// Envoy's QueryParameterMatcher: the query is split on '&amp;' then on the first '=', names compare exactly and values
/// are NOT percent-decoded (Envoy parses with QueryParamsMulti::parseQueryString, decode off); only the first
/// occurrence of a name is matched; no string matcher means "present".
/// </summary>
internal sealed class CompiledQueryParameterMatcher
{
    private readonly string _name;
    private readonly CompiledStringMatcher? _stringMatcher;

    public CompiledQueryParameterMatcher(QueryParameterMatcherConfig config)
    {
        if (string.IsNullOrEmpty(config.Name))
        {
            throw new ArgumentException("query parameter matcher name must not be empty");
        }

        Config = config;
        _name = config.Name;
        _stringMatcher = config.StringMatch is { } sm ? new CompiledStringMatcher(sm) : null;
    }

    public QueryParameterMatcherConfig Config { get; }

    public bool Matches(ReadOnlySpan<char> query)
    {
        if (!TryGetFirstValue(query, _name, out var value))
        {
            return false;
        }

        return _stringMatcher is null || _stringMatcher.Matches(value);
    }

    internal static bool TryGetFirstValue(ReadOnlySpan<char> query, ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        while (!query.IsEmpty)
        {
            var end = query.IndexOf('&');
            var param = end < 0 ? query : query[..end];
            var equals = param.IndexOf('=');
            var key = equals < 0 ? param : param[..equals];
            if (key.SequenceEqual(name))
            {
                value = equals < 0 ? default : param[(equals + 1)..];
                return true;
            }

            if (end < 0)
            {
                break;
            }

            query = query[(end + 1)..];
        }

        value = default;
        return false;
    }
}
