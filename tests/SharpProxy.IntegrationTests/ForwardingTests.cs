using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>HTTP/1.1 and h2c through the real proxy to HTTP/1.1 and HTTP/2 upstreams: bodies, trailers, forwarded headers.</summary>
public sealed class ForwardingTests(ForwardingProxyFixture fixture, ITestOutputHelper output) : IClassFixture<ForwardingProxyFixture>, IDisposable
{
    private ProxyTestBed Bed => fixture.Bed;

    public void Dispose()
    {
        try
        {
            output.WriteLine(fixture.Bed.Proxy.Describe(8 * 1024));
        }
        catch (InvalidOperationException)
        {
        }
    }

    [Fact]
    public async Task Get_Http1_ReachesV1WithMethodPathAndQuery()
    {
        using var client = Bed.CreateHttp1Client();

        using var response = await client.GetAsync("/some/path?x=1&y=two");
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal("v1", ProxyAssert.UpstreamLabel(response));
        Assert.Equal("v1", echo.Label);
        Assert.Equal("GET", echo.Method);
        Assert.Equal("/some/path?x=1&y=two", echo.Path);
        Assert.Equal("x=1&y=two", echo.Query);
        Assert.Equal("HTTP/1.1", echo.Protocol);
        Assert.Null(ProxyAssert.Flags(response));
    }

    [Fact]
    public async Task Post_Http1BodyWithContentLength_UpstreamReceivesWholeBody()
    {
        using var client = Bed.CreateHttp1Client();
        using var content = new PatternContent(1_048_583);

        using var response = await client.PostAsync("/sink", content);
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal("POST", echo.Method);
        Assert.Equal(1_048_583, echo.BodyLength);
        Assert.Equal(content.Sha256Hex, echo.BodySha256);
    }

    [Fact]
    public async Task Post_Http1ChunkedBody_UpstreamReceivesWholeBody()
    {
        using var client = Bed.CreateHttp1Client();
        using var content = new PatternContent(300_007, sendContentLength: false);

        using var response = await client.PostAsync("/sink", content);
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal(300_007, echo.BodyLength);
        Assert.Equal(content.Sha256Hex, echo.BodySha256);
    }

    [Fact]
    public async Task Get_H2cPriorKnowledgeToHttp1Upstream_Http2DownstreamHttp1Upstream()
    {
        using var client = Bed.CreateH2cClient();

        using var response = await client.GetAsync("/h2c-to-h1?q=1");
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/1.1", echo.Protocol);
        Assert.Equal("/h2c-to-h1?q=1", echo.Path);
        Assert.Equal("v1", echo.Label);
    }

    [Fact]
    public async Task Get_H2cPriorKnowledgeToHttp2Upstream_UpstreamSeesHttp2()
    {
        using var client = Bed.CreateH2cClient();
        using var request = client.CreateRequest(HttpMethod.Get, "/h2c-to-h2");
        request.Headers.Add(ConfigTemplates.UpstreamSelectorHeader, "h2");

        using var response = await client.SendAsync(request);
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2", echo.Protocol);
        Assert.Equal("/h2c-to-h2", echo.Path);
    }

    [Fact]
    public async Task Post_Http1ToHttp2Upstream_BodyArrivesOverHttp2()
    {
        using var client = Bed.CreateHttp1Client();
        using var content = new PatternContent(200_003);
        using var request = client.CreateRequest(HttpMethod.Post, "/h1-to-h2", content);
        request.Headers.Add(ConfigTemplates.UpstreamSelectorHeader, "h2");

        using var response = await client.SendAsync(request);
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal("HTTP/2", echo.Protocol);
        Assert.Equal(200_003, echo.BodyLength);
        Assert.Equal(content.Sha256Hex, echo.BodySha256);
    }

    [Fact]
    public async Task Post_H2cEcho_BodyStreamsBackIdentical()
    {
        using var client = Bed.CreateH2cClient();
        using var content = new PatternContent(2_000_003, sendContentLength: false);
        using var request = client.CreateRequest(HttpMethod.Post, "/echo", content);
        request.Headers.Add(ConfigTemplates.UpstreamSelectorHeader, "h2");

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
        await using var body = await response.Content.ReadAsStreamAsync();

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(2_000_003, await PatternReader.ReadAndVerifyAsync(body, CancellationToken.None));
    }

    [Fact]
    public async Task Post_Http1Echo_BodyStreamsBackIdentical()
    {
        using var client = Bed.CreateHttp1Client();
        using var content = new PatternContent(1_000_003);

        using var response = await client.PostAsync("/echo", content);
        await using var body = await response.Content.ReadAsStreamAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1_000_003, await PatternReader.ReadAndVerifyAsync(body, CancellationToken.None));
    }

    [Fact]
    public async Task Get_H2cBytesFromHttp2Upstream_PatternIntact()
    {
        using var client = Bed.CreateH2cClient();
        using var request = client.CreateRequest(HttpMethod.Get, "/bytes/3000017");
        request.Headers.Add(ConfigTemplates.UpstreamSelectorHeader, "h2");

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(3_000_017, await PatternReader.ReadAndVerifyAsync(body, CancellationToken.None));
    }

    [Fact]
    public async Task Get_TrailersFromHttp2UpstreamOverH2c_TrailerPassesThrough()
    {
        using var client = Bed.CreateH2cClient();
        using var request = client.CreateRequest(HttpMethod.Get, "/trailers");
        request.Headers.Add(ConfigTemplates.UpstreamSelectorHeader, "h2");

        using var response = await client.SendAsync(request);
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(EchoUpstream.TrailersBody, body);
        Assert.True(
            response.TrailingHeaders.TryGetValues(EchoUpstream.TrailerName, out var values),
            $"No '{EchoUpstream.TrailerName}' trailer; trailers: [{string.Join("; ", response.TrailingHeaders.Select(h => $"{h.Key}={string.Join(",", h.Value)}"))}]");
        Assert.Equal(EchoUpstream.TrailerValue, Assert.Single(values));
    }

    [Fact]
    public async Task Get_UpstreamReturns503_PassedThroughWithoutResponseFlags()
    {
        using var client = Bed.CreateHttp1Client();

        using var response = await client.GetAsync("/status/503");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, Bed.Proxy);

        Assert.Equal("v1", EchoResponse.Parse(body).Label);
        Assert.Null(ProxyAssert.Flags(response));
    }

    [Fact]
    public async Task Get_WithoutForwardingHeaders_ProxyAddsProtoAndRequestIdButNoXff()
    {
        using var client = Bed.CreateHttp1Client();

        using var response = await client.GetAsync("/forwarded");
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        // Envoy appends to x-forwarded-for only when use_remote_address is true; this listener leaves it at the default.
        Assert.Null(echo.Header("x-forwarded-for"));
        Assert.Equal("http", echo.Header("x-forwarded-proto"));
        var requestId = echo.Header("x-request-id");
        Assert.False(string.IsNullOrWhiteSpace(requestId), "x-request-id was not generated");
        Assert.True(Guid.TryParse(requestId, out _), $"x-request-id '{requestId}' is not a UUID as Envoy generates");
    }

    [Fact]
    public async Task Get_H2cWithoutRequestId_GeneratedIdsDifferPerRequest()
    {
        using var client = Bed.CreateH2cClient();
        var ids = new HashSet<string>(StringComparer.Ordinal);

        for (var i = 0; i < 5; i++)
        {
            using var response = await client.GetAsync($"/request-id/{i}");
            var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal("http", echo.Header("x-forwarded-proto"));
            ids.Add(echo.Header("x-request-id") ?? string.Empty);
        }

        Assert.DoesNotContain(string.Empty, ids);
        Assert.Equal(5, ids.Count);
    }

    [Fact]
    public async Task Get_WithRequestId_RequestIdKept()
    {
        using var client = Bed.CreateHttp1Client();
        using var request = client.CreateRequest(HttpMethod.Get, "/keep-id");
        request.Headers.Add("x-request-id", "test-request-id-0123456789");

        using var response = await client.SendAsync(request);
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal("test-request-id-0123456789", echo.Header("x-request-id"));
    }

    [Fact]
    public async Task Get_WithPriorXForwardedFor_PassedThroughUnchangedWithoutUseRemoteAddress()
    {
        using var client = Bed.CreateHttp1Client();
        using var request = client.CreateRequest(HttpMethod.Get, "/xff");
        request.Headers.Add("x-forwarded-for", "203.0.113.7");

        using var response = await client.SendAsync(request);
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal("203.0.113.7", echo.Header("x-forwarded-for"));
    }

    [Fact]
    public async Task Get_EdgeListenerWithoutXff_XffIsTheClientAddress()
    {
        // Listener "edge" sets use_remote_address: true, where Envoy appends the downstream address.
        using var client = TestHttp.Http1(await Bed.Proxy.GetListenerUriAsync(ConfigTemplates.EdgeListenerName));

        using var response = await client.GetAsync("/edge");
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal("127.0.0.1", echo.Header("x-forwarded-for"));
        Assert.Equal("http", echo.Header("x-forwarded-proto"));
        Assert.False(string.IsNullOrWhiteSpace(echo.Header("x-request-id")), "x-request-id was not generated");
    }

    [Fact]
    public async Task Get_EdgeListenerWithPriorXff_ClientAddressAppendedEnvoyStyle()
    {
        using var client = TestHttp.Http1(await Bed.Proxy.GetListenerUriAsync(ConfigTemplates.EdgeListenerName));
        using var request = client.CreateRequest(HttpMethod.Get, "/edge-xff");
        request.Headers.Add("x-forwarded-for", "203.0.113.7");

        using var response = await client.SendAsync(request);
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        // Envoy appends with "," and no space (Utility::appendXff).
        Assert.Equal("203.0.113.7,127.0.0.1", echo.Header("x-forwarded-for"));
    }

    [Fact]
    public async Task Get_HopByHopHeadersOnRawSocket_NotForwardedButTeTrailersKept()
    {
        var request =
            "GET /hop-by-hop HTTP/1.1\r\n" +
            $"Host: 127.0.0.1:{Bed.ListenerPort}\r\n" +
            "Connection: close\r\n" +
            "Keep-Alive: timeout=5, max=100\r\n" +
            "Proxy-Connection: keep-alive\r\n" +
            "TE: trailers\r\n" +
            "X-End-To-End: kept\r\n" +
            "\r\n";

        var response = await RawHttp.SendAsync(Bed.ListenerPort, request, TimeSpan.FromSeconds(15));

        Assert.True(response.StatusCode == 200, $"{response}\n{Bed.Proxy.Describe(8 * 1024)}");
        var echo = EchoResponse.Parse(response.BodyText);
        Assert.Null(echo.Header("keep-alive"));
        Assert.Null(echo.Header("proxy-connection"));
        Assert.DoesNotContain("close", echo.Header("connection") ?? string.Empty, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("trailers", echo.Header("te"));
        Assert.Equal("kept", echo.Header("x-end-to-end"));
    }

    [Fact]
    public async Task Get_TeOtherThanTrailersOnRawSocket_NotForwarded()
    {
        var request =
            "GET /te HTTP/1.1\r\n" +
            $"Host: 127.0.0.1:{Bed.ListenerPort}\r\n" +
            "TE: gzip\r\n" +
            "Connection: close\r\n" +
            "\r\n";

        var response = await RawHttp.SendAsync(Bed.ListenerPort, request, TimeSpan.FromSeconds(15));

        Assert.True(response.StatusCode == 200, $"{response}\n{Bed.Proxy.Describe(8 * 1024)}");
        Assert.Null(EchoResponse.Parse(response.BodyText).Header("te"));
    }

    [Fact]
    public async Task Get_EightConcurrentClientsMixedHttp1AndH2c_AllSucceed()
    {
        // --concurrency 2: eight downstream connections (worker binding is not observable here; every request must still work).
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var failures = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 8), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cts.Token }, async (i, ct) =>
        {
            // A client per loop: distinct downstream connections.
            using var client = i % 2 == 0 ? Bed.CreateHttp1Client() : Bed.CreateH2cClient();
            for (var j = 0; j < 25; j++)
            {
                using var response = await client.GetAsync($"/worker/{i}/{j}", ct);
                if (response.StatusCode != HttpStatusCode.OK || response.Version != client.DefaultRequestVersion || ProxyAssert.UpstreamLabel(response) != "v1")
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        Assert.Equal(0, failures);
    }
}
