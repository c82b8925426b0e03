using System.Globalization;
using System.Net;
using System.Text;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// HTTP/1.1 behaviour at the edges of the parser and the connection, which the HTTP/1.1 fast path implements itself.
/// This class runs in both test assemblies: with the fast path (SharpProxy.IntegrationTests) and without it
/// (SharpProxy.IntegrationTests.KestrelPath), and each asserts that its requests took the path it tests.
/// </summary>
public sealed class Http1PathTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    private static bool FastPathExpected => PathUnderTest.FastPath;

    [Fact]
    public async Task Requests_TakeTheConfiguredPath_CountedInStats()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        using var client = bed.CreateHttp1Client();
        for (var i = 0; i < 5; i++)
        {
            using var response = await client.GetAsync("/path/" + i);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy);
        }

        var (_, stats) = await bed.Proxy.AdminGetAsync("/stats");
        var served = StatsText.Value(stats, "http1_fast_path.rq_total");
        output.WriteLine($"fast path expected: {FastPathExpected}; http1_fast_path.rq_total: {served}");
        if (FastPathExpected)
        {
            Assert.Equal(5, served);
        }
        else
        {
            Assert.Equal(0, served);
        }
    }

    [Fact]
    public async Task Pipelined_ThreeRequestsInOneWrite_ThreeResponsesInOrder()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        var request = new StringBuilder();
        foreach (var path in new[] { "/first", "/second?x=1", "/third" })
        {
            request.Append("GET ").Append(path).Append(" HTTP/1.1\r\nHost: pipelined.test\r\n\r\n");
        }

        var responses = await RawHttp.SendPipelinedAsync(bed.ListenerPort, request.ToString(), 3, Timeout);

        Assert.All(responses, r => Assert.Equal(200, r.StatusCode));
        Assert.Equal("/first", EchoResponse.Parse(responses[0].BodyText).Path);
        Assert.StartsWith("/second", EchoResponse.Parse(responses[1].BodyText).Path, StringComparison.Ordinal);
        Assert.Contains("x=1", EchoResponse.Parse(responses[1].BodyText).Query, StringComparison.Ordinal);
        Assert.Equal("/third", EchoResponse.Parse(responses[2].BodyText).Path);
    }

    [Fact]
    public async Task PostWithBody_ThenGet_OnOneConnection_BodyArrivesIntactAndTheNextRequestIsParsed()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        const string Body = "0123456789abcdef";
        var request = $"POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: {Body.Length}\r\n\r\n{Body}GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n";

        var responses = await RawHttp.SendPipelinedAsync(bed.ListenerPort, request, 2, Timeout);

        Assert.Equal(200, responses[0].StatusCode);
        Assert.Equal(Body.Length, EchoResponse.Parse(responses[0].BodyText).BodyLength);
        Assert.Equal(200, responses[1].StatusCode);
        Assert.Equal("/after", EchoResponse.Parse(responses[1].BodyText).Path);
    }

    [Fact]
    public async Task ChunkedRequestBody_IsForwardedIntact()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        const string Request = "POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

        var response = await RawHttp.SendAsync(bed.ListenerPort, Request, Timeout);

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(11, EchoResponse.Parse(response.BodyText).BodyLength);
    }

    [Fact]
    public async Task KeepAlive_TwentyRequests_ReuseOneUpstreamConnection()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]), ["--concurrency", "1"]);
        using var client = bed.CreateHttp1Client(maxConnectionsPerServer: 1);
        for (var i = 0; i < 20; i++)
        {
            using var response = await client.GetAsync("/keepalive/" + i);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy);
        }

        Assert.Equal(1, bed.V1.ConnectionCount);
    }

    [Fact]
    public async Task ChunkedResponse_IsRelayedWhole()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));

        var response = await RawHttp.SendAsync(bed.ListenerPort, "GET /trailers HTTP/1.1\r\nHost: a.test\r\n\r\n", Timeout);

        Assert.Equal(200, response.StatusCode);
        Assert.Contains("chunked", response.Header("transfer-encoding") ?? "", StringComparison.OrdinalIgnoreCase);
        Assert.NotEmpty(response.Body);
    }

    [Theory]
    [InlineData("GET /a HTTP/1.1 extra\r\nHost: a.test\r\n\r\n")]
    [InlineData("GET /a HTTP/1.1\r\nHost : a.test\r\n\r\n")]
    [InlineData("GET /a HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1x\r\n\r\n")]
    [InlineData("GET /a HTTP/1.1\r\nHost: a.test\r\n folded\r\n\r\n")]
    public async Task MalformedRequest_Gets400(string request)
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));

        var response = await RawHttp.SendAsync(bed.ListenerPort, request, Timeout);

        output.WriteLine(response.ToString());
        Assert.Equal(400, response.StatusCode);
        Assert.Equal(0, bed.V1.RequestCount);
    }

    [Fact]
    public async Task HugeRequestHead_Gets431()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        var request = "GET /a HTTP/1.1\r\nHost: a.test\r\nx-big: " + new string('a', 70 * 1024) + "\r\n\r\n";

        var response = await RawHttp.SendAsync(bed.ListenerPort, request, Timeout);

        Assert.Equal(431, response.StatusCode);
        Assert.Equal(0, bed.V1.RequestCount);
    }

    [Fact]
    public async Task ConnectionNominatedHeader_IsNotForwarded()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        // One token: Kestrel keeps only "keep-alive" of a list such as "keep-alive, x-hop", so the Kestrel path can strip
        // a nominated header only when it is named alone; the fast path reads the raw list either way.
        const string Request = "GET /headers HTTP/1.1\r\nHost: a.test\r\nConnection: x-hop\r\nx-hop: secret\r\nx-end: kept\r\n\r\n";

        var response = await RawHttp.SendAsync(bed.ListenerPort, Request, Timeout);
        var echo = EchoResponse.Parse(response.BodyText);

        Assert.Equal(200, response.StatusCode);
        Assert.Null(echo.Header("x-hop"));
        Assert.Equal("kept", echo.Header("x-end"));
    }

    [Fact]
    public async Task ConnectionClose_ResponseSaysCloseAndTheConnectionCloses()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));

        // Read-to-close in RawHttp would hang if the proxy kept the connection open; the timeout bounds it.
        var responses = await RawHttp.SendPipelinedAsync(bed.ListenerPort, "GET /a HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n", 1, Timeout);

        Assert.Equal(200, responses[0].StatusCode);
        Assert.Equal("close", responses[0].Header("connection"), ignoreCase: true);
    }

    [Fact]
    public async Task ClientsThatCloseAfterOneRequest_LeaveNoSocketOpenInTheProxy()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        var fds = $"/proc/{bed.Proxy.ProcessId}/fd";
        await RawHttp.SendAsync(bed.ListenerPort, "GET /warm HTTP/1.1\r\nHost: a.test\r\n\r\n", Timeout);
        var before = Directory.GetFiles(fds).Length;

        // Each client reads its response and closes; the proxy must close its side too (not wait for a finalizer).
        for (var i = 0; i < 40; i++)
        {
            var response = await RawHttp.SendAsync(bed.ListenerPort, $"GET /c/{i} HTTP/1.1\r\nHost: a.test\r\n\r\n", Timeout);
            Assert.Equal(200, response.StatusCode);
        }

        var after = before;
        await Polling.UntilAsync(
            () =>
            {
                after = Directory.GetFiles(fds).Length;
                return after < before + 10;
            },
            TimeSpan.FromSeconds(10),
            "the proxy's descriptors to return near their count before 40 closed client connections");
        output.WriteLine($"descriptors before: {before}, after 40 closed connections: {after}");
    }

    [Fact]
    public async Task FastPathConnections_LiveOnTheWorkersEventLoop_AndLeaveItWhenClosed()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        var client = bed.CreateHttp1Client();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync("/loop/" + i);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy);
        }

        var (_, stats) = await bed.Proxy.AdminGetAsync("/stats");
        var loops = StatsText.Value(stats, "http1_fast_path.event_loops");
        var sockets = StatsText.Value(stats, "http1_fast_path.event_loop_sockets");
        output.WriteLine($"fast path expected: {FastPathExpected}; event loops: {loops}; sockets in them: {sockets}");
        if (!FastPathExpected)
        {
            Assert.Equal(0, loops);
            Assert.Equal(0, sockets);
            client.Dispose();
            return;
        }

        Assert.True(loops >= 1, "one event loop per worker");

        // The client's keep-alive connection and the pooled upstream connection that served its three requests.
        Assert.Equal(2, sockets);

        // The client's connection keeps one timeout on its loop (idle, route, per-try in turn); upstream ones none.
        Assert.Equal(1, StatsText.Value(stats, "http1_fast_path.event_loop_timers"));

        client.Dispose();
        await Polling.UntilAsync(
            async () =>
            {
                var (_, now) = await bed.Proxy.AdminGetAsync("/stats");
                sockets = StatsText.Value(now, "http1_fast_path.event_loop_sockets");
                return sockets == 1 && StatsText.Value(now, "http1_fast_path.event_loop_timers") == 0;
            },
            TimeSpan.FromSeconds(10),
            "the closed client connection to leave the event loop with its timeout (the idle upstream connection stays pooled)");
    }
}
