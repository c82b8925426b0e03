using System.Diagnostics;
using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>SIGTERM: stop accepting, let in-flight requests finish within --drain-time-s, exit 0.</summary>
[Collection(SerialCollection.Name)]
public sealed class DrainTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Sigterm_InFlightRequest_CompletesWhileNewConnectionsAreRefusedThenExitsZero()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]), ["--drain-time-s", "10"]);
        using var client = bed.CreateHttp1Client();

        var inFlight = client.GetAsync("/delay/1500");
        await Polling.UntilAsync(() => bed.V1.InFlightCount == 1, TimeSpan.FromSeconds(10), "the delayed request to reach the upstream");
        var stopwatch = Stopwatch.StartNew();
        bed.Proxy.SendSigterm();

        // Bounded: the listener must close promptly, well before the in-flight request (1.5 s) completes.
        var refusedAt = TimeSpan.MinValue;
        var completedBeforeRefusal = false;
        await Polling.UntilAsync(
            async () =>
            {
                completedBeforeRefusal = inFlight.IsCompleted;
                if (await TcpProbe.TryConnectAsync(bed.ListenerPort, TimeSpan.FromSeconds(1)) != ConnectOutcome.Refused)
                {
                    return false;
                }

                refusedAt = stopwatch.Elapsed;
                return true;
            },
            TimeSpan.FromSeconds(10),
            $"the listener to refuse new connections after SIGTERM\n{bed.Proxy.Describe(8 * 1024)}");

        using var response = await inFlight;
        var completedAt = stopwatch.Elapsed;
        var echo = await ProxyAssert.EchoAsync(response, bed.Proxy);
        var exited = await bed.Proxy.WaitForExitAsync(TimeSpan.FromSeconds(15));
        var exitedAt = stopwatch.Elapsed;

        output.WriteLine($"after SIGTERM: refused at {refusedAt.TotalMilliseconds:F0} ms, in-flight done at {completedAt.TotalMilliseconds:F0} ms, exited at {exitedAt.TotalMilliseconds:F0} ms");
        Assert.Equal("/delay/1500", echo.Path);
        Assert.False(completedBeforeRefusal, $"The listener still accepted connections until the in-flight request had finished (refused at {refusedAt.TotalMilliseconds:F0} ms).");
        Assert.True(exited, $"The proxy did not exit within 15 s of SIGTERM.\n{bed.Proxy.Describe(8 * 1024)}");
        Assert.True(bed.Proxy.ExitCode == 0, $"Exit code {bed.Proxy.ExitCode} after SIGTERM.\n{bed.Proxy.Describe(8 * 1024)}");
        Assert.Equal(ConnectOutcome.Refused, await TcpProbe.TryConnectAsync(bed.ListenerPort, TimeSpan.FromSeconds(2)));
        Assert.Equal(ConnectOutcome.Refused, await TcpProbe.TryConnectAsync(bed.Proxy.AdminUri.Port, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Sigterm_NothingInFlight_ExitsZeroWithoutWaitingForTheDrainTime()
    {
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]), ["--drain-time-s", "10"]);
        using (var client = bed.CreateHttp1Client())
        using (var response = await client.GetAsync("/before-sigterm"))
        {
            await ProxyAssert.EchoAsync(response, bed.Proxy);
        }

        var stopwatch = Stopwatch.StartNew();
        bed.Proxy.SendSigterm();
        var exited = await bed.Proxy.WaitForExitAsync(TimeSpan.FromSeconds(15));
        var elapsed = stopwatch.ElapsedMilliseconds;

        output.WriteLine($"idle proxy exited {elapsed} ms after SIGTERM");
        Assert.True(exited, $"The idle proxy did not exit within 15 s of SIGTERM.\n{bed.Proxy.Describe(8 * 1024)}");
        Assert.True(elapsed < 5_000, $"With nothing in flight the proxy took {elapsed} ms to exit (--drain-time-s 10 is an upper bound, not a wait).");
        Assert.True(bed.Proxy.ExitCode == 0, $"Exit code {bed.Proxy.ExitCode} after SIGTERM.\n{bed.Proxy.Describe(8 * 1024)}");
    }
}
