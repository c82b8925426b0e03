using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry.Metrics;
using SharpProxy.Testing;

namespace SharpProxy.Core.Tests.Telemetry.Metrics;

public sealed class StatsExpositionTests
{
    [Fact]
    public void Prometheus_EnvoyStats_TagsExtractedAsEnvoyDoes()
    {
        var store = new StatsStore();
        var name = "outbound|80||expo-" + Guid.NewGuid().ToString("N")[..6] + ".ns.svc.cluster.local";
        using var cluster = IstioMetricsTests.NewCluster(name, out _);
        for (var i = 0; i < 3; i++)
        {
            cluster.Stats.OnRequestStart();
            cluster.Stats.OnRequestEnd(200);
        }

        cluster.Stats.OnRequestStart();
        cluster.Stats.OnRequestEnd(503);
        cluster.Stats.OnRetry();
        cluster.Stats.OnPendingOverflow();
        cluster.Stats.SetEjectionsActive(1);
        var http = store.Http(new HttpConnectionManagerConfig { StatPrefix = "outbound_0.0.0.0_80" });
        http.OnRequestStart();
        http.OnRequestEnd(404);
        store.Listener(new IPEndPoint(IPAddress.Any, 15001)).OnConnectionOpened();

        var stats = StatsExposition.Collect(store, [cluster], [("server.live", 1, StatKind.Gauge), ("server.uptime", 5, StatKind.Gauge)]);
        var scrape = PrometheusScrape.Parse(StatsExposition.WritePrometheus(stats, store.Istio));

        (string, string) clusterName = ("envoy_cluster_name", name);
        Assert.Equal(4, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq_total", clusterName)).Value);
        Assert.Equal(3, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq_xx", clusterName, ("envoy_response_code_class", "2"))).Value);
        Assert.Equal(3, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq", clusterName, ("envoy_response_code", "200"))).Value);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq", clusterName, ("envoy_response_code", "503"))).Value);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq_retry", clusterName)).Value);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_cluster_upstream_rq_pending_overflow", clusterName)).Value);
        Assert.Equal("gauge", scrape.Family("envoy_cluster_outlier_detection_ejections_active").Type);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_cluster_outlier_detection_ejections_active", clusterName)).Value);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_http_downstream_rq_xx", ("envoy_http_conn_manager_prefix", "outbound_0.0.0.0_80"), ("envoy_response_code_class", "4"))).Value);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_listener_downstream_cx_total", ("envoy_listener_address", "0.0.0.0_15001"))).Value);
        Assert.Equal("gauge", scrape.Family("envoy_server_live").Type);
        Assert.Equal(1, Assert.Single(scrape.Samples("envoy_server_live")).Value);
        Assert.Equal("counter", scrape.Family("istio_requests_total").Type);

        var text = StatsExposition.WriteText(stats);
        Assert.Contains($"cluster.{name}.upstream_rq_200: 3\n", text, StringComparison.Ordinal);
        Assert.Contains($"cluster.{name}.outlier_detection.ejections_active: 1\n", text, StringComparison.Ordinal);
        Assert.Contains("http.outbound_0.0.0.0_80.downstream_rq_4xx: 1\n", text, StringComparison.Ordinal);
        Assert.Contains("listener.0.0.0.0_15001.downstream_cx_active: 1\n", text, StringComparison.Ordinal);
        var names = text.TrimEnd('\n').Split('\n').Select(l => l[..l.IndexOf(": ", StringComparison.Ordinal)]).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);

        var json = System.Text.Json.JsonDocument.Parse(StatsExposition.WriteJson(stats));
        Assert.Contains(json.RootElement.GetProperty("stats").EnumerateArray(), s => s.GetProperty("name").GetString() == "server.live" && s.GetProperty("value").GetInt64() == 1);
    }
}
