using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Request bodies are forwarded full duplex: the response is read and relayed while the body is still being sent, so
/// an upstream that answers before it has read the whole body (an early 413, an echo larger than the socket buffers)
/// does not wait on the proxy. Linked into SharpProxy.IntegrationTests.KestrelPath, where they are skipped: the Kestrel
/// path forwards to an HTTP/1.1 upstream with SocketsHttpHandler, which sends the whole request body before it reads the
/// response (dotnet/corefx#27341), so that path is half duplex for HTTP/1.1 upstreams.
/// </summary>
public sealed class DuplexBodyTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [FastPathFact]
    public async Task EarlyResponse_413AfterTheHeadOnly_WhileTheClientStillSends_ClientGetsItAndTheProxyStaysHealthy()
    {
        await using var upstream = EarlyAnswerUpstream.Start();
        await using var bed = await ProxyTestBed.StartAsync(
            ["v1"],
            u => ConfigWriter.Write(ConfigTemplates.Forwarding, ("V1_HTTP1_PORT", upstream.Port), ("V1_HTTP2_PORT", u[0].Http2Port)));

        // 256 MiB: far more than the socket buffers between client, proxy and upstream hold, and the upstream never reads
        // the body. A proxy that reads the response only after the whole body waits until the bound.
        const long BodyBytes = 256L * 1024 * 1024;
        using var cts = new CancellationTokenSource(Bound);
        await using var stream = await StartPostAsync(bed.ListenerPort, "/too-large", "early.test", BodyBytes, cts.Token);
        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var progress = new StrongBox<long>();
        var sending = SendPatternAsync(stream, BodyBytes, stopSending.Token, progress);

        RawHttpResponse response;
        long sentWhenAnswered;
        try
        {
            response = await RawHttp.ReadResponseAsync(stream, cts.Token);
            sentWhenAnswered = Volatile.Read(ref progress.Value);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"no response within {Bound.TotalSeconds:F0} s while the body was still being sent ({sending.Status}); proxy output:\n{bed.Proxy.Output}");
        }

        await stopSending.CancelAsync();
        var sent = await sending;
        output.WriteLine($"client had sent {sentWhenAnswered} of {BodyBytes} body bytes when the response was read, {sent} before it stopped; response:\n{response}");
        Assert.Equal(413, response.StatusCode);
        Assert.Equal(EarlyAnswerUpstream.Body, response.BodyText);

        // The upstream never reads the body, so until the response the client's sends stall once the buffers on the way
        // are full. (After the response the proxy reads and discards the rest for up to a second, Envoy's delayed close,
        // so the total sent can reach the whole body.)
        Assert.True(sentWhenAnswered < BodyBytes, "the response came before the client could send the whole body");
        // Envoy: a response that starts before the request is complete closes an HTTP/1.1 connection (connection: close).
        Assert.Equal("close", response.Header("connection"));

        // The proxy serves the next request, on a new connection to the upstream.
        using var client = bed.CreateHttp1Client(Bound);
        using var next = await client.GetAsync("/after", cts.Token);
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(2, upstream.Connections);
    }

    [FastPathFact]
    public async Task Echo_SeveralMegabytesEachWay_LargerThanTheSocketBuffers_ArrivesWhole()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        using var cts = new CancellationTokenSource(Bound);

        // The upstream writes each piece back as it reads it: 24 MB cannot sit in the buffers on the way. The client sends
        // and reads at once (HttpClient's HTTP/1.1 waits for its upload to finish before it reads a response body).
        const long BodyBytes = 24_000_017;
        for (var round = 0; round < 2; round++)
        {
            await using var stream = await StartPostAsync(bed.ListenerPort, "/echo", "echo.test", BodyBytes, cts.Token);
            var sending = SendPatternAsync(stream, BodyBytes, cts.Token);
            var received = await ReadEchoPrefixAsync(stream, BodyBytes, cts.Token, bed.Proxy);
            Assert.Equal(BodyBytes, await sending);
            Assert.Equal(BodyBytes, received);
        }

        var (_, stats) = await bed.Proxy.AdminGetAsync("/stats");
        output.WriteLine($"http1_fast_path.rq_total: {StatsText.Value(stats, "http1_fast_path.rq_total")}");
        Assert.Equal(2, StatsText.Value(stats, "http1_fast_path.rq_total"));
    }

    [FastPathFact]
    public async Task ClientAbortsMidBody_WhileTheResponseIsRelayed_TheUpstreamRequestEndsAndTheProxyStaysHealthy()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        using var cts = new CancellationTokenSource(Bound);
        const long DeclaredBytes = 32L * 1024 * 1024;
        const long SentBytes = 4L * 1024 * 1024;
        await using (var stream = await StartPostAsync(bed.ListenerPort, "/echo", "abort.test", DeclaredBytes, cts.Token))
        {
            var sending = SendPatternAsync(stream, SentBytes, cts.Token);

            // The echo of the first megabyte comes back while the body is still on its way.
            var received = await ReadEchoPrefixAsync(stream, 1024 * 1024, cts.Token, bed.Proxy);
            output.WriteLine($"read {received} echoed bytes; aborting mid-body");
            await sending;
            stream.Socket.LingerState = new LingerOption(true, 0);
        }

        // The proxy ends the upstream request (it closes that connection) and serves the next one.
        await Polling.UntilAsync(() => bed.V1.InFlightCount == 0, Bound, "the upstream request ends after the client aborted");
        using var client = bed.CreateHttp1Client(Bound);
        using var next = await client.GetAsync("/after", cts.Token);
        await ProxyAssert.EchoAsync(next, bed.Proxy);
    }

    [Fact]
    public async Task RouteTimeout_StartsWhenTheBodyHasArrived_ATrickledBodyIsServedAndAStalledUpstreamStillTimesOut()
    {
        // /delay/ has a 0.5 s route timeout. A body trickled over about 1.2 s must not be cut by it (Envoy starts the
        // route timeout at the end of the request); an upstream that then waits 3 s must still be timed out (504 UT).
        var accessLog = Path.Combine(Path.GetTempPath(), "sharpproxy-duplex-" + Guid.NewGuid().ToString("N") + ".log");
        var closedPort = await TcpProbe.GetClosedPortAsync();
        try
        {
            await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteLocalReplies(u[0], closedPort, accessLog));
            const int Pieces = 4;
            const int PieceBytes = 64 * 1024;

            var served = await TrickleAsync(bed.ListenerPort, "/delay/0", Pieces, PieceBytes);
            output.WriteLine(served.ToString());
            Assert.Equal(200, served.StatusCode);
            Assert.Equal(Pieces * PieceBytes, EchoResponse.Parse(served.BodyText).BodyLength);

            var timedOut = await TrickleAsync(bed.ListenerPort, "/delay/3000", Pieces, PieceBytes);
            output.WriteLine(timedOut.ToString());
            Assert.Equal(504, timedOut.StatusCode);
            if (PathUnderTest.FastPath)
            {
                Assert.Equal("UT", timedOut.Header("x-sharpproxy-response-flags"));
            }
        }
        finally
        {
            File.Delete(accessLog);
        }
    }

    [FastPathFact]
    public async Task UpstreamResetsMidBody_ClientGets503AndTheProxyStaysHealthy()
    {
        await using var upstream = EarlyAnswerUpstream.Start();
        await using var bed = await ProxyTestBed.StartAsync(
            ["v1"],
            u => ConfigWriter.Write(ConfigTemplates.Forwarding, ("V1_HTTP1_PORT", upstream.Port), ("V1_HTTP2_PORT", u[0].Http2Port)));
        const long BodyBytes = 16L * 1024 * 1024;
        using var cts = new CancellationTokenSource(Bound);
        await using var stream = await StartPostAsync(bed.ListenerPort, EarlyAnswerUpstream.ResetPath, "reset.test", BodyBytes, cts.Token);
        using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var sending = SendPatternAsync(stream, BodyBytes, stopSending.Token);

        var response = await RawHttp.ReadResponseAsync(stream, cts.Token);
        await stopSending.CancelAsync();
        output.WriteLine($"client sent {await sending} body bytes; response:\n{response}");
        Assert.Equal(503, response.StatusCode);
        Assert.Equal("close", response.Header("connection"));

        using var client = bed.CreateHttp1Client(Bound);
        using var next = await client.GetAsync("/after", cts.Token);
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    /// <summary>POSTs <paramref name="pieces"/> x <paramref name="pieceBytes"/> pattern bytes, 400 ms apart, and reads the response.</summary>
    private static async Task<RawHttpResponse> TrickleAsync(int port, string path, int pieces, int pieceBytes)
    {
        using var cts = new CancellationTokenSource(Bound);
        await using var stream = await StartPostAsync(port, path, "trickle.test", (long)pieces * pieceBytes, cts.Token);
        var buffer = new byte[pieceBytes];
        for (var i = 0; i < pieces; i++)
        {
            if (i > 0)
            {
                await Task.Delay(400, cts.Token);
            }

            TestPattern.Fill(buffer, (long)i * pieceBytes);
            await stream.WriteAsync(buffer, cts.Token);
        }

        return await RawHttp.ReadResponseAsync(stream, cts.Token);
    }

    /// <summary>
    /// A raw client connection to 127.0.0.1:<paramref name="port"/> that has sent the head of a POST declaring
    /// <paramref name="contentLength"/> body bytes, and nothing of the body; disposing the stream closes the socket.
    /// </summary>
    private static async Task<NetworkStream> StartPostAsync(int port, string path, string host, long contentLength, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
            var stream = new NetworkStream(socket, ownsSocket: true);
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {contentLength}\r\n\r\n"), cancellationToken);
            return stream;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends up to <paramref name="count"/> pattern bytes; returns how many went out before an error or cancellation.
    /// <paramref name="progress"/>, when given, holds the count so far (read it while the sender runs).
    /// </summary>
    private static async Task<long> SendPatternAsync(Stream stream, long count, CancellationToken cancellationToken, StrongBox<long>? progress = null)
    {
        var buffer = new byte[64 * 1024];
        long sent = 0;
        try
        {
            while (sent < count)
            {
                var piece = (int)Math.Min(buffer.Length, count - sent);
                TestPattern.Fill(buffer.AsSpan(0, piece), sent);
                await stream.WriteAsync(buffer.AsMemory(0, piece), cancellationToken);
                sent += piece;
                if (progress is not null)
                {
                    Volatile.Write(ref progress.Value, sent);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The proxy stopped reading (closed after its response) or the test stopped sending.
        }

        return sent;
    }

    /// <summary>Reads the response head and at least <paramref name="atLeast"/> body bytes, checking them against the pattern.</summary>
    private static async Task<long> ReadEchoPrefixAsync(Stream stream, long atLeast, CancellationToken cancellationToken, ProxyProcess proxy)
    {
        var buffer = new byte[64 * 1024];
        var head = new MemoryStream();
        var headSeen = false;
        long body = 0;
        try
        {
            while (body < atLeast)
            {
                var read = await stream.ReadAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    throw new IOException("the proxy closed the connection before the echo came back");
                }

                if (headSeen)
                {
                    Assert.Equal(-1, TestPattern.FindMismatch(buffer.AsSpan(0, read), body));
                    body += read;
                    continue;
                }

                head.Write(buffer, 0, read);
                var text = Encoding.Latin1.GetString(head.GetBuffer(), 0, (int)head.Length);
                var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0)
                {
                    continue;
                }

                headSeen = true;
                Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
                var first = head.GetBuffer().AsSpan(end + 4, (int)head.Length - end - 4);
                Assert.Equal(-1, TestPattern.FindMismatch(first, 0));
                body = first.Length;
            }

            return body;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the echo did not come back while the body was being sent; proxy output:\n{proxy.Output}");
        }
    }

    /// <summary>
    /// A raw HTTP/1.1 upstream that answers as soon as it has a request head, never reading a body: 413 with
    /// connection: close for a POST, 200 for anything else. It keeps each connection open until the proxy closes it
    /// (or it is disposed), like a server that has said its piece and waits for the peer to go. A POST to
    /// <see cref="ResetPath"/> is answered with a reset (RST) after 256 KiB of its body instead.
    /// </summary>
    private sealed class EarlyAnswerUpstream : IAsyncDisposable
    {
        public const string Body = "request body too large\n";

        public const string ResetPath = "/reset-mid-body";

        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;
        private int _connections;

        private EarlyAnswerUpstream()
        {
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Connections => Volatile.Read(ref _connections);

        public static EarlyAnswerUpstream Start() => new();

        private async Task AcceptAsync()
        {
            var served = new List<Task>();
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    Interlocked.Increment(ref _connections);
                    served.Add(ServeAsync(socket));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped.
            }

            await Task.WhenAll(served);
        }

        private async Task ServeAsync(Socket socket)
        {
            using var _ = socket;
            try
            {
                // The first reads may carry body bytes after the head too: they stay unread, like the rest.
                var buffer = new byte[64 * 1024];
                var length = 0;
                while (Encoding.Latin1.GetString(buffer, 0, length).IndexOf("\r\n\r\n", StringComparison.Ordinal) < 0)
                {
                    if (length == buffer.Length)
                    {
                        return;
                    }

                    var read = await socket.ReceiveAsync(buffer.AsMemory(length), _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    length += read;
                }

                var post = Encoding.ASCII.GetString(buffer, 0, 5) == "POST ";
                if (Encoding.ASCII.GetString(buffer, 0, length).StartsWith("POST " + ResetPath + " ", StringComparison.Ordinal))
                {
                    for (var read = length; read < 256 * 1024;)
                    {
                        var more = await socket.ReceiveAsync(buffer, _stop.Token);
                        if (more == 0)
                        {
                            return;
                        }

                        read += more;
                    }

                    socket.LingerState = new LingerOption(true, 0);
                    return;
                }

                var response = post
                    ? $"HTTP/1.1 413 Payload Too Large\r\ncontent-type: text/plain\r\ncontent-length: {Body.Length.ToString(CultureInfo.InvariantCulture)}\r\nconnection: close\r\n\r\n{Body}"
                    : "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n";
                await socket.SendAsync(Encoding.ASCII.GetBytes(response), _stop.Token);
                if (!post)
                {
                    socket.Shutdown(SocketShutdown.Both);
                    return;
                }

                // Not a byte of the body is read; the proxy is expected to close this connection.
                await Task.Delay(Timeout.Infinite, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped, or the proxy went away.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting.WaitAsync(TimeSpan.FromSeconds(10));
            _stop.Dispose();
        }
    }
}

/// <summary>A test of the HTTP/1.1 fast path's own behaviour: skipped where the assembly tests the Kestrel path.</summary>
internal sealed class FastPathFactAttribute : FactAttribute
{
    public FastPathFactAttribute()
    {
        if (!PathUnderTest.FastPath)
        {
            Skip = "the Kestrel path forwards HTTP/1.1 request bodies half duplex (SocketsHttpHandler sends the body before reading the response)";
        }
    }
}
