using System.Diagnostics;
using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>Envoy-like local replies: status, <c>x-sharpproxy-response-flags</c> and Envoy's body text; never a hang or crash.</summary>
public sealed class LocalReplyTests(LocalRepliesProxyFixture fixture, ITestOutputHelper output) : IClassFixture<LocalRepliesProxyFixture>, IDisposable
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
    public async Task Get_NoRoute_Returns404WithFlagNR()
    {
        using var client = Bed.CreateHttp1Client();

        using var response = await client.GetAsync("/no/route/here");
        await ProxyAssert.StatusAsync(HttpStatusCode.NotFound, response, Bed.Proxy);

        Assert.Equal("NR", ProxyAssert.Flags(response));
        Assert.Null(ProxyAssert.UpstreamLabel(response));
    }

    [Fact]
    public async Task Get_NoRouteOverH2c_Returns404WithFlagNR()
    {
        using var client = Bed.CreateH2cClient();

        using var response = await client.GetAsync("/no/route/h2");
        await ProxyAssert.StatusAsync(HttpStatusCode.NotFound, response, Bed.Proxy);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("NR", ProxyAssert.Flags(response));
    }

    [Fact]
    public async Task Get_ClusterWithoutEndpoints_Returns503WithFlagUH()
    {
        using var client = Bed.CreateHttp1Client();

        using var response = await client.GetAsync("/uh");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, Bed.Proxy);

        Assert.Equal("UH", ProxyAssert.Flags(response));
        Assert.Equal("no healthy upstream", body);
    }

    [Fact]
    public async Task Get_UpstreamPortClosed_Returns503WithFlagUF()
    {
        using var client = Bed.CreateHttp1Client();
        var stopwatch = Stopwatch.StartNew();

        using var response = await client.GetAsync("/uf");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, Bed.Proxy);
        stopwatch.Stop();

        Assert.Equal("UF", ProxyAssert.Flags(response));
        Assert.StartsWith("upstream connect error or disconnect/reset before headers. reset reason: connection failure", body, StringComparison.Ordinal);
        // Refused on loopback is immediate; well inside the 1 s connect_timeout plus slack.
        Assert.InRange(stopwatch.ElapsedMilliseconds, 0, 5_000);
    }

    [Fact]
    public async Task Get_UpstreamSlowerThanRouteTimeout_Returns504WithFlagUT()
    {
        using var client = Bed.CreateHttp1Client();
        var stopwatch = Stopwatch.StartNew();

        using var response = await client.GetAsync("/delay/5000");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.GatewayTimeout, response, Bed.Proxy);
        stopwatch.Stop();

        Assert.Equal("UT", ProxyAssert.Flags(response));
        Assert.Equal("upstream request timeout", body);
        output.WriteLine($"504 after {stopwatch.ElapsedMilliseconds} ms (route timeout {ConfigTemplates.LocalRepliesDelayTimeout.TotalMilliseconds} ms)");
        Assert.InRange(stopwatch.ElapsedMilliseconds, (long)ConfigTemplates.LocalRepliesDelayTimeout.TotalMilliseconds - 50, 4_000);
    }

    [Fact]
    public async Task Get_UpstreamFasterThanRouteTimeout_Returns200()
    {
        // A cold upstream's first request can outlast the 0.5 s route timeout (it failed once so against the native
        // AOT build, which answers before the in-process upstream has compiled anything).
        await Bed.V1.WarmUpAsync();
        using var client = Bed.CreateHttp1Client();

        using var response = await client.GetAsync("/delay/50");
        var echo = await ProxyAssert.EchoAsync(response, Bed.Proxy);

        Assert.Equal("/delay/50", echo.Path);
    }

    [Fact]
    public async Task Get_MalformedRequestOnRawSocket_Returns400AndProxyKeepsServing()
    {
        var malformed = $"GET /ok HTTP/1.1\r\nHost: 127.0.0.1:{Bed.ListenerPort}\r\nthis line is not a header\r\n\r\n";

        var response = await RawHttp.SendAsync(Bed.ListenerPort, malformed, TimeSpan.FromSeconds(10));

        Assert.True(response.StatusCode == 400, $"{response}\n{Bed.Proxy.Describe(8 * 1024)}");
        using var client = Bed.CreateHttp1Client();
        using var after = await client.GetAsync("/ok");
        await ProxyAssert.EchoAsync(after, Bed.Proxy);
    }

    [Fact]
    public async Task Get_GarbageRequestLineOnRawSocket_Returns400()
    {
        var response = await RawHttp.SendAsync(Bed.ListenerPort, "NOT-HTTP AT ALL\r\n\r\n", TimeSpan.FromSeconds(10));

        Assert.True(response.StatusCode == 400, $"{response}\n{Bed.Proxy.Describe(8 * 1024)}");
    }

    [Fact]
    public async Task Get_RouteToUnknownCluster_Returns503WithFlagNC()
    {
        // Own proxy: a route to an undefined cluster needs route_config.validate_clusters: false (Envoy rejects it otherwise).
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteUnknownCluster(u[0]));
        using var client = bed.CreateHttp1Client();

        using var response = await client.GetAsync("/nc");
        await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, bed.Proxy);
        using var known = await client.GetAsync("/known");

        Assert.Equal("NC", ProxyAssert.Flags(response));
        Assert.Equal("v1", (await ProxyAssert.EchoAsync(known, bed.Proxy)).Label);
    }
}
