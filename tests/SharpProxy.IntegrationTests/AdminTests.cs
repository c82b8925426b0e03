using System.Globalization;
using System.Net;
using System.Text.Json;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>The admin API on admin.address, in Envoy's shapes.</summary>
public sealed class AdminTests(CanaryProxyFixture fixture, ITestOutputHelper output) : IClassFixture<CanaryProxyFixture>, IDisposable
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
    public async Task Ready_WhenServing_Returns200Live()
    {
        var (status, body) = await Bed.Proxy.AdminGetAsync("/ready");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("LIVE", body.Trim());
    }

    [Fact]
    public async Task ServerInfo_WhenServing_JsonObjectWithStateLive()
    {
        var (status, body) = await Bed.Proxy.AdminGetAsync("/server_info");

        Assert.Equal(HttpStatusCode.OK, status);
        using var json = ParseJson(body);
        Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
        Assert.True(json.RootElement.TryGetProperty("state", out var state), body);
        Assert.Equal("LIVE", state.GetString());
    }

    [Fact]
    public async Task Listeners_Json_ReportsTheBoundPortThatServes()
    {
        var (status, body) = await Bed.Proxy.AdminGetAsync("/listeners?format=json");
        var port = await Bed.Proxy.GetListenerPortAsync(ConfigTemplates.ListenerName);
        using var client = Bed.CreateHttp1Client();
        using var response = await client.GetAsync("/via-admin-port");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("\"listener_statuses\"", body, StringComparison.Ordinal);
        Assert.NotEqual(0, port);
        Assert.Equal(Bed.ListenerPort, port);
        await ProxyAssert.EchoAsync(response, Bed.Proxy);
    }

    [Fact]
    public async Task Clusters_AfterRequests_ListsBothHostsHealthyWithWeightAndCounters()
    {
        await SendPinnedToV2Async(3);

        var (status, body) = await Bed.Proxy.AdminGetAsync("/clusters");

        Assert.Equal(HttpStatusCode.OK, status);
        var lines = ParseClusterLines(body);
        foreach (var (cluster, upstream) in new[] { ("v1", Bed.V1), ("v2", Bed.V2) })
        {
            var host = $"127.0.0.1:{upstream.Http1Port}";
            Assert.True(lines.ContainsKey((cluster, host, "health_flags")), $"No {cluster}::{host}::health_flags line in /clusters:\n{body}");
            Assert.Equal("healthy", lines[(cluster, host, "health_flags")]);
            Assert.Equal("1", lines.GetValueOrDefault((cluster, host, "weight")));
            Assert.True(long.TryParse(lines.GetValueOrDefault((cluster, host, "cx_active")), NumberStyles.None, CultureInfo.InvariantCulture, out _), $"No numeric {cluster}::{host}::cx_active:\n{body}");
            Assert.True(long.TryParse(lines.GetValueOrDefault((cluster, host, "rq_total")), NumberStyles.None, CultureInfo.InvariantCulture, out _), $"No numeric {cluster}::{host}::rq_total:\n{body}");
        }

        var v2RqTotal = long.Parse(lines[("v2", $"127.0.0.1:{Bed.V2.Http1Port}", "rq_total")], CultureInfo.InvariantCulture);
        Assert.True(v2RqTotal >= 3, $"v2 rq_total is {v2RqTotal} after 3 requests pinned to v2:\n{body}");
    }

    [Fact]
    public async Task Stats_AfterRequests_NameValueLinesWithClusterCounters()
    {
        await SendPinnedToV2Async(3);

        var (status, body) = await Bed.Proxy.AdminGetAsync("/stats");

        Assert.Equal(HttpStatusCode.OK, status);
        var stats = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var separator = line.IndexOf(": ", StringComparison.Ordinal);
            Assert.True(separator > 0, $"Not a 'name: value' line: '{line}'");
            stats[line[..separator]] = line[(separator + 2)..];
        }

        Assert.True(stats.Count > 0, "/stats is empty");
        // Envoy's name for the per-cluster request counter.
        Assert.True(stats.TryGetValue("cluster.v2.upstream_rq_total", out var v2Total), $"No cluster.v2.upstream_rq_total in /stats:\n{ProxyAssert.Truncate(body, 8000)}");
        Assert.True(long.Parse(v2Total, CultureInfo.InvariantCulture) >= 3, $"cluster.v2.upstream_rq_total is {v2Total} after 3 requests pinned to v2");
    }

    [Fact]
    public async Task ConfigDump_Always_EnvoyShapedJsonWithConfigsArray()
    {
        var (status, body) = await Bed.Proxy.AdminGetAsync("/config_dump");

        Assert.Equal(HttpStatusCode.OK, status);
        using var json = ParseJson(body);
        Assert.True(json.RootElement.TryGetProperty("configs", out var configs), $"No 'configs' in /config_dump:\n{ProxyAssert.Truncate(body)}");
        Assert.Equal(JsonValueKind.Array, configs.ValueKind);
        Assert.NotEqual(0, configs.GetArrayLength());
        foreach (var config in configs.EnumerateArray())
        {
            Assert.True(config.TryGetProperty("@type", out var type), $"A config_dump entry without '@type': {ProxyAssert.Truncate(config.GetRawText())}");
            Assert.StartsWith("type.googleapis.com/envoy.admin.v3.", type.GetString(), StringComparison.Ordinal);
        }

        Assert.Contains("\"v1\"", body, StringComparison.Ordinal);
        Assert.Contains("\"v2\"", body, StringComparison.Ordinal);
        Assert.Contains($"\"{ConfigTemplates.ListenerName}\"", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QuitQuitQuit_Post_ProcessExitsZero()
    {
        // Own proxy: this one ends.
        await using var bed = await ProxyTestBed.StartAsync(["v1"], u => ConfigTemplates.WriteForwarding(u[0]));

        var (status, _) = await bed.Proxy.AdminPostAsync("/quitquitquit");
        var exited = await bed.Proxy.WaitForExitAsync(TimeSpan.FromSeconds(15));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(exited, $"The proxy still runs 15 s after POST /quitquitquit.\n{bed.Proxy.Describe(8 * 1024)}");
        Assert.True(bed.Proxy.ExitCode == 0, $"Exit code {bed.Proxy.ExitCode} after /quitquitquit.\n{bed.Proxy.Describe(8 * 1024)}");
        Assert.Equal(ConnectOutcome.Refused, await TcpProbe.TryConnectAsync(bed.ListenerPort, TimeSpan.FromSeconds(2)));
    }

    private static JsonDocument ParseJson(string body)
    {
        try
        {
            return JsonDocument.Parse(body);
        }
        catch (JsonException ex)
        {
            Assert.Fail($"Not JSON ({ex.Message}): {ProxyAssert.Truncate(body)}");
            throw;
        }
    }

    /// <summary>Envoy's /clusters text: <c>cluster::host:port::field::value</c> per line (cluster-level lines are ignored).</summary>
    private static Dictionary<(string Cluster, string Host, string Field), string> ParseClusterLines(string body)
    {
        var lines = new Dictionary<(string, string, string), string>();
        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split("::");
            if (parts.Length == 4 && parts[1].Contains(':', StringComparison.Ordinal))
            {
                lines[(parts[0], parts[1], parts[2])] = parts[3];
            }
        }

        return lines;
    }

    private async Task SendPinnedToV2Async(int count)
    {
        using var client = Bed.CreateHttp1Client();
        for (var i = 0; i < count; i++)
        {
            using var request = client.CreateRequest(HttpMethod.Get, $"/admin-test/{i}");
            request.Headers.Add(ConfigTemplates.CanaryHeader, ConfigTemplates.CanaryHeaderValue);
            using var response = await client.SendAsync(request);
            Assert.Equal("v2", (await ProxyAssert.EchoAsync(response, Bed.Proxy)).Label);
        }
    }
}
