using System.Text.RegularExpressions;

namespace SharpProxy.Core.Routing;

/// <summary>
/// A safe_regex compiled for a whole-value match (RE2::FullMatch in Envoy). Uses the non-backtracking engine (linear
/// time, like RE2); a pattern that engine cannot run falls back to the backtracking engine with a match timeout, and
/// a timeout counts as "no match" rather than an exception on the request path. RE2-only syntax is rewritten first
/// (<see cref="Re2Syntax"/>).
/// </summary>
internal sealed class CompiledRegex
{
    private static readonly TimeSpan FallbackTimeout = TimeSpan.FromMilliseconds(100);

    private readonly Regex _regex;
    private readonly bool _canTimeOut;

    private CompiledRegex(Regex regex, bool canTimeOut)
    {
        _regex = regex;
        _canTimeOut = canTimeOut;
    }

    public string Pattern { get; private init; } = "";

    /// <exception cref="ArgumentException">The pattern is not a valid regular expression.</exception>
    public static CompiledRegex Create(string pattern)
    {
        // RE2 meaning, then an anchored full match; the group keeps alternations ("a|b") inside the anchors.
        var anchored = @"\A(?:" + Re2Syntax.ToDotNet(pattern) + @")\z";
        try
        {
            return new CompiledRegex(new Regex(anchored, RegexOptions.CultureInvariant | RegexOptions.NonBacktracking), canTimeOut: false) { Pattern = pattern };
        }
        catch (NotSupportedException)
        {
            // Constructs the linear engine lacks (RE2 lacks most of them too); keep them usable but bounded.
            return new CompiledRegex(new Regex(anchored, RegexOptions.CultureInvariant, FallbackTimeout), canTimeOut: true) { Pattern = pattern };
        }
    }

    public bool IsMatch(ReadOnlySpan<char> input)
    {
        if (!_canTimeOut)
        {
            return _regex.IsMatch(input);
        }

        try
        {
            return _regex.IsMatch(input);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }
}
