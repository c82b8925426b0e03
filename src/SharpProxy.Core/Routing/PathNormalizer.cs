using System.Text;

namespace SharpProxy.Core.Routing;

/// <summary>
/// The HTTP connection manager's normalize_path, for the part that decides routing: RFC 3986 section 5.2.4
/// remove_dot_segments, where (as in the URL canonicalizer Envoy uses) "%2e" counts as a dot. Other canonicalization
/// (percent-encoding case, unreserved characters) is not done.
/// </summary>
internal static class PathNormalizer
{
    /// <summary>The path with "." and ".." segments resolved; the same string when there are none (no allocation).</summary>
    public static string RemoveDotSegments(string path)
    {
        if (!MayHaveDotSegment(path))
        {
            return path;
        }

        var segments = new List<string>();
        var trailingSlash = false;
        var start = path.Length > 0 && path[0] == '/' ? 1 : 0;
        while (start <= path.Length)
        {
            var end = path.IndexOf('/', start);
            if (end < 0)
            {
                end = path.Length;
            }

            var segment = path[start..end];
            var isLast = end == path.Length;
            switch (DotCount(segment))
            {
                case 1:
                    trailingSlash = isLast || trailingSlash;
                    break;
                case 2:
                    if (segments.Count > 0)
                    {
                        segments.RemoveAt(segments.Count - 1);
                    }

                    trailingSlash = true;
                    break;
                default:
                    segments.Add(segment);
                    trailingSlash = false;
                    break;
            }

            start = end + 1;
        }

        var builder = new StringBuilder(path.Length);
        foreach (var segment in segments)
        {
            builder.Append('/').Append(segment);
        }

        if (trailingSlash || builder.Length == 0)
        {
            builder.Append('/');
        }

        return builder.ToString();
    }

    private static bool MayHaveDotSegment(string path) =>
        path.Contains("/.", StringComparison.Ordinal) || path.Contains("%2e", StringComparison.OrdinalIgnoreCase);

    /// <returns>1 for ".", 2 for "..", 0 for anything else ("%2e" is a dot).</returns>
    private static int DotCount(ReadOnlySpan<char> segment)
    {
        var dots = 0;
        var i = 0;
        while (i < segment.Length)
        {
            if (segment[i] == '.')
            {
                i++;
            }
            else if (i + 2 < segment.Length && segment[i] == '%' && segment[i + 1] == '2' && (segment[i + 2] | 0x20) == 'e')
            {
                i += 3;
            }
            else
            {
                return 0;
            }

            dots++;
            if (dots > 2)
            {
                return 0;
            }
        }

        return dots;
    }
}
