using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Telemetry.Metrics;

internal enum StatKind
{
    Counter,
    Gauge,

    /// <summary>Envoy's text readout: shown by /stats (quoted) and its JSON, not by /stats/prometheus.</summary>
    TextReadout,
}

/// <summary>
/// One Envoy stat: its dotted name (/stats) and the metric family and labels Envoy's default tag extraction gives it
/// on /stats/prometheus (e.g. cluster.x.upstream_rq_2xx -> envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="x"}).
/// </summary>
internal readonly record struct EnvoyStat(string Name, long Value, StatKind Kind, string Family, string Labels, string? Text = null);

/// <summary>Collects the Envoy-style stats and writes them as /stats text, /stats?format=json and Prometheus text.</summary>
internal static class StatsExposition
{
    /// <summary>Every Envoy-style stat, unsorted. <paramref name="server"/> holds the server.* and other process-level values.</summary>
    public static List<EnvoyStat> Collect(
        StatsStore store,
        IEnumerable<ClusterState> clusters,
        IEnumerable<(string Name, long Value, StatKind Kind)> server,
        IEnumerable<(string Name, string Text)>? textReadouts = null)
    {
        var stats = new List<EnvoyStat>(256);
        foreach (var cluster in clusters)
        {
            AddCluster(stats, cluster);
        }

        foreach (var listener in store.Listeners)
        {
            var labels = Label("envoy_listener_address", listener.Name);
            var prefix = "listener." + listener.Name + ".";
            stats.Add(new(prefix + "downstream_cx_total", listener.CxTotal, StatKind.Counter, "envoy_listener_downstream_cx_total", labels));
            stats.Add(new(prefix + "downstream_cx_active", listener.CxActive, StatKind.Gauge, "envoy_listener_downstream_cx_active", labels));
            if (listener.SslIfUsed is { } ssl)
            {
                foreach (var (stat, value) in ssl.All())
                {
                    stats.Add(new(prefix + stat, value, StatKind.Counter, "envoy_listener_" + PrometheusText.MetricName(stat), labels));
                }
            }
        }

        foreach (var http in store.HttpConnectionManagers)
        {
            var labels = Label("envoy_http_conn_manager_prefix", http.StatPrefix);
            var prefix = "http." + http.StatPrefix + ".";
            stats.Add(new(prefix + "downstream_rq_total", http.RqTotal, StatKind.Counter, "envoy_http_downstream_rq_total", labels));
            stats.Add(new(prefix + "downstream_rq_active", http.RqActive, StatKind.Gauge, "envoy_http_downstream_rq_active", labels));
            for (var hundreds = 1; hundreds <= 5; hundreds++)
            {
                stats.Add(new(
                    prefix + "downstream_rq_" + hundreds.ToString(CultureInfo.InvariantCulture) + "xx",
                    http.RqClass(hundreds),
                    StatKind.Counter,
                    "envoy_http_downstream_rq_xx",
                    Label("envoy_response_code_class", hundreds.ToString(CultureInfo.InvariantCulture)) + "," + labels));
            }
        }

        foreach (var (name, value, kind) in server)
        {
            stats.Add(new(name, value, kind, "envoy_" + PrometheusText.MetricName(name), ""));
        }

        foreach (var (name, text) in textReadouts ?? [])
        {
            stats.Add(new(name, 0, StatKind.TextReadout, "", "", text));
        }

        return stats;
    }

    /// <summary>Envoy's /stats text: "name: value", sorted by name.</summary>
    public static string WriteText(List<EnvoyStat> stats)
    {
        stats.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var text = new StringBuilder(stats.Count * 48);
        foreach (var stat in stats)
        {
            text.Append(stat.Name).Append(": ");
            if (stat.Kind == StatKind.TextReadout)
            {
                text.Append('"').Append(stat.Text).Append("\"\n");
            }
            else
            {
                text.Append(PrometheusText.Value(stat.Value)).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>Envoy's /stats?format=json: {"stats":[{"name":..,"value":..}]}, sorted by name.</summary>
    public static string WriteJson(List<EnvoyStat> stats)
    {
        stats.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("stats");
            foreach (var stat in stats)
            {
                json.WriteStartObject();
                json.WriteString("name", stat.Name);
                if (stat.Kind == StatKind.TextReadout)
                {
                    json.WriteString("value", stat.Text);
                }
                else
                {
                    json.WriteNumber("value", stat.Value);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>The Envoy stats (envoy_ prefix, tags extracted) and the istio_* metrics in Prometheus text format 0.0.4.</summary>
    public static string WritePrometheus(List<EnvoyStat> stats, IstioMetrics istio)
    {
        // One TYPE line per family, all of a family's samples under it (the format requires families to be contiguous).
        stats.Sort(static (a, b) =>
        {
            var byFamily = string.CompareOrdinal(a.Family, b.Family);
            return byFamily != 0 ? byFamily : string.CompareOrdinal(a.Labels, b.Labels);
        });
        var text = new StringBuilder(stats.Count * 96 + 4096);
        string? family = null;
        foreach (var stat in stats)
        {
            if (stat.Kind == StatKind.TextReadout)
            {
                // Envoy's Prometheus output leaves text readouts out by default.
                continue;
            }

            if (!string.Equals(stat.Family, family, StringComparison.Ordinal))
            {
                family = stat.Family;
                text.Append("# TYPE ").Append(family).Append(stat.Kind == StatKind.Gauge ? " gauge\n" : " counter\n");
            }

            text.Append(stat.Family);
            if (stat.Labels.Length > 0)
            {
                text.Append('{').Append(stat.Labels).Append('}');
            }

            text.Append(' ').Append(PrometheusText.Value(stat.Value)).Append('\n');
        }

        istio.WritePrometheus(text);
        return text.ToString();
    }

    private static void AddCluster(List<EnvoyStat> stats, ClusterState cluster)
    {
        var s = cluster.Stats;
        var name = cluster.Name;
        var prefix = "cluster." + name + ".";
        var labels = Label("envoy_cluster_name", name);

        void Add(string stat, long value, StatKind kind = StatKind.Counter) =>
            stats.Add(new(prefix + stat, value, kind, "envoy_cluster_" + PrometheusText.MetricName(stat), labels));

        Add("upstream_rq_total", s.RqTotal);
        Add("upstream_rq_active", s.RqActive, StatKind.Gauge);
        long[] classes = [0, s.Rq1xx, s.Rq2xx, s.Rq3xx, s.Rq4xx, s.Rq5xx];
        for (var hundreds = 1; hundreds <= 5; hundreds++)
        {
            var digit = hundreds.ToString(CultureInfo.InvariantCulture);
            stats.Add(new(prefix + "upstream_rq_" + digit + "xx", classes[hundreds], StatKind.Counter, "envoy_cluster_upstream_rq_xx", Label("envoy_response_code_class", digit) + "," + labels));
        }

        // Envoy creates upstream_rq_<code> on first use; we show the codes seen.
        for (var code = 100; code < 600; code++)
        {
            var count = s.RqWithCode(code);
            if (count > 0)
            {
                var text = code.ToString(CultureInfo.InvariantCulture);
                stats.Add(new(prefix + "upstream_rq_" + text, count, StatKind.Counter, "envoy_cluster_upstream_rq", Label("envoy_response_code", text) + "," + labels));
            }
        }

        Add("upstream_rq_timeout", s.RqTimeout);
        Add("upstream_rq_pending_overflow", s.RqPendingOverflow);
        Add("upstream_rq_retry", s.RqRetry);
        Add("upstream_rq_retry_overflow", s.RqRetryOverflow);
        Add("upstream_cx_connect_fail", s.CxConnectFail);
        Add("upstream_cx_overflow", s.CxOverflow);
        Add("upstream_cx_none_healthy", s.NoHealthyUpstream);
        Add("lb_healthy_panic", s.HealthyPanic);
        Add("outlier_detection.ejections_active", s.OutlierEjectionsActive, StatKind.Gauge);
        Add("outlier_detection.ejections_total", s.OutlierEjectionsTotal);
        Add("outlier_detection.ejections_overflow", s.OutlierEjectionsOverflow);
        Add("outlier_detection.ejections_enforced_total", s.OutlierEjectionsEnforcedTotal);
        Add("outlier_detection.ejections_enforced_consecutive_5xx", s.OutlierEjectionsEnforcedConsecutive5xx);
        Add("outlier_detection.ejections_detected_consecutive_5xx", s.OutlierEjectionsDetectedConsecutive5xx);
        Add("outlier_detection.ejections_enforced_consecutive_gateway_failure", s.OutlierEjectionsEnforcedConsecutiveGatewayFailure);
        Add("outlier_detection.ejections_detected_consecutive_gateway_failure", s.OutlierEjectionsDetectedConsecutiveGatewayFailure);
        Add("outlier_detection.ejections_enforced_success_rate", s.OutlierEjectionsEnforcedSuccessRate);
        Add("outlier_detection.ejections_detected_success_rate", s.OutlierEjectionsDetectedSuccessRate);
        Add("outlier_detection.ejections_enforced_failure_percentage", s.OutlierEjectionsEnforcedFailurePercentage);
        Add("outlier_detection.ejections_detected_failure_percentage", s.OutlierEjectionsDetectedFailurePercentage);
        long active = 0, total = 0;
        foreach (var host in cluster.Hosts)
        {
            active += host.ActiveConnections;
            total += host.TotalConnections;
        }

        Add("upstream_cx_active", active, StatKind.Gauge);
        Add("upstream_cx_total", total);
        Add("membership_total", cluster.Hosts.Count, StatKind.Gauge);
        if (s.SslIfUsed is { } ssl)
        {
            foreach (var (stat, value) in ssl.All())
            {
                Add(stat, value);
            }
        }
    }

    private static string Label(string name, string value)
    {
        var text = new StringBuilder(name.Length + value.Length + 4);
        PrometheusText.AppendLabel(text, name, value);
        return text.ToString();
    }
}
