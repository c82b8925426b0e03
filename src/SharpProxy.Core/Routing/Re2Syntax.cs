using System.Text;

namespace SharpProxy.Core.Routing;

/// <summary>
/// Rewrites the RE2 constructs whose .NET meaning differs, so that a safe_regex means what it means in Envoy:
/// <list type="bullet">
/// <item><c>\d \w \s</c> (and <c>\D \W \S</c> outside classes) are ASCII-only in RE2, Unicode in .NET;</item>
/// <item>POSIX classes <c>[[:alpha:]]</c> exist in RE2 only (.NET would read them as a set of letters);</item>
/// <item>RE2's named group <c>(?P&lt;name&gt;...)</c> is <c>(?&lt;name&gt;...)</c> in .NET.</item>
/// </list>
/// Everything else is passed through unchanged; .NET rejects what it cannot parse.
/// </summary>
internal static class Re2Syntax
{
    private static readonly Dictionary<string, string> PosixClasses = new(StringComparer.Ordinal)
    {
        ["alnum"] = "0-9A-Za-z",
        ["alpha"] = "A-Za-z",
        ["ascii"] = @"\x00-\x7F",
        ["blank"] = @"\t ",
        ["cntrl"] = @"\x00-\x1F\x7F",
        ["digit"] = "0-9",
        ["graph"] = @"!-~",
        ["lower"] = "a-z",
        ["print"] = @" -~",
        ["punct"] = @"!-/:-@\[-`{-~",
        ["space"] = @"\t\n\v\f\r ",
        ["upper"] = "A-Z",
        ["word"] = "0-9A-Za-z_",
        ["xdigit"] = "0-9A-Fa-f",
    };

    /// <exception cref="ArgumentException">A construct that has no .NET equivalent here (a negated POSIX class).</exception>
    public static string ToDotNet(string pattern)
    {
        if (pattern.IndexOfAny(['\\', '[', '(']) < 0)
        {
            return pattern;
        }

        var result = new StringBuilder(pattern.Length + 16);
        var inClass = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                var next = pattern[i + 1];
                i++;
                result.Append(inClass ? ClassEscape(next) : Escape(next));
                continue;
            }

            if (inClass)
            {
                if (c == '[' && i + 1 < pattern.Length && pattern[i + 1] == ':')
                {
                    var end = pattern.IndexOf(":]", i + 2, StringComparison.Ordinal);
                    if (end > 0)
                    {
                        var name = pattern[(i + 2)..end];
                        if (name.StartsWith('^'))
                        {
                            throw new ArgumentException($"negated POSIX class [:{name}:] is not supported");
                        }

                        if (PosixClasses.TryGetValue(name, out var range))
                        {
                            result.Append(range);
                            i = end + 1;
                            continue;
                        }
                    }
                }

                if (c == ']')
                {
                    inClass = false;
                }

                result.Append(c);
                continue;
            }

            if (c == '[')
            {
                inClass = true;
                result.Append(c);

                // A ']' right after '[' or '[^' is a literal, not the end of the class.
                if (i + 1 < pattern.Length && pattern[i + 1] == '^')
                {
                    result.Append('^');
                    i++;
                }

                if (i + 1 < pattern.Length && pattern[i + 1] == ']')
                {
                    result.Append(@"\]");
                    i++;
                }

                continue;
            }

            if (c == '(' && string.CompareOrdinal(pattern, i, "(?P<", 0, 4) == 0)
            {
                result.Append("(?<");
                i += 3;
                continue;
            }

            result.Append(c);
        }

        return result.ToString();
    }

    private static string Escape(char c) => c switch
    {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        's' => @"[\t\n\f\r ]",
        'S' => @"[^\t\n\f\r ]",
        _ => "\\" + c,
    };

    private static string ClassEscape(char c) => c switch
    {
        'd' => "0-9",
        'w' => "0-9A-Za-z_",
        's' => @"\t\n\f\r ",
        _ => "\\" + c,
    };
}
