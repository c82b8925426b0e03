using System.Buffers;
using SharpProxy.Core.Http1;

namespace SharpProxy.Core.Http2;

/// <summary>The response side: the HTTP/1.1 response the fast path (or Kestrel) writes, as HEADERS and DATA frames.</summary>
internal sealed partial class Http2Stream
{
    private enum BodyKind
    {
        Head,
        None,
        Length,
        Chunked,
        UntilClose,
        Done,
    }

    private enum ChunkState
    {
        Size,
        SizeLf,
        Extension,
        Data,
        DataCr,
        DataLf,
        TrailerLineStart,
        TrailerLine,
        TrailerEndLf,
    }

    private readonly HeaderSpan[] _responseSpans = new HeaderSpan[Http1Parser.MaxHeaders];
    private byte[] _head = [];
    private int _headLength;
    private byte[] _block = [];
    private BodyKind _body = BodyKind.Head;
    private long _remaining;
    private ChunkState _chunk;
    private bool _aborted;
    private bool _closed;

    /// <summary>The request was HEAD: a response has no body whatever its headers say.</summary>
    internal bool IsHeadRequest { get; set; }

    /// <summary>Our final response ended (END_STREAM sent or the stream reset).</summary>
    internal bool ResponseDone => _body == BodyKind.Done;

    public ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        while (data.Length > 0)
        {
            if (_aborted || _closed)
            {
                return ValueTask.FromException(new ObjectDisposedException(nameof(Http2Stream), "the HTTP/2 stream was reset or its connection closed"));
            }

            var consumed = Convert(data.Span, out var blocked);
            if (consumed < 0)
            {
                _connection.ResetStream(this, Http2Connection.InternalError);
                return ValueTask.FromException(new IOException("the response could not be framed for HTTP/2"));
            }

            data = data[consumed..];
            if (blocked)
            {
                return SendBlockedAsync(data, cancellationToken);
            }
        }

        _connection.RequestFlush();
        return default;
    }

    private async ValueTask SendBlockedAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (true)
        {
            _connection.RequestFlush();
            await _connection.WaitForSendCreditAsync(this, cancellationToken).ConfigureAwait(false);
            while (data.Length > 0)
            {
                if (_aborted || _closed)
                {
                    throw new ObjectDisposedException(nameof(Http2Stream), "the HTTP/2 stream was reset or its connection closed");
                }

                var consumed = Convert(data.Span, out var blocked);
                if (consumed < 0)
                {
                    _connection.ResetStream(this, Http2Connection.InternalError);
                    throw new IOException("the response could not be framed for HTTP/2");
                }

                data = data[consumed..];
                if (blocked)
                {
                    break;
                }
            }

            if (data.Length == 0)
            {
                _connection.RequestFlush();
                return;
            }
        }
    }

    /// <summary>
    /// Consumes HTTP/1.1 response bytes; returns how many (-1 when they are not a valid response), with
    /// <paramref name="blocked"/> set when flow control stopped it before the end.
    /// </summary>
    private int Convert(ReadOnlySpan<byte> data, out bool blocked)
    {
        blocked = false;
        var position = 0;
        while (position < data.Length)
        {
            switch (_body)
            {
                case BodyKind.Head:
                {
                    var taken = TakeHead(data[position..], out var complete);
                    if (taken < 0)
                    {
                        return -1;
                    }

                    position += taken;
                    if (complete && !EmitHeaders())
                    {
                        return -1;
                    }

                    break;
                }

                case BodyKind.Length:
                {
                    var length = (int)Math.Min(_remaining, data.Length - position);
                    var sent = _connection.WriteData(this, data.Slice(position, length), endStream: length == _remaining);
                    position += sent;
                    _remaining -= sent;
                    if (_remaining == 0)
                    {
                        _body = BodyKind.Done;
                    }
                    else if (sent < length)
                    {
                        blocked = true;
                        return position;
                    }

                    break;
                }

                case BodyKind.UntilClose:
                {
                    var sent = _connection.WriteData(this, data[position..], endStream: false);
                    position += sent;
                    if (position < data.Length)
                    {
                        blocked = true;
                        return position;
                    }

                    break;
                }

                case BodyKind.Chunked:
                {
                    var step = ChunkStep(data[position..], out var stepBlocked);
                    if (step < 0)
                    {
                        return -1;
                    }

                    position += step;
                    if (stepBlocked)
                    {
                        blocked = true;
                        return position;
                    }

                    break;
                }

                default:
                    // Done or None: anything after the response (it should not come) is ignored.
                    return data.Length;
            }
        }

        return position;
    }

    /// <summary>Collects the head up to its empty line; returns the bytes taken from <paramref name="data"/>.</summary>
    private int TakeHead(ReadOnlySpan<byte> data, out bool complete)
    {
        complete = false;

        // The end may straddle two writes: search from up to three bytes before the new ones.
        var searchFrom = Math.Max(0, _headLength - 3);
        var needed = Math.Min(data.Length, MaxHeadBytes - _headLength);
        if (needed <= 0)
        {
            return -1;
        }

        EnsureHead(_headLength + needed);
        data[..needed].CopyTo(_head.AsSpan(_headLength));
        var end = _head.AsSpan(searchFrom, _headLength + needed - searchFrom).IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            _headLength += needed;
            return needed;
        }

        var headEnd = searchFrom + end + 4;
        var taken = headEnd - _headLength;
        _headLength = headEnd;
        complete = true;
        return taken;
    }

    private void EnsureHead(int size)
    {
        if (size > _head.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(size, _head.Length * 2));
            Buffer.BlockCopy(_head, 0, larger, 0, _headLength);
            ArrayPool<byte>.Shared.Return(_head);
            _head = larger;
        }
    }

    /// <summary>Turns the collected HTTP/1.1 head into a HEADERS frame and chooses the body framing.</summary>
    private bool EmitHeaders()
    {
        var head = _head.AsSpan(0, _headLength);
        _headLength = 0;
        if (!Http1Parser.TryParseStatusLine(head, out var status, out _, out var lineEnd))
        {
            return false;
        }

        var count = Http1Parser.ParseHeaders(head, lineEnd, _responseSpans);
        if (count < 0)
        {
            return false;
        }

        return EmitHeaders(status, head, _responseSpans.AsSpan(0, count), dropContentLength: false);
    }

    /// <summary>
    /// The response head as HEADERS straight from an upstream HTTP/1.1 head the fast path parsed (no response header
    /// rules apply), instead of an HTTP/1.1 head written for this stream to parse again. Hop-by-hop fields are left
    /// out as the HTTP/1.1 writer would; <paramref name="chunked"/> is the upstream's framing, whose content-length (if
    /// any) is dropped. False when the stream cannot take it (reset, closed, or not at the start of its response).
    /// </summary>
    internal bool TryWriteResponseHead(int status, ReadOnlySpan<byte> head, ReadOnlySpan<HeaderSpan> headers, bool chunked)
    {
        if (_aborted || _closed || _body != BodyKind.Head || _headLength != 0 || status < 200)
        {
            return false;
        }

        return EmitHeaders(status, head, headers, dropContentLength: chunked);
    }

    private bool EmitHeaders(int status, ReadOnlySpan<byte> head, ReadOnlySpan<HeaderSpan> headers, bool dropContentLength)
    {
        long contentLength = -1;
        var chunked = false;
        var written = 0;
        while (true)
        {
            var size = HpackEncoder.EncodeStatus(status, _block.AsSpan(written));
            if (size >= 0)
            {
                written += size;
                break;
            }

            GrowBlock();
        }

        Span<byte> lower = stackalloc byte[256];
        foreach (ref readonly var span in headers)
        {
            var name = head.Slice(span.NameStart, span.NameLength);
            var value = head.Slice(span.ValueStart, span.ValueLength);
            // What an HTTP/1.1 hop drops (te and http2-settings too, besides the connection-specific fields HTTP/2 forbids).
            if (Upstream.HeaderRules.IsHopByHop(name))
            {
                if (name.Length == 17 && System.Text.Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
                {
                    chunked = Http1Parser.HasToken(value, "chunked"u8);
                }

                continue;
            }

            if (name.Length == 14 && System.Text.Ascii.EqualsIgnoreCase(name, "content-length"u8))
            {
                if (dropContentLength)
                {
                    continue;
                }

                contentLength = Http1Parser.ParseContentLength(value);
            }

            var lowered = name.Length <= lower.Length ? lower[..name.Length] : new byte[name.Length];
            System.Text.Ascii.ToLower(name, lowered, out _);
            while (true)
            {
                var size = HpackEncoder.EncodeHeader(lowered, value, _block.AsSpan(written));
                if (size >= 0)
                {
                    written += size;
                    break;
                }

                GrowBlock();
            }
        }

        if (status < 200)
        {
            // 1xx: an interim HEADERS (never for 101: upgrades never reach an HTTP/2 stream); the final head follows.
            _connection.WriteHeaders(this, _block.AsSpan(0, written), endStream: false);
            _body = BodyKind.Head;
            return status != 101;
        }

        if (IsHeadRequest || status == 204 || status == 304 || contentLength == 0)
        {
            _body = BodyKind.Done;
            _connection.WriteHeaders(this, _block.AsSpan(0, written), endStream: true);
            return true;
        }

        _connection.WriteHeaders(this, _block.AsSpan(0, written), endStream: false);
        if (chunked)
        {
            _body = BodyKind.Chunked;
            _chunk = ChunkState.Size;
            _remaining = 0;
        }
        else if (contentLength > 0)
        {
            _body = BodyKind.Length;
            _remaining = contentLength;
        }
        else
        {
            _body = BodyKind.UntilClose;
        }

        return true;
    }

    private void GrowBlock()
    {
        var larger = ArrayPool<byte>.Shared.Rent(_block.Length * 2);
        Buffer.BlockCopy(_block, 0, larger, 0, _block.Length);
        ArrayPool<byte>.Shared.Return(_block);
        _block = larger;
    }

    /// <summary>HTTP/1.1 hop-by-hop fields that HTTP/2 forbids (RFC 9113 section 8.2.2).</summary>
    internal static bool IsConnectionSpecific(ReadOnlySpan<byte> name) => name.Length switch
    {
        10 => System.Text.Ascii.EqualsIgnoreCase(name, "connection"u8) || System.Text.Ascii.EqualsIgnoreCase(name, "keep-alive"u8),
        16 => System.Text.Ascii.EqualsIgnoreCase(name, "proxy-connection"u8),
        17 => System.Text.Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8),
        7 => System.Text.Ascii.EqualsIgnoreCase(name, "upgrade"u8),
        _ => false,
    };

    /// <summary>One step of chunked decoding; chunk data goes out as DATA. Returns the bytes consumed, -1 if malformed.</summary>
    private int ChunkStep(ReadOnlySpan<byte> data, out bool blocked)
    {
        blocked = false;
        var position = 0;
        while (position < data.Length)
        {
            var b = data[position];
            switch (_chunk)
            {
                case ChunkState.Size:
                    if (ChunkedScanner.HexValue(b) is var digit and >= 0)
                    {
                        if (_remaining > (long.MaxValue >> 4))
                        {
                            return -1;
                        }

                        _remaining = (_remaining << 4) | (uint)digit;
                    }
                    else if (b == (byte)'\r')
                    {
                        _chunk = ChunkState.SizeLf;
                    }
                    else if (b == (byte)';' || b == (byte)' ' || b == (byte)'\t')
                    {
                        _chunk = ChunkState.Extension;
                    }
                    else
                    {
                        return -1;
                    }

                    position++;
                    break;
                case ChunkState.Extension:
                    if (b == (byte)'\r')
                    {
                        _chunk = ChunkState.SizeLf;
                    }

                    position++;
                    break;
                case ChunkState.SizeLf:
                    if (b != (byte)'\n')
                    {
                        return -1;
                    }

                    position++;
                    _chunk = _remaining == 0 ? ChunkState.TrailerLineStart : ChunkState.Data;
                    break;
                case ChunkState.Data:
                {
                    var length = (int)Math.Min(_remaining, data.Length - position);
                    var sent = _connection.WriteData(this, data.Slice(position, length), endStream: false);
                    position += sent;
                    _remaining -= sent;
                    if (_remaining == 0)
                    {
                        _chunk = ChunkState.DataCr;
                    }
                    else if (sent < length)
                    {
                        blocked = true;
                        return position;
                    }

                    break;
                }

                case ChunkState.DataCr:
                    if (b != (byte)'\r')
                    {
                        return -1;
                    }

                    position++;
                    _chunk = ChunkState.DataLf;
                    break;
                case ChunkState.DataLf:
                    if (b != (byte)'\n')
                    {
                        return -1;
                    }

                    position++;
                    _chunk = ChunkState.Size;
                    break;
                case ChunkState.TrailerLineStart:
                    // Trailers are not forwarded (an HTTP/2 client asking for them is served by Kestrel).
                    position++;
                    _chunk = b == (byte)'\r' ? ChunkState.TrailerEndLf : ChunkState.TrailerLine;
                    break;
                case ChunkState.TrailerLine:
                    if (b == (byte)'\n')
                    {
                        _chunk = ChunkState.TrailerLineStart;
                    }

                    position++;
                    break;
                case ChunkState.TrailerEndLf:
                    if (b != (byte)'\n')
                    {
                        return -1;
                    }

                    position++;
                    _body = BodyKind.Done;
                    _connection.WriteData(this, default, endStream: true);
                    return position;
            }
        }

        return position;
    }

    /// <summary>
    /// The fast path (or Kestrel) is done with the stream: a body that runs until close ends here; an unfinished
    /// response is reset; a client still sending is told to stop (RST_STREAM NO_ERROR, RFC 9113 section 8.1).
    /// </summary>
    private void Close()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        if (!_aborted)
        {
            if (_body == BodyKind.UntilClose)
            {
                _body = BodyKind.Done;
                _connection.WriteData(this, default, endStream: true);
            }

            if (_body != BodyKind.Done)
            {
                _connection.ResetStream(this, Http2Connection.InternalError);
            }
            else if (!_inputEnded)
            {
                _connection.ResetStream(this, Http2Connection.NoError);
            }
        }

        _connection.RequestFlush();
        _connection.OnStreamClosed(this);
    }

    private void ResetResponse()
    {
        if (_head.Length == 0)
        {
            _head = ArrayPool<byte>.Shared.Rent(2048);
        }

        if (_block.Length == 0)
        {
            _block = ArrayPool<byte>.Shared.Rent(2048);
        }

        _headLength = 0;
        _body = BodyKind.Head;
        _remaining = 0;
        _chunk = ChunkState.Size;
        _aborted = false;
        _closed = false;
    }

    private void ReleaseResponseBuffers()
    {
        if (_head.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_head);
            _head = [];
        }

        if (_block.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = [];
        }
    }
}
