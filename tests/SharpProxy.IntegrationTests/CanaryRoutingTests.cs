using System.Collections.Concurrent;
using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>Istio's canary as Envoy config: <c>canary: canary-tester</c> pinned to v2, everyone else v1 90 / v2 10.</summary>
public sealed class CanaryRoutingTests(CanaryProxyFixture fixture, ITestOutputHelper output) : IClassFixture<CanaryProxyFixture>, IDisposable
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
    public async Task Get_CanaryHeader_All200RequestsGoToV2()
    {
        var v1Before = Bed.V1.RequestCount;
        var v2Before = Bed.V2.RequestCount;

        var labels = await SendAsync(200, withCanaryHeader: true);

        Assert.Equal(200, labels.GetValueOrDefault("v2"));
        Assert.Equal(200, labels.Values.Sum());
        Assert.Equal(v1Before, Bed.V1.RequestCount);
        Assert.Equal(v2Before + 200, Bed.V2.RequestCount);
    }

    [Fact]
    public async Task Get_OtherHeaderValue_NotPinnedToV2()
    {
        using var client = Bed.CreateHttp1Client();
        var v1Before = Bed.V1.RequestCount;
        var v1Responses = 0;

        for (var i = 0; i < 40; i++)
        {
            using var request = client.CreateRequest(HttpMethod.Get, $"/reviews/{i}");
            request.Headers.Add(ConfigTemplates.CanaryHeader, "someone-else");
            using var response = await client.SendAsync(request);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, Bed.Proxy);
            v1Responses += ProxyAssert.UpstreamLabel(response) == "v1" ? 1 : 0;
        }

        // 40 draws at 90 % v1: P(fewer than 20 reach v1) is about 1e-11.
        Assert.InRange(v1Responses, 20, 40);
        Assert.Equal(v1Before + v1Responses, Bed.V1.RequestCount);
    }

    [Fact]
    public async Task Get_NoHeader2000Requests_SplitNinetyTenWithinThreePercent()
    {
        var v1Before = Bed.V1.RequestCount;
        var v2Before = Bed.V2.RequestCount;

        var labels = await SendAsync(2000, withCanaryHeader: false);

        var v1 = labels.GetValueOrDefault("v1");
        var v2 = labels.GetValueOrDefault("v2");
        output.WriteLine($"2000 requests without the header: v1 {v1} ({v1 / 20.0:F1} %), v2 {v2} ({v2 / 20.0:F1} %)");
        Assert.Equal(2000, v1 + v2);
        // ±3 % of 2000 is ±60 requests, about 4.5 standard deviations of the binomial (sd = 13.4).
        Assert.InRange(v2, 140, 260);
        Assert.InRange(v1, 1740, 1860);
        Assert.Equal(v1Before + v1, Bed.V1.RequestCount);
        Assert.Equal(v2Before + v2, Bed.V2.RequestCount);
    }

    private async Task<Dictionary<string, int>> SendAsync(int count, bool withCanaryHeader)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var client = Bed.CreateHttp1Client(maxConnectionsPerServer: 16);
        var labels = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var failures = new ConcurrentQueue<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cts.Token }, async (i, ct) =>
        {
            using var request = client.CreateRequest(HttpMethod.Get, $"/reviews/{i}");
            if (withCanaryHeader)
            {
                request.Headers.Add(ConfigTemplates.CanaryHeader, ConfigTemplates.CanaryHeaderValue);
            }

            using var response = await client.SendAsync(request, ct);
            await response.Content.LoadIntoBufferAsync(ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                failures.Enqueue($"request {i}: HTTP {(int)response.StatusCode} flags '{ProxyAssert.Flags(response)}'");
                return;
            }

            labels.AddOrUpdate(ProxyAssert.UpstreamLabel(response) ?? "(no label)", 1, (_, n) => n + 1);
        });

        Assert.True(failures.IsEmpty, $"{failures.Count} request(s) failed, first: {failures.FirstOrDefault()}\n{Bed.Proxy.Describe(8 * 1024)}");
        return new Dictionary<string, int>(labels, StringComparer.Ordinal);
    }
}
