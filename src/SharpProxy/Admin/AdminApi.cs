using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Core.Telemetry.Metrics;
using SharpProxy.Core.Upstream;
using SharpProxy.Hosting;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Admin;

/// <summary>Envoy's admin endpoints, in Envoy's output shapes so existing tooling and habits carry over.</summary>
internal sealed class AdminApi(ServerState state, IHostApplicationLifetime lifetime)
{
    private static readonly string Version = typeof(AdminApi).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        var method = context.Request.Method;
        if (state.Listeners.PrometheusEndPoint is { } scrape && context.Connection.LocalPort == scrape.Port)
        {
            // The scrape port serves the exposition and nothing else (Istio's 15090 has the same single route).
            return path == "/stats/prometheus" ? PrometheusAsync(context) : TextAsync(context, 404, "not found\n");
        }

        var mutating = path is "/quitquitquit";
        if (mutating && !HttpMethods.IsPost(method))
        {
            return TextAsync(context, 405, "This endpoint requires POST.\n");
        }

        return path switch
        {
            "/ready" => ReadyAsync(context),
            "/server_info" => JsonAsync(context, ServerInfo()),
            "/config_dump" => TextAsync(context, 200, ConfigDumpWriter.Write(state.Bootstrap, state.Snapshots.Current, state.Xds?.State), "application/json"),
            "/clusters" => ClustersAsync(context),
            "/stats" => context.Request.Query["format"] == "json"
                ? TextAsync(context, 200, StatsExposition.WriteJson(CollectStats()), "application/json")
                : TextAsync(context, 200, StatsExposition.WriteText(CollectStats())),
            "/stats/prometheus" => PrometheusAsync(context),
            "/listeners" => ListenersAsync(context),
            "/certs" => JsonAsync(context, Core.Tls.CertificateReport.Build(state.Snapshots.Current.Config, DateTimeOffset.UtcNow)),
            "/quitquitquit" => QuitAsync(context),
            "/" => TextAsync(context, 200, "admin commands are:\n  /certs\n  /clusters\n  /config_dump\n  /listeners\n  /quitquitquit (POST)\n  /ready\n  /server_info\n  /stats\n  /stats?format=json\n  /stats/prometheus\n"),
            _ => TextAsync(context, 404, "invalid path. admin commands are: /clusters /config_dump /listeners /quitquitquit /ready /server_info /stats /stats/prometheus\n"),
        };
    }

    private string StateName => state.Draining ? "DRAINING" : state.Ready ? "LIVE" : "PRE_INITIALIZING";

    private Task ReadyAsync(HttpContext context)
    {
        Core.Diagnostics.StartupTrace.Mark("/ready answered");
        return TextAsync(context, state.Ready && !state.Draining ? 200 : 503, StateName + "\n");
    }

    private Dictionary<string, object?> ServerInfo()
    {
        var options = state.Options;
        var node = state.Snapshots.Current.Config.Node;
        return new Dictionary<string, object?>
        {
            ["version"] = "sharpproxy/" + Version,
            ["state"] = StateName,
            ["hot_restart_version"] = "disabled",
            ["uptime_current_epoch"] = ((long)(DateTimeOffset.UtcNow - state.StartedAt).TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s",
            ["uptime_all_epochs"] = ((long)(DateTimeOffset.UtcNow - state.StartedAt).TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s",
            ["node"] = new Dictionary<string, object?> { ["id"] = node.Id, ["cluster"] = node.Cluster },
            ["command_line_options"] = new Dictionary<string, object?>
            {
                ["concurrency"] = options.Concurrency,
                ["config_path"] = options.ConfigPath ?? "",
                ["config_yaml"] = options.ConfigYaml ?? "",
                ["log_level"] = options.LogLevel.ToString().ToLowerInvariant(),
                ["mode"] = options.Mode.ToString(),
                ["drain_time"] = ((int)options.DrainTime.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s",
                ["allow_unknown_static_fields"] = options.AllowUnknownStaticFields,
            },
        };
    }

    private Task ClustersAsync(HttpContext context)
    {
        var text = new StringBuilder();
        foreach (var cluster in state.Snapshots.Current.Clusters)
        {
            var name = cluster.Name;
            text.Append(name).Append("::observability_name::").Append(name).Append('\n');
            AppendThresholds(text, name + "::default_priority::", cluster.Config.CircuitBreakers);
            AppendThresholds(text, name + "::high_priority::", cluster.Config.HighPriorityCircuitBreakers);
            text.Append(name).Append("::added_via_api::").Append(state.Xds?.State.Clusters.ContainsKey(name) == true ? "true" : "false").Append('\n');

            // Not in Envoy's output: how the balancer sees the cluster (per-level load and panic, ring or table size).
            var balancer = cluster.Balancer;
            for (var priority = 0; priority < balancer.Load.HealthyLoad.Length; priority++)
            {
                var levelPrefix = name + "::priority_" + priority + "::";
                AppendLine(text, levelPrefix, "healthy_load", balancer.Load.HealthyLoad[priority]);
                AppendLine(text, levelPrefix, "degraded_load", balancer.Load.DegradedLoad[priority]);
                text.Append(levelPrefix).Append("panic::").Append(balancer.Load.Panic[priority] ? "true" : "false").Append('\n');
                switch (balancer.LevelBalancer(priority))
                {
                    case RingHashBalancer ring:
                        AppendLine(text, levelPrefix, "ring_size", ring.RingSize);
                        break;
                    case MaglevBalancer maglev:
                        AppendLine(text, levelPrefix, "table_size", (long)maglev.TableSize);
                        break;
                }
            }

            foreach (var host in cluster.Hosts)
            {
                var prefix = name + "::" + host.Authority + "::";
                AppendLine(text, prefix, "cx_active", host.ActiveConnections);
                AppendLine(text, prefix, "cx_connect_fail", host.ConnectFailures);
                AppendLine(text, prefix, "cx_total", host.TotalConnections);
                AppendLine(text, prefix, "rq_active", host.ActiveRequests);
                AppendLine(text, prefix, "rq_error", host.Errors);
                AppendLine(text, prefix, "rq_success", host.TotalRequests - host.Errors - host.ActiveRequests);
                AppendLine(text, prefix, "rq_total", host.TotalRequests);
                text.Append(prefix).Append("hostname::").Append(host.Config.Hostname ?? "").Append('\n');
                text.Append(prefix).Append("health_flags::").Append(HealthFlags(host)).Append('\n');
                AppendLine(text, prefix, "weight", host.Weight);
                AppendLine(text, prefix, "priority", host.Config.Priority);
                text.Append(prefix).Append("success_rate::")
                    .Append((host.Outlier?.SuccessRate ?? -1).ToString(CultureInfo.InvariantCulture)).Append('\n');
                AppendLine(text, prefix, "num_ejections", host.Outlier?.NumEjections ?? 0);
            }
        }

        return TextAsync(context, 200, text.ToString());
    }

    private static void AppendThresholds(StringBuilder text, string prefix, CircuitBreakerThresholds limits)
    {
        AppendLine(text, prefix, "max_connections", limits.MaxConnections);
        AppendLine(text, prefix, "max_pending_requests", limits.MaxPendingRequests);
        AppendLine(text, prefix, "max_requests", limits.MaxRequests);
        AppendLine(text, prefix, "max_retries", limits.MaxRetries);
    }

    /// <summary>Envoy's health_flags: "healthy", or the reasons joined by '/' (EDS status, outlier ejection).</summary>
    private static string HealthFlags(HostState host)
    {
        var eds = host.Config.Health switch
        {
            Core.Configuration.EndpointHealthStatus.Unhealthy => "/failed_eds_health",
            Core.Configuration.EndpointHealthStatus.Draining => "/eds_status_draining",
            Core.Configuration.EndpointHealthStatus.Timeout => "/failed_eds_health",
            Core.Configuration.EndpointHealthStatus.Degraded => "/degraded_eds_health",
            _ => "",
        };
        var flags = host.IsEjected ? eds + "/failed_outlier_check" : eds;
        return flags.Length == 0 ? "healthy" : flags;
    }

    private Task PrometheusAsync(HttpContext context) =>
        TextAsync(context, 200, StatsExposition.WritePrometheus(CollectStats(), StatsStore.Process.Istio), PrometheusText.ContentType);

    private List<EnvoyStat> CollectStats()
    {
        using var process = Process.GetCurrentProcess();
        var gcInfo = GC.GetGCMemoryInfo();
        List<(string, long, StatKind)> server =
        [
            ("server.live", state.Ready && !state.Draining ? 1 : 0, StatKind.Gauge),
            ("server.concurrency", state.Options.Concurrency, StatKind.Gauge),
            ("server.uptime", (long)(DateTimeOffset.UtcNow - state.StartedAt).TotalSeconds, StatKind.Gauge),
            ("server.memory_allocated", GC.GetTotalMemory(false), StatKind.Gauge),
            ("server.gc_allocated_bytes_total", GC.GetTotalAllocatedBytes(false), StatKind.Counter),
            ("server.memory_heap_size", gcInfo.HeapSizeBytes, StatKind.Gauge),
            ("server.memory_physical_size", process.WorkingSet64, StatKind.Gauge),
            // Not in Envoy: the GC's committed memory (at the last collection) and how many collections ran, to tell the
            // managed heap's share of the resident size from code and native memory.
            ("server.gc_committed_bytes", gcInfo.TotalCommittedBytes, StatKind.Gauge),
            ("server.gc_collections", GC.CollectionCount(0), StatKind.Counter),
            ("server.total_connections", state.Listeners.GetBoundListeners().Count, StatKind.Gauge),
            ("server.config_version", state.Snapshots.Current.Version, StatKind.Gauge),
            ("server.unknown_static_fields", state.Bootstrap.IgnoredFields.Count, StatKind.Gauge),
            ("http.fault.delays_injected", Core.Filters.FaultInjection.DelaysInjected, StatKind.Counter),
            ("http.fault.aborts_injected", Core.Filters.FaultInjection.AbortsInjected, StatKind.Counter),
            ("access_log.dropped_entries", Core.Telemetry.AccessLogSink.TotalDropped, StatKind.Counter),
            ("http1_fast_path.rq_total", state.Listeners.Http1FastPath?.RequestsServed ?? 0, StatKind.Counter),
            ("http1_fast_path.handoffs", state.Listeners.Http1FastPath?.HandOffs ?? 0, StatKind.Counter),
            ("http1_fast_path.cx_active", state.Listeners.Http1FastPath?.OpenConnections ?? 0, StatKind.Gauge),
            ("http1_fast_path.tls_connections", state.Listeners.Http1FastPath?.TlsConnections ?? 0, StatKind.Counter),
            ("http2_fast_path.rq_total", state.Listeners.Http1FastPath?.Http2StreamsServed ?? 0, StatKind.Counter),
            ("http1_fast_path.event_loops", state.Listeners.Http1FastPath?.Loops?.Count ?? 0, StatKind.Gauge),
            ("http1_fast_path.event_loop_sockets", state.Listeners.Http1FastPath?.Loops?.Registered ?? 0, StatKind.Gauge),
            ("http1_fast_path.event_loop_timers", state.Listeners.Http1FastPath?.Loops?.Deadlines ?? 0, StatKind.Gauge),
        ];
        var readouts = new List<(string, string)>();
        AddXdsStats(server, readouts);
        return StatsExposition.Collect(StatsStore.Process, state.Snapshots.Current.Clusters, server, readouts);
    }

    private Task ListenersAsync(HttpContext context)
    {
        var bound = state.Listeners.GetBoundListeners();
        if (context.Request.Query["format"] == "json")
        {
            var statuses = new List<object>(bound.Count);
            foreach (var (name, endpoint) in bound)
            {
                statuses.Add(new Dictionary<string, object>
                {
                    ["name"] = name,
                    ["local_address"] = new Dictionary<string, object>
                    {
                        ["socket_address"] = new Dictionary<string, object>
                        {
                            ["address"] = endpoint.Address.ToString(),
                            ["port_value"] = endpoint.Port,
                        },
                    },
                });
            }

            return JsonAsync(context, new Dictionary<string, object> { ["listener_statuses"] = statuses });
        }

        var text = new StringBuilder();
        foreach (var (name, endpoint) in bound)
        {
            text.Append(name).Append("::").Append(endpoint).Append('\n');
        }

        return TextAsync(context, 200, text.ToString());
    }

    private Task QuitAsync(HttpContext context)
    {
        context.Response.OnCompleted(() =>
        {
            lifetime.StopApplication();
            return Task.CompletedTask;
        });
        return TextAsync(context, 200, "OK\n");
    }

    private static void AppendLine(StringBuilder text, string prefix, string field, long value) =>
        text.Append(prefix).Append(field).Append("::").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    private static Task JsonAsync(HttpContext context, object value) =>
        TextAsync(context, 200, JsonSerializer.Serialize(value, AdminJson.Default.Object) + "\n", "application/json");

    private static Task TextAsync(HttpContext context, int status, string body, string contentType = "text/plain; charset=UTF-8")
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.Headers.CacheControl = "no-cache, max-age=0";
        context.Response.Headers["X-Content-Type-Options"] = "nosniff";
        return context.Response.WriteAsync(body);
    }

    /// <summary>Envoy's control-plane stats (control_plane.*, cluster_manager.cds.*, listener_manager.lds.*) and ours for EDS/RDS.</summary>
    private void AddXdsStats(List<(string, long, StatKind)> stats, List<(string, string)> readouts)
    {
        if (state.Xds is not { } xds)
        {
            return;
        }

        var xdsStats = xds.Stats;
        stats.Add(("control_plane.connected_state", xdsStats.Connected ? 1 : 0, StatKind.Gauge));
        stats.Add(("server.dynamic_unknown_fields", xdsStats.IgnoredUnknownFields, StatKind.Counter));
        foreach (var (type, counters) in xdsStats.Types)
        {
            var prefix = type switch
            {
                "cds" => "cluster_manager.cds.",
                "lds" => "listener_manager.lds.",
                _ => "xds." + type + ".",
            };
            stats.Add((prefix + "update_attempt", counters.Attempts, StatKind.Counter));
            stats.Add((prefix + "update_success", counters.Successes, StatKind.Counter));
            stats.Add((prefix + "update_rejected", counters.Rejected, StatKind.Counter));
            readouts.Add((prefix + "version_text", xds.State.VersionOf(TypeUrlOf(type))));
        }
    }

    private static string TypeUrlOf(string type) => type switch
    {
        "cds" => Xds.Ads.XdsTypes.Cluster,
        "eds" => Xds.Ads.XdsTypes.Endpoints,
        "lds" => Xds.Ads.XdsTypes.Listener,
        _ => Xds.Ads.XdsTypes.Routes,
    };
}
