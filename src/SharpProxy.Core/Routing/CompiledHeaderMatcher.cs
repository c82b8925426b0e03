using System.Globalization;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>
/// Envoy's route HeaderMatcher (source/common/http/header_utility.cc):
/// <list type="bullet">
/// <item>all values of a repeated header are joined with ',' before matching;</item>
/// <item>a missing header never matches a value/range/regex matcher, inverted or not, unless
///   treat_missing_header_as_empty makes it the empty string;</item>
/// <item>present_match: true matches a present header, false an absent one; invert_match flips that;</item>
/// <item>range_match is [start, end) over an int64 parsed as absl::SimpleAtoi does.</item>
/// </list>
/// Pseudo-headers are served from the request: <c>:authority</c> (after host-port stripping), <c>:path</c> (with query),
/// <c>:method</c>, <c>:scheme</c>. <c>host</c> is never present, as in Envoy, which keeps the HTTP/1 Host as :authority.
/// </summary>
internal sealed class CompiledHeaderMatcher
{
    private enum MatchKind
    {
        Present,
        String,
        Range,
    }

    private enum Source
    {
        Header,
        Authority,
        Path,
        Method,
        Scheme,
        Never,
    }

    private readonly string _name;
    private readonly Source _source;
    private readonly MatchKind _kind;
    private readonly bool _present;
    private readonly bool _invert;
    private readonly bool _treatMissingAsEmpty;
    private readonly CompiledStringMatcher? _stringMatcher;
    private readonly long _rangeStart;
    private readonly long _rangeEnd;
    private readonly HostNormalization _host;
    private readonly int _cacheSlot;

    public CompiledHeaderMatcher(HeaderMatcherConfig config, HostNormalization host, int cacheSlot = -1)
    {
        if (string.IsNullOrEmpty(config.Name))
        {
            throw new ArgumentException("header matcher name must not be empty");
        }

        Config = config;
        _name = config.Name;
        _host = host;
        _invert = config.InvertMatch;
        _treatMissingAsEmpty = config.TreatMissingHeaderAsEmpty;
        _cacheSlot = cacheSlot;
        _source = AsciiText.ToLower(config.Name) switch
        {
            ":authority" => Source.Authority,
            ":path" => Source.Path,
            ":method" => Source.Method,
            ":scheme" => Source.Scheme,
            "host" => Source.Never,
            _ => Source.Header,
        };

        if (config.StringMatch is { } stringMatch)
        {
            _kind = MatchKind.String;
            _stringMatcher = new CompiledStringMatcher(stringMatch);
        }
        else if (config.Range is { } range)
        {
            _kind = MatchKind.Range;
            _rangeStart = range.Start;
            _rangeEnd = range.End;
        }
        else
        {
            // No specifier means present_match: true (Envoy's default).
            _kind = MatchKind.Present;
            _present = config.PresentMatch ?? true;
        }
    }

    public HeaderMatcherConfig Config { get; }

    /// <summary>True when this matcher reads a plain request header (not a pseudo-header) by <see cref="HeaderMatcherConfig.Name"/>.</summary>
    public bool ReadsHeader => _source == Source.Header;

    public bool Matches(in RouteRequest request)
    {
        var cache = default(HeaderValueCache);
        return Matches(request, ref cache);
    }

    internal bool Matches(in RouteRequest request, ref HeaderValueCache cache)
    {
        var value = GetValue(request, ref cache);
        if (_kind == MatchKind.Present)
        {
            return ((value is not null) == _present) != _invert;
        }

        if (value is null)
        {
            if (!_treatMissingAsEmpty)
            {
                return false;
            }

            value = "";
        }

        bool match;
        if (_kind == MatchKind.String)
        {
            match = _stringMatcher!.Matches(value);
        }
        else
        {
            match = TryParseInt64(value, out var number) && number >= _rangeStart && number < _rangeEnd;
        }

        return match != _invert;
    }

    /// <summary>absl::SimpleAtoi: optional surrounding ASCII whitespace, an optional sign, base-10 digits, no overflow.</summary>
    internal static bool TryParseInt64(ReadOnlySpan<char> value, out long result) =>
        long.TryParse(value, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out result);

    /// <summary>The header's value (repeated values joined with ','), or null when absent.</summary>
    private string? GetValue(in RouteRequest request, ref HeaderValueCache cache)
    {
        switch (_source)
        {
            case Source.Header:
                return cache.Get(_cacheSlot, request.Headers, _name);
            case Source.Authority:
                {
                    var authority = request.Authority ?? "";
                    var normalized = _host.Apply(authority);
                    return normalized.Length == authority.Length ? authority : normalized.ToString();
                }

            case Source.Path:
                return string.IsNullOrEmpty(request.Query) ? request.Path : string.Concat(request.Path, "?", request.Query);
            case Source.Method:
                return request.Method ?? HeaderValueCache.Lookup(request.Headers, _name);
            case Source.Scheme:
                return request.Scheme ?? HeaderValueCache.Lookup(request.Headers, _name);
            default:
                return null;
        }
    }
}
