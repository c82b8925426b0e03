using System.Buffers;

namespace SharpProxy.Core.Http2;

/// <summary>The request side: a decoded header block, checked as RFC 9113 section 8 asks, as an HTTP/1.1 head.</summary>
internal sealed partial class Http2Stream
{
    private byte[] _pseudo = [];
    private int _pseudoLength;
    private Range _methodRange;
    private Range _pathRange;
    private Range _authorityRange;
    private bool _hasMethod;
    private bool _hasPath;
    private bool _hasAuthority;
    private bool _hasScheme;
    private bool _sawRegular;
    private byte[]? _cookies;
    private int _cookiesLength;

    private void ResetRequest()
    {
        _pseudoLength = 0;
        _hasMethod = _hasPath = _hasAuthority = _hasScheme = _sawRegular = false;
        _cookiesLength = 0;
        Malformed = null;
        NeedsTrailers = false;
        IsHeadRequest = false;
    }

    /// <summary>Why the header block is not a valid request (RST_STREAM PROTOCOL_ERROR), or null.</summary>
    internal string? Malformed { get; private set; }

    /// <summary>The request wants trailers (te: trailers, gRPC), which the HTTP/1.1 bridge cannot carry.</summary>
    internal bool NeedsTrailers { get; private set; }

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (Malformed is not null)
        {
            return;
        }

        if (value.IndexOfAny((byte)'\r', (byte)'\n', (byte)0) >= 0
            || (value.Length > 0 && (IsWhitespace(value[0]) || IsWhitespace(value[^1]))))
        {
            Malformed = "a field value holds CR, LF, NUL or surrounding whitespace";
            return;
        }

        if (name.Length > 0 && name[0] == (byte)':')
        {
            OnPseudoHeader(name, value);
            return;
        }

        if (!_sawRegular)
        {
            _sawRegular = true;
            if (!WriteRequestLine())
            {
                return;
            }
        }

        if (name.Length == 0 || !IsLowerCaseToken(name))
        {
            Malformed = "a field name is empty, upper case or not a token";
            return;
        }

        if (IsConnectionSpecific(name))
        {
            Malformed = "a connection-specific field";
            return;
        }

        switch (name.Length)
        {
            case 2 when name.SequenceEqual("te"u8):
                if (!value.SequenceEqual("trailers"u8))
                {
                    Malformed = "te other than trailers";
                    return;
                }

                NeedsTrailers = true;
                return;
            case 4 when name.SequenceEqual("host"u8) && _hasAuthority:
                // :authority wins; a client must not send a different host (RFC 9113 section 8.3.1).
                return;
            case 6 when name.SequenceEqual("cookie"u8):
                AppendCookie(value);
                return;
            case 12 when name.SequenceEqual("content-type"u8) && value.StartsWith("application/grpc"u8):
                NeedsTrailers = true;
                break;
            case 14 when name.SequenceEqual("content-length"u8):
                var length = Http1.Http1Parser.ParseContentLength(value);
                if (length < 0 || (DeclaredLength >= 0 && DeclaredLength != length))
                {
                    Malformed = "an invalid content-length";
                    return;
                }

                DeclaredLength = length;
                break;
        }

        AppendInput(name);
        AppendInput(": "u8);
        AppendInput(value);
        AppendInput("\r\n"u8);
    }

    private void OnPseudoHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (_sawRegular)
        {
            Malformed = "a pseudo-header after a regular field";
            return;
        }

        if (name.SequenceEqual(":method"u8) && !_hasMethod)
        {
            _hasMethod = true;
            _methodRange = StorePseudo(value);
        }
        else if (name.SequenceEqual(":path"u8) && !_hasPath)
        {
            _hasPath = true;
            _pathRange = StorePseudo(value);
        }
        else if (name.SequenceEqual(":authority"u8) && !_hasAuthority)
        {
            _hasAuthority = true;
            _authorityRange = StorePseudo(value);
        }
        else if (name.SequenceEqual(":scheme"u8) && !_hasScheme)
        {
            _hasScheme = true;
        }
        else
        {
            // Repeated, unknown, or :protocol (extended CONNECT is not offered: SETTINGS_ENABLE_CONNECT_PROTOCOL unsent).
            Malformed = "an unknown or repeated pseudo-header";
        }
    }

    /// <summary>
    /// After the whole block: the head's end, with the joined cookies, and the body's framing: its content-length, or
    /// chunked when the client neither ended the stream nor gave a length. False when malformed.
    /// </summary>
    internal bool CompleteHead(bool endStream)
    {
        if (Malformed is null && !_sawRegular)
        {
            _sawRegular = true;
            WriteRequestLine();
        }

        if (Malformed is null && endStream && DeclaredLength > 0)
        {
            Malformed = "a content-length with no body";
        }

        if (Malformed is not null)
        {
            return false;
        }

        if (endStream)
        {
            _inputEnded = true;
        }
        else if (DeclaredLength < 0)
        {
            ChunkedRequest = true;
            AppendInput("transfer-encoding: chunked\r\n"u8);
        }

        if (_cookiesLength > 0)
        {
            AppendInput("cookie: "u8);
            AppendInput(_cookies.AsSpan(0, _cookiesLength));
            AppendInput("\r\n"u8);
        }

        AppendInput("\r\n"u8);
        return true;
    }

    private bool WriteRequestLine()
    {
        if (!_hasMethod || !_hasPath || !_hasScheme)
        {
            Malformed = "a request without :method, :scheme or :path";
            return false;
        }

        var method = _pseudo.AsSpan(_methodRange);
        var path = _pseudo.AsSpan(_pathRange);
        if (method.SequenceEqual("CONNECT"u8))
        {
            Malformed = "CONNECT is not served";
            return false;
        }

        if (!Http1.Http1Parser.IsToken(method) || path.Length == 0 || (path[0] != (byte)'/' && !(path.Length == 1 && path[0] == (byte)'*'))
            || ContainsSpaceOrControl(path))
        {
            Malformed = "an invalid :method or :path";
            return false;
        }

        IsHeadRequest = method.SequenceEqual("HEAD"u8);
        AppendInput(method);
        AppendInput(" "u8);
        AppendInput(path);
        AppendInput(" HTTP/1.1\r\n"u8);
        if (_hasAuthority)
        {
            var authority = _pseudo.AsSpan(_authorityRange);
            if (authority.Length == 0 || ContainsSpaceOrControl(authority) || authority.IndexOf((byte)'@') >= 0)
            {
                Malformed = "an invalid :authority";
                return false;
            }

            AppendInput("host: "u8);
            AppendInput(authority);
            AppendInput("\r\n"u8);
        }

        return true;
    }

    /// <summary>Returns the pseudo-header and cookie scratch buffers (the stream is not reused).</summary>
    private void ReleaseRequestBuffers()
    {
        if (_cookies is not null)
        {
            ArrayPool<byte>.Shared.Return(_cookies);
            _cookies = null;
        }

        if (_pseudo.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_pseudo);
            _pseudo = [];
        }
    }

    private Range StorePseudo(ReadOnlySpan<byte> value)
    {
        if (_pseudoLength + value.Length > _pseudo.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(256, (_pseudoLength + value.Length) * 2));
            _pseudo.AsSpan(0, _pseudoLength).CopyTo(larger);
            if (_pseudo.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_pseudo);
            }

            _pseudo = larger;
        }

        value.CopyTo(_pseudo.AsSpan(_pseudoLength));
        var range = new Range(_pseudoLength, _pseudoLength + value.Length);
        _pseudoLength += value.Length;
        return range;
    }

    private void AppendCookie(ReadOnlySpan<byte> value)
    {
        // Cookie crumbs are joined with "; " for HTTP/1.1 (RFC 9113 section 8.2.3).
        var needed = _cookiesLength + value.Length + 2;
        if (_cookies is null || needed > _cookies.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(256, needed * 2));
            if (_cookies is not null)
            {
                _cookies.AsSpan(0, _cookiesLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_cookies);
            }

            _cookies = larger;
        }

        if (_cookiesLength > 0)
        {
            _cookies[_cookiesLength++] = (byte)';';
            _cookies[_cookiesLength++] = (byte)' ';
        }

        value.CopyTo(_cookies.AsSpan(_cookiesLength));
        _cookiesLength += value.Length;
    }

    private static bool IsWhitespace(byte b) => b == (byte)' ' || b == (byte)'\t';

    private static bool ContainsSpaceOrControl(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b <= 0x20 || b == 0x7f)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsLowerCaseToken(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (b is >= (byte)'A' and <= (byte)'Z')
            {
                return false;
            }
        }

        return Http1.Http1Parser.IsToken(name);
    }
}
