using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Http1;

/// <summary>The response side of the fast path: read the upstream head, rewrite it, relay the body with its own framing.</summary>
internal sealed partial class Http1Connection
{
    private const int LargeBodyBufferSize = 64 * 1024;

    private int _upstreamHeadEnd;
    private int _upstreamStatus;
    private int _upstreamHeaderCount;

    private enum BodyFraming
    {
        None,
        Fixed,
        Chunked,
        UntilClose,
    }

    /// <summary>
    /// Reads the final response head into the upstream buffer (interim 1xx heads are dropped). False when the connection
    /// closed before sending a single byte (a reused connection the upstream had already closed). <paramref name="received"/>
    /// is what the caller already read of this response.
    /// </summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<bool> ReadResponseHeadAsync(Http1UpstreamConnection upstream, int received)
    {
        while (true)
        {
            if (upstream.End > upstream.Start)
            {
                var available = upstream.Buffer.AsSpan(upstream.Start, upstream.End - upstream.Start);
                var headEnd = Http1Parser.FindHeadEnd(available);
                if (headEnd >= 0)
                {
                    var head = available[..headEnd];
                    if (!Http1Parser.TryParseStatusLine(head, out var status, out var minor, out var lineEnd))
                    {
                        throw new InvalidDataException("malformed upstream status line");
                    }

                    if (status is >= 100 and < 200)
                    {
                        if (status == 101)
                        {
                            throw new InvalidDataException("upstream switched protocols without an upgrade request");
                        }

                        // An interim response (103 Early Hints, a stray 100 Continue): the final one follows.
                        upstream.Start += headEnd;
                        continue;
                    }

                    var count = Http1Parser.ParseHeaders(head, lineEnd, _upstreamSpans);
                    if (count < 0)
                    {
                        throw new InvalidDataException("malformed upstream response headers");
                    }

                    _upstreamHeadEnd = headEnd;
                    _upstreamStatus = status;
                    _upstreamHeaderCount = count;
                    _upstreamMinor = minor;
                    return true;
                }

                if (upstream.Start == 0 && upstream.End == upstream.Buffer.Length)
                {
                    throw new InvalidDataException("upstream response head larger than " + upstream.Buffer.Length + " bytes");
                }
            }

            if (upstream.Start > 0)
            {
                Buffer.BlockCopy(upstream.Buffer, upstream.Start, upstream.Buffer, 0, upstream.End - upstream.Start);
                upstream.End -= upstream.Start;
                upstream.Start = 0;
            }

            var read = await upstream.Socket.ReceiveAsync(upstream.Buffer.AsMemory(upstream.End), _timer.Token).ConfigureAwait(false);
            if (!TakeUpstreamRead(upstream, read, ref received))
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Adds a read of the response head to the upstream buffer. False when a reused connection closed before sending a
    /// single byte (the upstream had closed it meanwhile: the request goes once more on a new one).
    /// </summary>
    private static bool TakeUpstreamRead(Http1UpstreamConnection upstream, int read, ref int received)
    {
        if (read == 0)
        {
            if (received == 0 && upstream.Requests > 1)
            {
                return false;
            }

            throw new IOException("upstream closed the connection before a complete response head");
        }

        received += read;
        upstream.End += read;
        return true;
    }

    private int _upstreamMinor;

    /// <summary>Writes the response head downstream and relays the body. Returns whether the upstream connection can be reused.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<bool> RelayResponseAsync(
        Http1UpstreamConnection upstream, string? setCookie, bool responseMutations,
        RouteTableConfig table, VirtualHostConfig vhost, RouteConfig route, WeightedClusterConfig? weighted)
    {
        var head = upstream.Buffer.AsSpan(upstream.Start, _upstreamHeadEnd);
        long contentLength = -1;
        var chunked = false;
        var transferEncoding = false;
        var upstreamClose = _upstreamMinor == 0;
        for (var i = 0; i < _upstreamHeaderCount; i++)
        {
            ref readonly var span = ref _upstreamSpans[i];
            var name = head.Slice(span.NameStart, span.NameLength);
            var value = head.Slice(span.ValueStart, span.ValueLength);
            if (name.Length == 14 && Ascii.EqualsIgnoreCase(name, "content-length"u8))
            {
                var length = Http1Parser.ParseContentLength(value);
                if (length < 0 || (contentLength >= 0 && length != contentLength))
                {
                    throw new InvalidDataException("invalid upstream content-length");
                }

                contentLength = length;
            }
            else if (name.Length == 17 && Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
            {
                transferEncoding = true;
                var trimmed = value.TrimEnd(" \t"u8);
                chunked = trimmed.Length >= 7 && Ascii.EqualsIgnoreCase(trimmed[^7..], "chunked"u8);
            }
            else if (name.Length == 10 && Ascii.EqualsIgnoreCase(name, "connection"u8))
            {
                if (Http1Parser.HasToken(value, "close"u8))
                {
                    upstreamClose = true;
                }
                else if (_upstreamMinor == 0 && Http1Parser.HasToken(value, "keep-alive"u8))
                {
                    upstreamClose = false;
                }
            }
        }

        if (transferEncoding && !chunked)
        {
            // A transfer coding other than chunked last: the length is unknowable (RFC 9112 6.3).
            throw new InvalidDataException("upstream transfer-encoding does not end in chunked");
        }

        var framing = ReferenceEquals(_method, "HEAD") || _upstreamStatus is 204 or 304 ? BodyFraming.None
            : chunked ? BodyFraming.Chunked
            : contentLength >= 0 ? BodyFraming.Fixed
            : BodyFraming.UntilClose;
        // A response that starts before the client has sent the whole body ends an HTTP/1.1 connection (Envoy's connection
        // manager: connection: close when the request is not remote-complete at the response head; an HTTP/2 stream is
        // ended by the stream itself, with RST_STREAM NO_ERROR if the client is still sending).
        if (framing == BodyFraming.UntilClose || _owner.Draining || (Volatile.Read(ref _bodyToStream) > 0 && _socket is not Http2.Http2Stream))
        {
            _closeAfterResponse = true;
        }

        int headLength;
        if (!responseMutations && _socket is Http2.Http2Stream stream)
        {
            // An HTTP/2 stream takes the upstream head's fields as HEADERS directly: no HTTP/1.1 head written here only
            // for the stream to parse it again. The body follows as before (headLength 0).
            WriteResponseHeadToStream(stream, head, chunked);
            headLength = 0;
        }
        else
        {
            headLength = WriteResponseHead(head, chunked, contentLength, setCookie, responseMutations, table, vhost, route, weighted);
        }

        _log.ResponseStartTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_keepResponseHead)
        {
            // The access log reads response headers after the body has reused the upstream buffer: keep a copy.
            KeepResponseHead(head);
        }

        upstream.Start += _upstreamHeadEnd;
        _status = _upstreamStatus;

        var reusable = !upstreamClose && framing != BodyFraming.UntilClose;
        switch (framing)
        {
            case BodyFraming.None:
                await SendDownstreamAsync(_out.AsMemory(0, headLength)).ConfigureAwait(false);
                return reusable && upstream.Start == upstream.End;
            case BodyFraming.Fixed:
                return await RelayFixedAsync(upstream, headLength, contentLength).ConfigureAwait(false) && reusable;
            case BodyFraming.Chunked:
                return await RelayChunkedAsync(upstream, headLength).ConfigureAwait(false) && reusable;
            default:
                await RelayUntilCloseAsync(upstream, headLength).ConfigureAwait(false);
                return false;
        }
    }

    /// <summary>Writes the HTTP/1.1 response head into _out[0..]; returns its length.</summary>
    private int WriteResponseHead(
        ReadOnlySpan<byte> head, bool chunked, long contentLength, string? setCookie, bool responseMutations,
        RouteTableConfig table, VirtualHostConfig vhost, RouteConfig route, WeightedClusterConfig? weighted)
    {
        var writer = new AsciiWriter(_out, 0);
        writer.StatusLine(_upstreamStatus);
        if (responseMutations)
        {
            WriteMutatedHeaders(ref writer, head, setCookie, table, vhost, route, weighted);
            if (chunked)
            {
                writer.Raw("transfer-encoding: chunked\r\n"u8);
            }
            else if (contentLength >= 0)
            {
                writer.Header("content-length"u8, contentLength);
            }
        }
        else
        {
            for (var i = 0; i < _upstreamHeaderCount; i++)
            {
                ref readonly var span = ref _upstreamSpans[i];
                var name = head.Slice(span.NameStart, span.NameLength);
                if (Upstream.HeaderRules.IsHopByHop(name) || (chunked && name.Length == 14 && Ascii.EqualsIgnoreCase(name, "content-length"u8)))
                {
                    continue;
                }

                writer.Raw(head[span.NameStart..(span.ValueStart + span.ValueLength)]);
                writer.Raw("\r\n"u8);
            }

            if (chunked)
            {
                writer.Raw("transfer-encoding: chunked\r\n"u8);
            }
        }

        if (_closeAfterResponse)
        {
            writer.Raw("connection: close\r\n"u8);
        }

        writer.Raw("\r\n"u8);
        _out = writer.Buffer;
        return writer.Length;
    }

    private void WriteResponseHeadToStream(Http2.Http2Stream stream, ReadOnlySpan<byte> head, bool chunked)
    {
        _responseStarted = true;
        bool written;
        try
        {
            written = stream.TryWriteResponseHead(_upstreamStatus, head, _upstreamSpans.AsSpan(0, _upstreamHeaderCount), chunked);
        }
        catch
        {
            _downstreamFailed = true;
            throw;
        }

        if (!written)
        {
            // Reset or closed meanwhile (the client cancelled the stream): as a failed send would be.
            _downstreamFailed = true;
            throw new ObjectDisposedException(nameof(Http2.Http2Stream), "the HTTP/2 stream was reset or its connection closed");
        }
    }

    private void WriteMutatedHeaders(ref AsciiWriter writer, ReadOnlySpan<byte> head, string? setCookie, RouteTableConfig table, VirtualHostConfig vhost, RouteConfig route, WeightedClusterConfig? weighted)
    {
        var headers = _responseHeaders;
        headers.Clear();
        for (var i = 0; i < _upstreamHeaderCount; i++)
        {
            ref readonly var span = ref _upstreamSpans[i];
            var nameBytes = head.Slice(span.NameStart, span.NameLength);
            if (Upstream.HeaderRules.IsHopByHop(nameBytes)
                || (nameBytes.Length == 14 && Ascii.EqualsIgnoreCase(nameBytes, "content-length"u8)))
            {
                continue;
            }

            var name = Encoding.Latin1.GetString(nameBytes);
            var value = Encoding.Latin1.GetString(head.Slice(span.ValueStart, span.ValueLength));
            headers.Append(name, value);
        }

        HeaderMutator.ApplyResponse(headers, table, vhost, route, weighted);
        if (setCookie is not null)
        {
            // Envoy adds the generated cookie to the upstream response (Filter::addDownstreamSetCookie).
            headers.Append("set-cookie", setCookie);
        }

        foreach (var header in headers)
        {
            foreach (var value in header.Value)
            {
                writer.Header(header.Key, value ?? "");
            }
        }
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<bool> RelayFixedAsync(Http1UpstreamConnection upstream, int headLength, long contentLength)
    {
        var available = upstream.End - upstream.Start;
        var first = (int)Math.Min(available, contentLength);
        await SendHeadWithBodyAsync(upstream, headLength, first).ConfigureAwait(false);
        var remaining = contentLength - first;
        var clean = available == first;

        // A large body moves in 64 KiB pieces (four times fewer system calls each way than the connection's buffer).
        var large = remaining > upstream.Buffer.Length ? ArrayPool<byte>.Shared.Rent(LargeBodyBufferSize) : null;
        try
        {
            var buffer = large ?? upstream.Buffer;
            while (remaining > 0)
            {
                var read = await ReceiveUpstreamAsync(upstream, buffer).ConfigureAwait(false);
                var forBody = (int)Math.Min(read, remaining);
                await SendDownstreamAsync(buffer.AsMemory(0, forBody)).ConfigureAwait(false);
                _log.BytesSent += forBody;
                remaining -= forBody;
                clean = forBody == read;
            }
        }
        finally
        {
            if (large is not null)
            {
                ArrayPool<byte>.Shared.Return(large);
            }
        }

        // Bytes after the body that nobody asked for: the connection's framing is not to be trusted any more.
        return clean;
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<bool> RelayChunkedAsync(Http1UpstreamConnection upstream, int headLength)
    {
        var scanner = default(ChunkedScanner);
        var available = upstream.End - upstream.Start;
        var first = scanner.Scan(upstream.Buffer.AsSpan(upstream.Start, available));
        if (first < 0)
        {
            throw new InvalidDataException("malformed upstream chunked body");
        }

        await SendHeadWithBodyAsync(upstream, headLength, first).ConfigureAwait(false);
        var clean = first == available;
        while (!scanner.IsDone)
        {
            var read = await ReceiveUpstreamAsync(upstream, upstream.Buffer).ConfigureAwait(false);
            var forBody = scanner.Scan(upstream.Buffer.AsSpan(0, read));
            if (forBody < 0)
            {
                throw new InvalidDataException("malformed upstream chunked body");
            }

            await SendDownstreamAsync(upstream.Buffer.AsMemory(0, forBody)).ConfigureAwait(false);
            _log.BytesSent += forBody;
            clean = forBody == read;
        }

        return clean;
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder))]
    private async ValueTask RelayUntilCloseAsync(Http1UpstreamConnection upstream, int headLength)
    {
        await SendHeadWithBodyAsync(upstream, headLength, upstream.End - upstream.Start).ConfigureAwait(false);
        while (true)
        {
            int read;
            try
            {
                read = await upstream.Socket.ReceiveAsync(upstream.Buffer.AsMemory(), _timer.Token).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return;
            }

            if (read == 0)
            {
                return;
            }

            await SendDownstreamAsync(upstream.Buffer.AsMemory(0, read)).ConfigureAwait(false);
            _log.BytesSent += read;
        }
    }

    /// <summary>The response head and the first <paramref name="bodyBytes"/> already read, in one send when small.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder))]
    private async ValueTask SendHeadWithBodyAsync(Http1UpstreamConnection upstream, int headLength, int bodyBytes)
    {
        if (bodyBytes > 0 && bodyBytes <= CoalesceLimit && headLength + bodyBytes <= _out.Length)
        {
            Buffer.BlockCopy(upstream.Buffer, upstream.Start, _out, headLength, bodyBytes);
            await SendDownstreamAsync(_out.AsMemory(0, headLength + bodyBytes)).ConfigureAwait(false);
        }
        else
        {
            await SendDownstreamAsync(_out.AsMemory(0, headLength)).ConfigureAwait(false);
            if (bodyBytes > 0)
            {
                await SendDownstreamAsync(upstream.Buffer.AsMemory(upstream.Start, bodyBytes)).ConfigureAwait(false);
            }
        }

        _log.BytesSent += bodyBytes;
        upstream.Start += bodyBytes;
    }

    /// <summary>Reads the next piece of the body into the start of <paramref name="buffer"/>; an early close is an error.</summary>
    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder<>))]
    private async ValueTask<int> ReceiveUpstreamAsync(Http1UpstreamConnection upstream, byte[] buffer)
    {
        upstream.Start = upstream.End = 0;
        var read = await upstream.Socket.ReceiveAsync(buffer.AsMemory(), _timer.Token).ConfigureAwait(false);
        if (read == 0)
        {
            throw new IOException("upstream closed the connection mid-body");
        }

        return read;
    }

    [AsyncMethodBuilder(typeof(ReusableAsyncBuilder))]
    private async ValueTask SendDownstreamAsync(ReadOnlyMemory<byte> data)
    {
        _responseStarted = true;
        try
        {
            await _socket.SendAsync(data).ConfigureAwait(false);
        }
        catch
        {
            _downstreamFailed = true;
            throw;
        }
    }
}
