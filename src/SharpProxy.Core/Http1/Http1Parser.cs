using System.Buffers;

namespace SharpProxy.Core.Http1;

/// <summary>Where one header line of a parsed head lies in the receive buffer (offsets from the head's start).</summary>
internal struct HeaderSpan
{
    public int NameStart;
    public int NameLength;
    public int ValueStart;
    public int ValueLength;
}

internal enum ParseResult
{
    /// <summary>The head is not complete yet: read more.</summary>
    Incomplete,

    /// <summary>The head is complete and well formed.</summary>
    Complete,

    /// <summary>The bytes are not a valid HTTP/1.x message head (answered with 400, or an upstream protocol error).</summary>
    Invalid,
}

/// <summary>
/// RFC 9112 message heads, parsed in place: nothing is copied or decoded here, the caller turns only what it needs
/// into strings. Strict where laxness would let two parsers disagree about message boundaries (request smuggling):
/// no whitespace before a colon, no obs-fold, no bare LF, no control characters in values.
/// </summary>
internal static class Http1Parser
{
    /// <summary>Envoy's default max_request_headers_kb (60 KiB) bounds the head; more is answered with 431.</summary>
    public const int MaxHeadBytes = 60 * 1024;

    /// <summary>Envoy's default max_request_headers_count.</summary>
    public const int MaxHeaders = 100;

    // Below this length a table lookup per byte beats SearchValues' set-up (profiled: most names and many values are short).
    private const int VectorCheckFrom = 16;

    // RFC 9110 token characters; SearchValues checks a long name in a few vector operations.
    private static readonly SearchValues<byte> s_tokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    // Control characters other than HTAB, and DEL: not allowed in a field value (RFC 9110 section 5.5).
    private static readonly SearchValues<byte> s_forbiddenInValue = SearchValues.Create(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 0x7F]);

    /// <summary>Finds the end of the head (the empty line); -1 when it has not arrived yet.</summary>
    public static int FindHeadEnd(ReadOnlySpan<byte> buffer)
    {
        var index = buffer.IndexOf("\r\n\r\n"u8);
        return index < 0 ? -1 : index + 4;
    }

    /// <summary>Parses a request line: method, target and minor version (0 or 1). <paramref name="lineEnd"/> is after its CRLF.</summary>
    public static bool TryParseRequestLine(ReadOnlySpan<byte> head, out Range method, out Range target, out int minorVersion, out int lineEnd)
    {
        method = default;
        target = default;
        minorVersion = 0;
        lineEnd = head.IndexOf("\r\n"u8);
        if (lineEnd <= 0)
        {
            return false;
        }

        var line = head[..lineEnd];
        lineEnd += 2;
        var firstSpace = line.IndexOf((byte)' ');
        if (firstSpace <= 0 || !IsToken(line[..firstSpace]))
        {
            return false;
        }

        var rest = line[(firstSpace + 1)..];
        var secondSpace = rest.IndexOf((byte)' ');
        if (secondSpace <= 0)
        {
            return false;
        }

        var version = rest[(secondSpace + 1)..];
        if (version.Length != 8 || !version[..7].SequenceEqual("HTTP/1."u8) || (version[7] != (byte)'1' && version[7] != (byte)'0'))
        {
            return false;
        }

        // Visible ASCII only (RFC 3986 plus what browsers send unencoded); no spaces, no controls, no DEL.
        if (rest[..secondSpace].IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) >= 0)
        {
            return false;
        }

        method = new Range(0, firstSpace);
        target = new Range(firstSpace + 1, firstSpace + 1 + secondSpace);
        minorVersion = version[7] - (byte)'0';
        return true;
    }

    /// <summary>
    /// Parses a status line: code and minor version. The reason phrase is not needed: responses are re-written with the
    /// standard phrase for the code.
    /// </summary>
    public static bool TryParseStatusLine(ReadOnlySpan<byte> head, out int status, out int minorVersion, out int lineEnd)
    {
        status = 0;
        minorVersion = 0;
        lineEnd = head.IndexOf("\r\n"u8);
        if (lineEnd < 12)
        {
            return false;
        }

        var line = head[..lineEnd];
        lineEnd += 2;
        if (!line[..7].SequenceEqual("HTTP/1."u8) || (line[7] != (byte)'1' && line[7] != (byte)'0') || line[8] != (byte)' ')
        {
            return false;
        }

        var d0 = line[9] - (byte)'0';
        var d1 = line[10] - (byte)'0';
        var d2 = line[11] - (byte)'0';
        if ((uint)d0 > 9 || (uint)d1 > 9 || (uint)d2 > 9 || d0 == 0 || (line.Length > 12 && line[12] != (byte)' '))
        {
            return false;
        }

        status = (d0 * 100) + (d1 * 10) + d2;
        minorVersion = line[7] - (byte)'0';
        return true;
    }

    /// <summary>
    /// Splits the header lines from <paramref name="start"/> to the empty line into <paramref name="headers"/>.
    /// Values are trimmed of optional whitespace. Returns the header count, or -1 when malformed or too many.
    /// </summary>
    public static int ParseHeaders(ReadOnlySpan<byte> head, int start, Span<HeaderSpan> headers)
    {
        var count = 0;
        var position = start;
        while (true)
        {
            var remaining = head[position..];
            // The first CR ends the line and must be followed by LF: a CR anywhere else is invalid in a header line,
            // so a one-byte search does what a search for CRLF would.
            var lineLength = remaining.IndexOf((byte)'\r');
            if (lineLength < 0 || lineLength + 1 >= remaining.Length || remaining[lineLength + 1] != (byte)'\n')
            {
                return -1;
            }

            if (lineLength == 0)
            {
                return count;
            }

            if (count == headers.Length)
            {
                return -1;
            }

            var line = remaining[..lineLength];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                // Also rejects obs-fold (a line starting with whitespace) and "name :" (whitespace before the colon).
                return -1;
            }

            var valueStart = colon + 1;
            var valueEnd = line.Length;
            while (valueStart < valueEnd && (line[valueStart] == (byte)' ' || line[valueStart] == (byte)'\t'))
            {
                valueStart++;
            }

            while (valueEnd > valueStart && (line[valueEnd - 1] == (byte)' ' || line[valueEnd - 1] == (byte)'\t'))
            {
                valueEnd--;
            }

            if (!IsFieldValue(line[valueStart..valueEnd]))
            {
                return -1;
            }

            headers[count++] = new HeaderSpan
            {
                NameStart = position,
                NameLength = colon,
                ValueStart = position + valueStart,
                ValueLength = valueEnd - valueStart,
            };
            position += lineLength + 2;
        }
    }

    /// <summary>A decimal Content-Length (digits only, as RFC 9110 requires); -1 when malformed or too large.</summary>
    public static long ParseContentLength(ReadOnlySpan<byte> value)
    {
        if (value.Length == 0 || value.Length > 18)
        {
            return -1;
        }

        long result = 0;
        foreach (var b in value)
        {
            var digit = b - (byte)'0';
            if ((uint)digit > 9)
            {
                return -1;
            }

            result = (result * 10) + digit;
        }

        return result;
    }

    /// <summary>Whether a comma-separated header value lists <paramref name="token"/> (case-insensitive).</summary>
    public static bool HasToken(ReadOnlySpan<byte> value, ReadOnlySpan<byte> token)
    {
        while (value.Length > 0)
        {
            var comma = value.IndexOf((byte)',');
            var item = comma < 0 ? value : value[..comma];
            item = item.Trim(" \t"u8);
            if (System.Text.Ascii.EqualsIgnoreCase(item, token))
            {
                return true;
            }

            if (comma < 0)
            {
                break;
            }

            value = value[(comma + 1)..];
        }

        return false;
    }

    /// <summary>RFC 9110 token characters.</summary>
    public static bool IsToken(ReadOnlySpan<byte> value)
    {
        if (value.Length >= VectorCheckFrom)
        {
            return value.IndexOfAnyExcept(s_tokenChars) < 0;
        }

        var table = TokenTable;
        foreach (var b in value)
        {
            if (table[b] == 0)
            {
                return false;
            }
        }

        return value.Length > 0;
    }

    /// <summary>No control character other than HTAB, and no DEL (RFC 9110 section 5.5).</summary>
    private static bool IsFieldValue(ReadOnlySpan<byte> value)
    {
        if (value.Length >= VectorCheckFrom)
        {
            return value.IndexOfAny(s_forbiddenInValue) < 0;
        }

        foreach (var b in value)
        {
            if ((b < 0x20 && b != (byte)'\t') || b == 0x7F)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>1 for the RFC 9110 token characters, by byte value.</summary>
    private static ReadOnlySpan<byte> TokenTable =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
        0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
}

/// <summary>
/// Follows a chunked body (RFC 9112 section 7.1) as its bytes pass through unchanged, to know where the message ends.
/// Chunk extensions are skipped; trailer lines pass through like the data.
/// </summary>
internal struct ChunkedScanner
{
    private const int Size = 0;
    private const int Extension = 1;
    private const int SizeLf = 2;
    private const int Data = 3;
    private const int DataCr = 4;
    private const int DataLf = 5;
    private const int TrailerStart = 6;
    private const int TrailerLine = 7;
    private const int TrailerLineLf = 8;
    private const int FinalLf = 9;
    private const int Done = 10;

    private int _state;
    private long _remaining;
    private int _sizeDigits;

    public readonly bool IsDone => _state == Done;

    /// <summary>
    /// Consumes bytes of the body; returns how many belong to it (fewer than given only when the body ended), or -1
    /// when the framing is invalid.
    /// </summary>
    public int Scan(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length && _state != Done)
        {
            var b = data[i];
            switch (_state)
            {
                case Size:
                    var digit = HexValue(b);
                    if (digit >= 0)
                    {
                        if (++_sizeDigits > 15)
                        {
                            return -1;
                        }

                        _remaining = (_remaining << 4) | (uint)digit;
                    }
                    else if (_sizeDigits == 0)
                    {
                        return -1;
                    }
                    else if (b == (byte)'\r')
                    {
                        _state = SizeLf;
                    }
                    else if (b == (byte)';' || b == (byte)' ' || b == (byte)'\t')
                    {
                        _state = Extension;
                    }
                    else
                    {
                        return -1;
                    }

                    i++;
                    break;
                case Extension:
                    if (b == (byte)'\r')
                    {
                        _state = SizeLf;
                    }
                    else if (b == (byte)'\n')
                    {
                        return -1;
                    }

                    i++;
                    break;
                case SizeLf:
                    if (b != (byte)'\n')
                    {
                        return -1;
                    }

                    i++;
                    _state = _remaining == 0 ? TrailerStart : Data;
                    break;
                case Data:
                    var take = (int)Math.Min(_remaining, data.Length - i);
                    i += take;
                    _remaining -= take;
                    if (_remaining == 0)
                    {
                        _state = DataCr;
                    }

                    break;
                case DataCr:
                    if (b != (byte)'\r')
                    {
                        return -1;
                    }

                    i++;
                    _state = DataLf;
                    break;
                case DataLf:
                    if (b != (byte)'\n')
                    {
                        return -1;
                    }

                    i++;
                    _state = Size;
                    _sizeDigits = 0;
                    _remaining = 0;
                    break;
                case TrailerStart:
                    i++;
                    _state = b == (byte)'\r' ? FinalLf : b == (byte)'\n' ? -1 : TrailerLine;
                    if (_state < 0)
                    {
                        return -1;
                    }

                    break;
                case TrailerLine:
                    if (b == (byte)'\r')
                    {
                        _state = TrailerLineLf;
                    }
                    else if (b == (byte)'\n')
                    {
                        return -1;
                    }

                    i++;
                    break;
                case TrailerLineLf:
                    if (b != (byte)'\n')
                    {
                        return -1;
                    }

                    i++;
                    _state = TrailerStart;
                    break;
                case FinalLf:
                    if (b != (byte)'\n')
                    {
                        return -1;
                    }

                    i++;
                    _state = Done;
                    break;
            }
        }

        return i;
    }

    /// <summary>A hex digit's value, -1 for any other byte (chunk sizes, here and in the HTTP/2 bridge).</summary>
    internal static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
