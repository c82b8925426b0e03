using System.Text;

namespace SharpProxy.Core.Http2;

/// <summary>The HPACK static table (RFC 7541 Appendix A), indices 1..61; index 0 is unused.</summary>
internal static class HpackStaticTable
{
    public const int Count = 61;

    private static readonly byte[][] Names = new byte[Count + 1][];
    private static readonly byte[][] Values = new byte[Count + 1][];

    // Static indices by name length, lowest index first and one per distinct name: the encoder's name lookup
    // compares only names of the right length.
    private static readonly int[][] IndicesByNameLength;

    static HpackStaticTable()
    {
        Names[0] = [];
        Values[0] = [];
        Set(1, ":authority", "");
        Set(2, ":method", "GET");
        Set(3, ":method", "POST");
        Set(4, ":path", "/");
        Set(5, ":path", "/index.html");
        Set(6, ":scheme", "http");
        Set(7, ":scheme", "https");
        Set(8, ":status", "200");
        Set(9, ":status", "204");
        Set(10, ":status", "206");
        Set(11, ":status", "304");
        Set(12, ":status", "400");
        Set(13, ":status", "404");
        Set(14, ":status", "500");
        Set(15, "accept-charset", "");
        Set(16, "accept-encoding", "gzip, deflate");
        Set(17, "accept-language", "");
        Set(18, "accept-ranges", "");
        Set(19, "accept", "");
        Set(20, "access-control-allow-origin", "");
        Set(21, "age", "");
        Set(22, "allow", "");
        Set(23, "authorization", "");
        Set(24, "cache-control", "");
        Set(25, "content-disposition", "");
        Set(26, "content-encoding", "");
        Set(27, "content-language", "");
        Set(28, "content-length", "");
        Set(29, "content-location", "");
        Set(30, "content-range", "");
        Set(31, "content-type", "");
        Set(32, "cookie", "");
        Set(33, "date", "");
        Set(34, "etag", "");
        Set(35, "expect", "");
        Set(36, "expires", "");
        Set(37, "from", "");
        Set(38, "host", "");
        Set(39, "if-match", "");
        Set(40, "if-modified-since", "");
        Set(41, "if-none-match", "");
        Set(42, "if-range", "");
        Set(43, "if-unmodified-since", "");
        Set(44, "last-modified", "");
        Set(45, "link", "");
        Set(46, "location", "");
        Set(47, "max-forwards", "");
        Set(48, "proxy-authenticate", "");
        Set(49, "proxy-authorization", "");
        Set(50, "range", "");
        Set(51, "referer", "");
        Set(52, "refresh", "");
        Set(53, "retry-after", "");
        Set(54, "server", "");
        Set(55, "set-cookie", "");
        Set(56, "strict-transport-security", "");
        Set(57, "transfer-encoding", "");
        Set(58, "user-agent", "");
        Set(59, "vary", "");
        Set(60, "via", "");
        Set(61, "www-authenticate", "");

        int longest = 0;
        for (int index = 1; index <= Count; index++)
            longest = Math.Max(longest, Names[index].Length);
        var buckets = new List<int>[longest + 1];
        for (int index = 1; index <= Count; index++)
        {
            byte[] name = Names[index];
            if (index > 1 && Names[index - 1].AsSpan().SequenceEqual(name))
                continue; // same name as the previous entry (:method, :path, :scheme, :status): keep the lowest index
            (buckets[name.Length] ??= []).Add(index);
        }
        IndicesByNameLength = new int[longest + 1][];
        for (int length = 0; length <= longest; length++)
            IndicesByNameLength[length] = buckets[length]?.ToArray() ?? [];
    }

    private static void Set(int index, string name, string value)
    {
        Names[index] = Encoding.ASCII.GetBytes(name);
        Values[index] = Encoding.ASCII.GetBytes(value);
    }

    /// <summary>Name of entry <paramref name="index"/> (1..61).</summary>
    public static ReadOnlySpan<byte> Name(int index) => Names[index];

    /// <summary>Value of entry <paramref name="index"/> (1..61).</summary>
    public static ReadOnlySpan<byte> Value(int index) => Values[index];

    /// <summary>The lowest static index whose name equals <paramref name="name"/> byte for byte, or 0.</summary>
    public static int FindName(ReadOnlySpan<byte> name)
    {
        if ((uint)name.Length >= (uint)IndicesByNameLength.Length)
            return 0;
        foreach (int index in IndicesByNameLength[name.Length])
        {
            if (name.SequenceEqual(Names[index]))
                return index;
        }
        return 0;
    }

    /// <summary>As <see cref="FindName(ReadOnlySpan{byte})"/> for a name held as chars (a char matches only its own byte value).</summary>
    public static int FindName(ReadOnlySpan<char> name)
    {
        if ((uint)name.Length >= (uint)IndicesByNameLength.Length)
            return 0;
        foreach (int index in IndicesByNameLength[name.Length])
        {
            byte[] candidate = Names[index];
            int i = 0;
            while (i < candidate.Length && name[i] == candidate[i])
                i++;
            if (i == candidate.Length)
                return index;
        }
        return 0;
    }
}
