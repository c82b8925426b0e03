using System.Globalization;
using System.Net;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Interception;

/// <summary>
/// The sidecar start/stop contract: <c>--readiness-port</c> serves <c>/healthz/ready</c> (200 once listeners are bound,
/// 503 while draining), and <c>sharpproxy wait</c> blocks until it is ready (exit 0) or times out (exit 1).
/// Every URL is on 127.0.0.1.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ReadinessTests
{
    [Fact]
    public async Task Ready_AfterStart_200AndOtherPaths404()
    {
        var port = await TcpProbe.GetClosedPortAsync();
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]), ReadinessArguments(port));
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        using var ready = await client.GetAsync(ReadyUrl(port));
        using var other = await client.GetAsync($"http://127.0.0.1:{port}/stats");

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("LIVE\n", await ready.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    [Fact]
    public async Task Draining_Returns503UntilExit()
    {
        var port = await TcpProbe.GetClosedPortAsync();
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]), [.. ReadinessArguments(port), "--drain-time-s", "30"]);
        using var proxyClient = bed.CreateHttp1Client();
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var inFlight = proxyClient.GetAsync("/delay/6000");
        await Polling.UntilAsync(() => bed.V1.InFlightCount == 1, TimeSpan.FromSeconds(10), "the delayed request to reach the upstream");

        bed.Proxy.SendSigterm();

        await Polling.UntilAsync(
            async () =>
            {
                using var response = await probe.GetAsync(ReadyUrl(port));
                return response.StatusCode == HttpStatusCode.ServiceUnavailable;
            },
            TimeSpan.FromSeconds(10),
            "the readiness probe to answer 503 while the proxy drains");
        Assert.False(inFlight.IsCompleted, "the probe turned 503 only after the in-flight request ended");
        using var response = await inFlight;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(await bed.Proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)), "the proxy did not exit after draining");
    }

    [Fact]
    public async Task Wait_StartedBeforeProxy_ExitsZeroOnceReady()
    {
        var port = await TcpProbe.GetClosedPortAsync();
        var wait = ProxyProcess.RunToCompletionAsync(
            ["wait", "--url", ReadyUrl(port), "--timeout-seconds", "60", "--period-millis", "100"], TimeSpan.FromSeconds(90));

        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]), ReadinessArguments(port));
        var result = await wait;

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("is ready", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wait_NothingListening_ExitsOneAfterTimeout()
    {
        var port = await TcpProbe.GetClosedPortAsync();

        var result = await ProxyProcess.RunToCompletionAsync(
            ["wait", "--url", ReadyUrl(port), "--timeout-seconds", "1", "--period-millis", "100"], TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("not ready after 1 s", result.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--timeout-seconds", "zero")]
    [InlineData("--url", "not a url")]
    [InlineData("--bogus", "1")]
    public async Task Wait_BadFlag_ExitsTwo(string flag, string value)
    {
        var result = await ProxyProcess.RunToCompletionAsync(["wait", flag, value], TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("error: wait:", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadinessPort_Invalid_RejectedWithFlagName()
    {
        var result = await ProxyProcess.RunToCompletionAsync(["--readiness-port", "70000"], TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--readiness-port", result.StandardError, StringComparison.Ordinal);
    }

    private static string[] ReadinessArguments(int port) =>
        ["--readiness-port", port.ToString(CultureInfo.InvariantCulture), "--readiness-address", "127.0.0.1"];

    private static string ReadyUrl(int port) => $"http://127.0.0.1:{port}/healthz/ready";
}
