using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>
/// Envoy's type.matcher.v3.StringMatcher: exact/prefix/suffix/contains honour ignore_case (ASCII folding);
/// safe_regex is a full match and ignores ignore_case, as Envoy documents.
/// </summary>
internal sealed class CompiledStringMatcher
{
    private readonly StringMatchKind _kind;
    private readonly string _value;
    private readonly bool _ignoreCase;
    private readonly CompiledRegex? _regex;

    public CompiledStringMatcher(StringMatcherConfig config)
    {
        Config = config;
        _kind = config.Kind;
        _value = config.Value ?? "";
        _ignoreCase = config.IgnoreCase;
        if (_kind == StringMatchKind.SafeRegex)
        {
            _regex = CompiledRegex.Create(_value);
        }
        else if (!Enum.IsDefined(_kind))
        {
            throw new ArgumentException($"unknown string match kind {_kind}");
        }
    }

    public StringMatcherConfig Config { get; }

    public bool Matches(ReadOnlySpan<char> input)
    {
        var value = _value.AsSpan();
        switch (_kind)
        {
            case StringMatchKind.Exact:
                return _ignoreCase ? AsciiText.EqualsIgnoreCase(input, value) : input.SequenceEqual(value);
            case StringMatchKind.Prefix:
                return _ignoreCase ? AsciiText.StartsWithIgnoreCase(input, value) : input.StartsWith(value, StringComparison.Ordinal);
            case StringMatchKind.Suffix:
                return _ignoreCase ? AsciiText.EndsWithIgnoreCase(input, value) : input.EndsWith(value, StringComparison.Ordinal);
            case StringMatchKind.Contains:
                return _ignoreCase ? AsciiText.ContainsIgnoreCase(input, value) : input.IndexOf(value, StringComparison.Ordinal) >= 0;
            default:
                return _regex!.IsMatch(input);
        }
    }
}
