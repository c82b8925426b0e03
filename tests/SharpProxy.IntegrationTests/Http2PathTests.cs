using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Cleartext HTTP/2 clients through a listener whose routes lead to HTTP/1.1 clusters: served on the event loop's
/// HTTP/2 path (SharpProxy.IntegrationTests) or by Kestrel (SharpProxy.IntegrationTests.KestrelPath); each assembly
/// asserts its requests took the path it tests, and the answers are the same.
/// </summary>
public sealed class Http2PathTests(ITestOutputHelper output)
{
    private static bool FastPathExpected => PathUnderTest.FastPath;

    [Fact]
    public async Task H2cRequests_HeadersQueryAndBodiesArriveIntact_OnTheConfiguredPath()
    {
        await using var bed = await StartAsync();
        using var client = bed.CreateH2cClient();

        using (var request = client.CreateRequest(HttpMethod.Get, "/h2/get?x=1&y=two"))
        {
            request.Headers.Add("x-test", "alpha");
            request.Headers.Add("cookie", "a=1");
            using var response = await client.SendAsync(request);
            var echo = EchoResponse.Parse(await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy));
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.StartsWith("/h2/get", echo.Path, StringComparison.Ordinal);
            Assert.Contains("y=two", echo.Query, StringComparison.Ordinal);
            Assert.Equal("alpha", echo.Header("x-test"));
            Assert.Equal($"127.0.0.1:{bed.ListenerPort}", echo.Header("host"));
            Assert.Equal("a=1", echo.Header("cookie"));
        }

        // A body with a content-length: relayed as is.
        var payload = RandomNumberGenerator.GetBytes(300_001);
        using (var content = new ByteArrayContent(payload))
        {
            using var response = await client.PostAsync("/h2/post", content);
            var echo = EchoResponse.Parse(await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy));
            Assert.Equal(payload.Length, echo.BodyLength);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(payload)), echo.BodySha256, ignoreCase: true);
        }

        // A streamed body without a length (chunked on the HTTP/1.1 side), echoed back.
        using (var streamed = new PatternContent(1_000_003, sendContentLength: false))
        {
            using var response = await client.PostAsync("/echo", streamed);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync();
            Assert.Equal(1_000_003, await PatternReader.ReadAndVerifyAsync(body, CancellationToken.None));
        }

        // A large response: DATA frames paced by the client's flow-control windows.
        using (var response = await client.GetAsync("/bytes/3000017", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync();
            Assert.Equal(3_000_017, await PatternReader.ReadAndVerifyAsync(body, CancellationToken.None));
        }

        var (_, stats) = await bed.Proxy.AdminGetAsync("/stats");
        var streams = StatsText.Value(stats, "http2_fast_path.rq_total");
        output.WriteLine($"fast path expected: {FastPathExpected}; http2_fast_path.rq_total: {streams}");
        if (FastPathExpected)
        {
            Assert.Equal(4, streams);
        }
        else
        {
            Assert.Equal(0, streams);
        }
    }

    [Fact]
    public async Task HundredConcurrentStreams_OnOneConnection_EachGetsItsOwnAnswer()
    {
        await using var bed = await StartAsync();
        using var client = bed.CreateH2cClient();

        var requests = new Task<HttpResponseMessage>[100];
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i] = client.GetAsync("/stream/" + i.ToString(CultureInfo.InvariantCulture));
        }

        var responses = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(30));
        for (var i = 0; i < responses.Length; i++)
        {
            using var response = responses[i];
            var echo = EchoResponse.Parse(await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy));
            Assert.Equal("/stream/" + i.ToString(CultureInfo.InvariantCulture), echo.Path);
        }

        var (_, stats) = await bed.Proxy.AdminGetAsync("/stats");
        Assert.Equal(FastPathExpected ? 100 : 0, StatsText.Value(stats, "http2_fast_path.rq_total"));
    }

    [Fact]
    public async Task UploadsLargerThanTheConnectionWindow_OnTwoStreams_ArriveWhole()
    {
        // 2 x 10 MB through windows of a few MiB: the proxy must give the client its window back as it forwards. On the
        // fast path the upstream echoes each body as it reads it, so the response is relayed while the request body
        // still streams (full duplex: 10 MB do not fit in the buffers on the way). The Kestrel path forwards to an
        // HTTP/1.1 upstream with SocketsHttpHandler, which sends the whole body before it reads the response
        // (dotnet/corefx#27341): there the upstream reads each body whole before it answers with its length and digest.
        await using var bed = await StartAsync();
        using var client = bed.CreateH2cClient(TimeSpan.FromSeconds(60));

        async Task UploadAsync()
        {
            using var content = new PatternContent(10_000_019);
            if (FastPathExpected)
            {
                using var echoed = await client.PostAsync("/echo", content);
                Assert.Equal(HttpStatusCode.OK, echoed.StatusCode);
                await using var body = await echoed.Content.ReadAsStreamAsync();
                Assert.Equal(10_000_019, await PatternReader.ReadAndVerifyAsync(body, CancellationToken.None));
                return;
            }

            using var response = await client.PostAsync("/upload", content);
            var echo = EchoResponse.Parse(await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy));
            Assert.Equal(10_000_019, echo.BodyLength);
            Assert.Equal(PatternContent.ComputeSha256Hex(10_000_019), echo.BodySha256, ignoreCase: true);
        }

        await Task.WhenAll(UploadAsync(), UploadAsync()).WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task HeadAndNoContentResponses_EndTheStreamWithoutABody()
    {
        await using var bed = await StartAsync();
        using var client = bed.CreateH2cClient();

        using (var head = client.CreateRequest(HttpMethod.Head, "/h2/head"))
        {
            using var response = await client.SendAsync(head);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        }

        using (var response = await client.GetAsync("/status/204"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        }

        // The connection still serves after both.
        using (var response = await client.GetAsync("/after"))
        {
            Assert.Equal("/after", EchoResponse.Parse(await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy)).Path);
        }
    }

    [Fact]
    public async Task UpstreamHeadWithHopByHopFieldsAndChunkedOverContentLength_ReachesTheH2ClientClean()
    {
        // The fast path turns an upstream HTTP/1.1 head into HEADERS directly (no HTTP/1.1 head written for the stream to
        // parse again): the fields an HTTP/1.1 hop would drop must be dropped here too, and transfer-encoding chunked
        // wins over a content-length (RFC 9112 6.3), whose value would otherwise contradict the body.
        const string Response =
            "HTTP/1.1 200 OK\r\n" +
            "x-first: 1\r\n" +
            "connection: keep-alive\r\n" +
            "keep-alive: timeout=5\r\n" +
            "proxy-connection: keep-alive\r\n" +
            "upgrade: h2c\r\n" +
            "set-cookie: a=1\r\n" +
            "content-length: 999\r\n" +
            "transfer-encoding: chunked\r\n" +
            "set-cookie: b=2\r\n" +
            "x-last: z\r\n" +
            "\r\n" +
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        await using var upstream = CannedUpstream.Start(Response);
        // The canary bed's routes lead to HTTP/1.1 clusters only (an HTTP/2 cluster would keep HTTP/2 on Kestrel); both
        // of its clusters lead to the canned upstream here.
        await using var bed = await ProxyTestBed.StartAsync(
            [],
            _ => ConfigWriter.Write(ConfigTemplates.Canary, ("V1_HTTP1_PORT", upstream.Port), ("V2_HTTP1_PORT", upstream.Port)));
        using var client = bed.CreateH2cClient();

        for (var i = 0; i < 2; i++)
        {
            using var response = await client.GetAsync("/canned");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal("hello world", await response.Content.ReadAsStringAsync());
            Assert.Equal(["1"], response.Headers.GetValues("x-first"));
            Assert.Equal(["z"], response.Headers.GetValues("x-last"));
            Assert.Equal(["a=1", "b=2"], response.Headers.GetValues("set-cookie"));
            foreach (var hop in new[] { "connection", "keep-alive", "proxy-connection", "upgrade", "transfer-encoding" })
            {
                Assert.False(response.Headers.Contains(hop), hop);
            }

            Assert.NotEqual(999, response.Content.Headers.ContentLength);
        }

        var (_, stats) = await bed.Proxy.AdminGetAsync("/stats");
        Assert.Equal(FastPathExpected ? 2 : 0, StatsText.Value(stats, "http2_fast_path.rq_total"));
    }

    /// <summary>The canary bed: two HTTP/1.1 clusters (a route to an HTTP/2 cluster would keep HTTP/2 on Kestrel).</summary>
    private static Task<ProxyTestBed> StartAsync() =>
        ProxyTestBed.StartAsync(["v1", "v2"], u => ConfigTemplates.WriteCanary(u[0], u[1]));

    /// <summary>A raw HTTP/1.1 upstream that answers every request head with the same bytes, keeping the connection.</summary>
    private sealed class CannedUpstream : IAsyncDisposable
    {
        private readonly byte[] _response;
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        private CannedUpstream(string response)
        {
            _response = Encoding.Latin1.GetBytes(response);
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static CannedUpstream Start(string response) => new(response);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            var served = new List<Task>();
            try
            {
                while (true)
                {
                    served.Add(ServeAsync(await _listener.AcceptSocketAsync(_stop.Token)));
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
            var buffer = new byte[16 * 1024];
            var length = 0;
            try
            {
                while (true)
                {
                    var headEnd = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8);
                    if (headEnd < 0)
                    {
                        var read = length < buffer.Length ? await socket.ReceiveAsync(buffer.AsMemory(length), _stop.Token) : 0;
                        if (read == 0)
                        {
                            return;
                        }

                        length += read;
                        continue;
                    }

                    // GET requests only: nothing follows the head.
                    buffer.AsSpan(headEnd + 4, length - headEnd - 4).CopyTo(buffer);
                    length -= headEnd + 4;
                    await socket.SendAsync(_response, _stop.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                // The proxy closed the connection, or the upstream stops.
            }
        }
    }
}
