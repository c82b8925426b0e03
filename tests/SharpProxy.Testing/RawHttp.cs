using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SharpProxy.Testing;

/// <summary>An HTTP/1.x response read off a raw socket.</summary>
public sealed record RawHttpResponse(string StatusLine, int StatusCode, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) =>
        Headers.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    public override string ToString() =>
        $"{StatusLine}\n{string.Join('\n', Headers.Select(h => $"{h.Key}: {h.Value}"))}\n\n{(BodyText.Length > 2000 ? BodyText[..2000] + "..." : BodyText)}";
}

/// <summary>
/// Sends bytes exactly as given on a raw TCP connection to 127.0.0.1 and parses one HTTP/1.x response
/// (Content-Length, chunked, or read-to-close). For malformed requests and hop-by-hop header tests
/// that an HttpClient would refuse or rewrite.
/// </summary>
public static class RawHttp
{
    public const int MaxResponseBytes = 16 * 1024 * 1024;

    public static async Task<RawHttpResponse> SendAsync(int port, string request, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var cts = new CancellationTokenSource(timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cts.Token).ConfigureAwait(false);
        await stream.FlushAsync(cts.Token).ConfigureAwait(false);
        try
        {
            return await ReadResponseAsync(stream, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"No complete HTTP response from 127.0.0.1:{port} within {timeout.TotalSeconds:F0} s.");
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> (several requests back to back: HTTP/1.1 pipelining) in one write and reads
    /// <paramref name="responses"/> responses off the same connection, in order.
    /// </summary>
    public static async Task<IReadOnlyList<RawHttpResponse>> SendPipelinedAsync(int port, string request, int responses, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var cts = new CancellationTokenSource(timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cts.Token).ConfigureAwait(false);
        await stream.FlushAsync(cts.Token).ConfigureAwait(false);
        var reader = new BufferedReader(stream);
        var result = new List<RawHttpResponse>(responses);
        try
        {
            for (var i = 0; i < responses; i++)
            {
                result.Add(await ReadResponseAsync(reader, cts.Token).ConfigureAwait(false));
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Only {result.Count} of {responses} responses from 127.0.0.1:{port} within {timeout.TotalSeconds:F0} s.");
        }

        return result;
    }

    /// <summary>One response from an open connection (keep-alive tests send the next request on the same stream).</summary>
    public static Task<RawHttpResponse> ReadResponseAsync(Stream stream, CancellationToken cancellationToken) =>
        ReadResponseAsync(new BufferedReader(stream), cancellationToken);

    private static async Task<RawHttpResponse> ReadResponseAsync(BufferedReader reader, CancellationToken cancellationToken)
    {
        var statusLine = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new IOException("The connection closed before a status line.");
        var parts = statusLine.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/", StringComparison.Ordinal)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            throw new InvalidDataException($"Not an HTTP status line: '{statusLine}'.");
        }

        var headers = new List<KeyValuePair<string, string>>();
        for (var i = 0; i < 1000; i++)
        {
            var line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new IOException("The connection closed inside the response headers.");
            if (line.Length == 0)
            {
                break;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new InvalidDataException($"Malformed response header line: '{line}'.");
            }

            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        var response = new RawHttpResponse(statusLine, status, headers, []);
        byte[] body;
        if (status is (>= 100 and < 200) or 204 or 304)
        {
            body = [];
        }
        else if (response.Header("transfer-encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
        {
            body = await reader.ReadChunkedAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (response.Header("content-length") is { } lengthText)
        {
            var length = int.Parse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture);
            if (length > MaxResponseBytes)
            {
                throw new InvalidDataException($"Response body of {length} bytes is larger than the test limit.");
            }

            body = await reader.ReadExactlyAsync(length, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            body = await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        }

        return response with { Body = body };
    }

    private sealed class BufferedReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;

        public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            var line = new List<byte>(128);
            while (line.Count < 64 * 1024)
            {
                if (_start == _end && !await FillAsync(cancellationToken).ConfigureAwait(false))
                {
                    return line.Count == 0 ? null : throw new IOException("The connection closed inside a line.");
                }

                var b = _buffer[_start++];
                if (b == (byte)'\n')
                {
                    if (line.Count > 0 && line[^1] == (byte)'\r')
                    {
                        line.RemoveAt(line.Count - 1);
                    }

                    return Encoding.Latin1.GetString(line.ToArray());
                }

                line.Add(b);
            }

            throw new InvalidDataException("Line longer than 64 KiB.");
        }

        public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken)
        {
            var result = new byte[count];
            var filled = 0;
            while (filled < count)
            {
                if (_start == _end && !await FillAsync(cancellationToken).ConfigureAwait(false))
                {
                    throw new IOException($"The connection closed after {filled} of {count} body bytes.");
                }

                var take = Math.Min(count - filled, _end - _start);
                Array.Copy(_buffer, _start, result, filled, take);
                _start += take;
                filled += take;
            }

            return result;
        }

        public async Task<byte[]> ReadChunkedAsync(CancellationToken cancellationToken)
        {
            using var body = new MemoryStream();
            for (var i = 0; i < 1_000_000; i++)
            {
                var sizeLine = await ReadLineAsync(cancellationToken).ConfigureAwait(false)
                    ?? throw new IOException("The connection closed before a chunk size.");
                var semicolon = sizeLine.IndexOf(';', StringComparison.Ordinal);
                var size = int.Parse(semicolon < 0 ? sizeLine.Trim() : sizeLine[..semicolon].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    // Trailer section, ended by an empty line.
                    for (var t = 0; t < 1000; t++)
                    {
                        var trailer = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
                        if (string.IsNullOrEmpty(trailer))
                        {
                            break;
                        }
                    }

                    return body.ToArray();
                }

                if (body.Length + size > MaxResponseBytes)
                {
                    throw new InvalidDataException("Chunked response body larger than the test limit.");
                }

                var chunk = await ReadExactlyAsync(size, cancellationToken).ConfigureAwait(false);
                body.Write(chunk);
                _ = await ReadLineAsync(cancellationToken).ConfigureAwait(false); // CRLF after the chunk
            }

            throw new InvalidDataException("Too many chunks.");
        }

        public async Task<byte[]> ReadToEndAsync(CancellationToken cancellationToken)
        {
            using var body = new MemoryStream();
            body.Write(_buffer, _start, _end - _start);
            _start = _end;
            while (await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                body.Write(_buffer, _start, _end - _start);
                _start = _end;
                if (body.Length > MaxResponseBytes)
                {
                    throw new InvalidDataException("Response body larger than the test limit.");
                }
            }

            return body.ToArray();
        }

        private async Task<bool> FillAsync(CancellationToken cancellationToken)
        {
            _start = 0;
            try
            {
                _end = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
            {
                _end = 0;
            }

            return _end > 0;
        }
    }
}
