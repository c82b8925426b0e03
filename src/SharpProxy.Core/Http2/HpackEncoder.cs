namespace SharpProxy.Core.Http2;

/// <summary>
/// Stateless HPACK encoder (RFC 7541). We never add to the peer's dynamic table, so every field is either a
/// static indexed field or a literal without indexing (6.2.2) with a raw (non-Huffman) value: no encoder state,
/// and the peer's table never needs to be tracked.
/// </summary>
internal static class HpackEncoder
{
    private const int StatusStaticIndex = 8;

    /// <summary>
    /// Writes <c>:status</c>: the static indexed field for 200, 204, 206, 304, 400, 404 and 500, else a literal
    /// with the static name 8 and three ASCII digits (zero-padded, so any 0..999 an HTTP/1.1 status line can carry).
    /// Returns bytes written, or -1 when <paramref name="dest"/> is too small; a status outside 0..999 is a caller bug and throws.
    /// </summary>
    public static int EncodeStatus(int status, Span<byte> dest)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(status);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(status, 999);
        int staticIndex = status switch
        {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if (staticIndex != 0)
        {
            if (dest.Length < 1)
                return -1;
            dest[0] = (byte)(0x80 | staticIndex);
            return 1;
        }
        if (dest.Length < 5)
            return -1;
        dest[0] = StatusStaticIndex; // 0000xxxx, index 8 fits the 4-bit prefix
        dest[1] = 3;                 // raw string, length 3
        dest[2] = (byte)('0' + status / 100);
        dest[3] = (byte)('0' + status / 10 % 10);
        dest[4] = (byte)('0' + status % 10);
        return 5;
    }

    /// <summary>
    /// Literal without indexing: the name as a static index when the static table has it, else a literal name;
    /// the value as a raw string. Returns bytes written, or -1 when <paramref name="dest"/> is too small.
    /// </summary>
    public static int EncodeHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, Span<byte> dest)
    {
        int position = WriteNamePrefix(HpackStaticTable.FindName(name), dest);
        if (position < 0)
            return -1;
        if (dest[0] == 0)
        {
            int nameLength = WriteStringLength(name.Length, dest.Slice(position));
            if (nameLength < 0 || dest.Length - position - nameLength < name.Length)
                return -1;
            position += nameLength;
            name.CopyTo(dest.Slice(position));
            position += name.Length;
        }
        int valueLength = WriteStringLength(value.Length, dest.Slice(position));
        if (valueLength < 0 || dest.Length - position - valueLength < value.Length)
            return -1;
        position += valueLength;
        value.CopyTo(dest.Slice(position));
        return position + value.Length;
    }

    /// <summary>As the byte overload, for names and values held as strings: chars are narrowed to bytes, chars above 0xFF become '?'.</summary>
    public static int EncodeHeader(string name, string value, Span<byte> dest)
    {
        int position = WriteNamePrefix(HpackStaticTable.FindName(name.AsSpan()), dest);
        if (position < 0)
            return -1;
        if (dest[0] == 0)
        {
            int nameLength = WriteStringLength(name.Length, dest.Slice(position));
            if (nameLength < 0 || dest.Length - position - nameLength < name.Length)
                return -1;
            position += nameLength;
            Narrow(name, dest.Slice(position));
            position += name.Length;
        }
        int valueLength = WriteStringLength(value.Length, dest.Slice(position));
        if (valueLength < 0 || dest.Length - position - valueLength < value.Length)
            return -1;
        position += valueLength;
        Narrow(value, dest.Slice(position));
        return position + value.Length;
    }

    // 0000xxxx with the static name index (4-bit prefix), or 0x00 followed by a literal name.
    private static int WriteNamePrefix(int staticIndex, Span<byte> dest)
    {
        if (dest.Length < 1)
            return -1;
        return WriteInteger(staticIndex, 4, 0x00, dest);
    }

    // Raw string length: H bit clear, 7-bit prefix.
    private static int WriteStringLength(int length, Span<byte> dest) => WriteInteger(length, 7, 0x00, dest);

    /// <summary>Integer with an N-bit prefix (5.1) after <paramref name="flags"/>; bytes written or -1.</summary>
    internal static int WriteInteger(int value, int prefixBits, byte flags, Span<byte> dest)
    {
        if (dest.Length < 1)
            return -1;
        int mask = (1 << prefixBits) - 1;
        if (value < mask)
        {
            dest[0] = (byte)(flags | value);
            return 1;
        }
        dest[0] = (byte)(flags | mask);
        uint rest = (uint)(value - mask);
        int position = 1;
        while (rest >= 0x80)
        {
            if (position >= dest.Length)
                return -1;
            dest[position++] = (byte)(rest | 0x80);
            rest >>= 7;
        }
        if (position >= dest.Length)
            return -1;
        dest[position++] = (byte)rest;
        return position;
    }

    private static void Narrow(string text, Span<byte> dest)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            dest[i] = c <= 0xff ? (byte)c : (byte)'?';
        }
    }
}
