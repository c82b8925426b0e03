namespace SharpProxy.Core.Routing;

/// <summary>
/// ASCII-only case folding, as absl::EqualsIgnoreCase / AsciiStrToLower do in Envoy: non-ASCII characters compare exactly.
/// </summary>
internal static class AsciiText
{
    public static char ToLower(char c) => (uint)(c - 'A') <= 'Z' - 'A' ? (char)(c | 0x20) : c;

    public static string ToLower(string value)
    {
        foreach (var c in value)
        {
            if ((uint)(c - 'A') <= 'Z' - 'A')
            {
                return string.Create(value.Length, value, static (span, source) => ToLower(source, span));
            }
        }

        return value;
    }

    /// <summary>Writes the ASCII-lowercased <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    public static void ToLower(ReadOnlySpan<char> source, Span<char> destination)
    {
        for (var i = 0; i < source.Length; i++)
        {
            destination[i] = ToLower(source[i]);
        }
    }

    public static bool EqualsIgnoreCase(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (var i = 0; i < a.Length; i++)
        {
            var x = a[i];
            var y = b[i];
            if (x != y && ToLower(x) != ToLower(y))
            {
                return false;
            }
        }

        return true;
    }

    public static bool StartsWithIgnoreCase(ReadOnlySpan<char> value, ReadOnlySpan<char> prefix) =>
        value.Length >= prefix.Length && EqualsIgnoreCase(value[..prefix.Length], prefix);

    public static bool EndsWithIgnoreCase(ReadOnlySpan<char> value, ReadOnlySpan<char> suffix) =>
        value.Length >= suffix.Length && EqualsIgnoreCase(value[^suffix.Length..], suffix);

    public static bool ContainsIgnoreCase(ReadOnlySpan<char> value, ReadOnlySpan<char> needle)
    {
        if (needle.IsEmpty)
        {
            return true;
        }

        var last = value.Length - needle.Length;
        for (var i = 0; i <= last; i++)
        {
            if (EqualsIgnoreCase(value.Slice(i, needle.Length), needle))
            {
                return true;
            }
        }

        return false;
    }
}
