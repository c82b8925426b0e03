using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// Start-up: the host is built on another thread while the bootstrap loads, so a config rejected at either step must
/// still end the process with the errors and exit code 1; SHARPPROXY_STARTUP_TRACE=1 prints each phase, in order.
/// </summary>
public sealed class StartupTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(30);

    private const string UnhonouredField = """
        admin:
          address:
            socket_address: { address: 127.0.0.1, port_value: 0 }
        static_resources:
          clusters:
          - name: c
            type: STATIC
            respect_dns_ttl: true
            load_assignment:
              cluster_name: c
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9 } } }
        """;

    // Accepted by the bootstrap loader; refused when the route table is compiled (the step after the host was started
    // building): a domain may belong to one virtual host only.
    private const string RouteRefusedAtCompile = """
        admin:
          address:
            socket_address: { address: 127.0.0.1, port_value: 0 }
        static_resources:
          listeners:
          - name: main
            address:
              socket_address: { address: 127.0.0.1, port_value: 0 }
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: main
                  route_config:
                    name: main
                    virtual_hosts:
                    - name: first
                      domains: ["example.com"]
                      routes:
                      - match: { prefix: / }
                        route: { cluster: c }
                    - name: second
                      domains: ["example.com"]
                      routes:
                      - match: { prefix: / }
                        route: { cluster: c }
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: c
            type: STATIC
            load_assignment:
              cluster_name: c
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9 } } }
        """;

    [Fact]
    public async Task ServeMode_ConfigRejectedByTheLoader_ExitsOneWithTheError()
    {
        using var config = ConfigWriter.WriteText(UnhonouredField);

        var result = await ProxyProcess.RunToCompletionAsync(["-c", config.Path], RunTimeout);

        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("static_resources.clusters[0].respect_dns_ttl", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("configuration rejected", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeMode_RouteRefusedWhenCompiled_ExitsOneWithTheError()
    {
        using var config = ConfigWriter.WriteText(RouteRefusedAtCompile);

        var result = await ProxyProcess.RunToCompletionAsync(["-c", config.Path], RunTimeout);

        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("Duplicate entry of domain example.com", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("configuration rejected", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartupTraceOn_PrintsEachPhaseInOrder()
    {
        using var config = ConfigWriter.Write(ConfigTemplates.Forwarding, ("V1_HTTP1_PORT", 9), ("V1_HTTP2_PORT", 9));
        await using var proxy = await ProxyProcess.StartAsync(config.Path, null, new Dictionary<string, string> { ["SHARPPROXY_STARTUP_TRACE"] = "1" });

        var (status, _) = await proxy.AdminGetAsync("/ready");

        Assert.Equal(HttpStatusCode.OK, status);
        var text = proxy.Output;
        var previous = -1;
        foreach (var phase in new[] { "  main", "  bootstrap loaded", "  snapshot compiled", "  host started", "  listeners bound", "  start-up garbage collected", "  ready", "  /ready answered" })
        {
            var at = text.IndexOf(phase, StringComparison.Ordinal);
            Assert.True(at > previous, $"phase '{phase.Trim()}' missing or out of order in:\n{proxy.Describe()}");
            previous = at;
        }
    }

    [Fact]
    public async Task Ready_StartupGarbageCollected_StatsReportTheGcHeap()
    {
        using var config = ConfigWriter.Write(ConfigTemplates.Forwarding, ("V1_HTTP1_PORT", 9), ("V1_HTTP2_PORT", 9));
        await using var proxy = await ProxyProcess.StartAsync(config.Path);

        var (status, stats) = await proxy.AdminGetAsync("/stats");

        Assert.Equal(HttpStatusCode.OK, status);
        // Start-up allocates a few MB, less than the default gen0 budget: a collection has run only because the proxy
        // asked for one before it reported ready, and the figures below are those of that collection.
        Assert.True(StatsText.Value(stats, "server.gc_collections") >= 1, stats);
        Assert.True(StatsText.Value(stats, "server.gc_committed_bytes") > 0, stats);
        Assert.True(StatsText.Value(stats, "server.memory_heap_size") > 0, stats);
        Assert.True(
            StatsText.Value(stats, "server.memory_heap_size") < StatsText.Value(stats, "server.gc_allocated_bytes_total"),
            $"the heap after the start-up collection is not smaller than what start-up allocated:\n{stats}");
    }

    [Fact]
    public async Task StartupTraceOff_PrintsNothing()
    {
        using var config = ConfigWriter.Write(ConfigTemplates.Forwarding, ("V1_HTTP1_PORT", 9), ("V1_HTTP2_PORT", 9));
        await using var proxy = await ProxyProcess.StartAsync(config.Path);

        var (status, _) = await proxy.AdminGetAsync("/ready");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.DoesNotContain("startup:", proxy.Output, StringComparison.Ordinal);
    }
}
