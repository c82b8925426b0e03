using System.Globalization;
using System.Net;
using System.Security.Cryptography;
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

    /// <summary>The canary bed: two HTTP/1.1 clusters (a route to an HTTP/2 cluster would keep HTTP/2 on Kestrel).</summary>
    private static Task<ProxyTestBed> StartAsync() =>
        ProxyTestBed.StartAsync(["v1", "v2"], u => ConfigTemplates.WriteCanary(u[0], u[1]));
}
