using System.Diagnostics;
using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>100 MiB each way through the proxy, streamed: the proxy's peak RSS (VmHWM) must stay far below the body size.</summary>
public sealed class LargeBodyTests(ITestOutputHelper output)
{
    private const long BodyBytes = 100L * 1024 * 1024;
    private const long PeakRssLimitBytes = 200L * 1024 * 1024;
    private const long GrowthLimitBytes = 100L * 1024 * 1024;

    [Fact]
    public async Task UploadAndDownload_100MiBThroughProxy_PeakRssStaysBelow200MB()
    {
        // Own proxy so that VmHWM reflects this test alone.
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));
        using var client = bed.CreateHttp1Client(TimeSpan.FromSeconds(120));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        using (var warmup = await client.GetAsync("/warmup", cts.Token))
        {
            await ProxyAssert.EchoAsync(warmup, bed.Proxy);
        }

        var baseline = bed.Proxy.PeakRssBytes;

        var stopwatch = Stopwatch.StartNew();
        using var upload = new PatternContent(BodyBytes);
        using (var response = await client.PostAsync("/sink", upload, cts.Token))
        {
            var echo = await ProxyAssert.EchoAsync(response, bed.Proxy);
            Assert.Equal(BodyBytes, echo.BodyLength);
            Assert.Equal(upload.Sha256Hex, echo.BodySha256);
        }

        var uploadTime = stopwatch.Elapsed;
        var afterUpload = bed.Proxy.PeakRssBytes;

        stopwatch.Restart();
        using (var response = await client.GetAsync($"/bytes/{BodyBytes}", HttpCompletionOption.ResponseHeadersRead, cts.Token))
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, bed.Proxy); // fails with the (small) body and proxy output
            }

            Assert.Equal(BodyBytes, response.Content.Headers.ContentLength);
            await using var body = await response.Content.ReadAsStreamAsync(cts.Token);
            Assert.Equal(BodyBytes, await PatternReader.ReadAndVerifyAsync(body, cts.Token));
        }

        var downloadTime = stopwatch.Elapsed;
        var peak = bed.Proxy.PeakRssBytes;
        var current = bed.Proxy.CurrentRssBytes;

        output.WriteLine(
            $"proxy VmHWM: baseline {Mib(baseline)} MiB, after 100 MiB upload {Mib(afterUpload)} MiB ({uploadTime.TotalSeconds:F2} s), " +
            $"after 100 MiB download {Mib(peak)} MiB ({downloadTime.TotalSeconds:F2} s); VmRSS now {Mib(current)} MiB");
        Assert.True(peak < PeakRssLimitBytes, $"Peak RSS {Mib(peak)} MiB is not below {Mib(PeakRssLimitBytes)} MiB (baseline {Mib(baseline)} MiB).");
        Assert.True(peak - baseline < GrowthLimitBytes, $"Peak RSS grew by {Mib(peak - baseline)} MiB while streaming: the body looks buffered.");
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
}
