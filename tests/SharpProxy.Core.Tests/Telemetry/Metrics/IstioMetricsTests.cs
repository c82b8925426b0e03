using System.Net;
using System.Text;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry.Metrics;
using SharpProxy.Core.Upstream;
using SharpProxy.Testing;

namespace SharpProxy.Core.Tests.Telemetry.Metrics;

public sealed class IstioMetricsTests
{
    [Fact]
    public void RecordHttp_SteadyState_AllocatesNothing()
    {
        var metrics = new IstioMetrics();
        metrics.Configure(IstioWorkload.FromNodeMetadata(IstioLabelResolverTests.SidecarNodeMetadata));
        using var cluster = NewCluster("outbound|80||alloc.test.svc.cluster.local", out var host);
        string[] flags = ["-", "UH", "UF"];
        int[] codes = [200, 503, 404];

        void RecordMany(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var labels = metrics.LabelsFor(i % 2 == 0 ? IstioReporter.Source : IstioReporter.Destination, cluster, i % 3 == 0 ? null : host);
                metrics.RecordHttp(labels, isGrpc: i % 5 == 0, codes[i % 3], flags[i % 3], i % 5 == 0 ? 14 : -1, i % 7000, i, 2 * i);
            }
        }

        RecordMany(1000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        RecordMany(100_000);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.True(metrics.HttpSeriesCount > 1, "the loop exercised several series");
    }

    [Fact]
    public void RequestEndHook_SteadyState_AllocatesNothing()
    {
        var store = new StatsStore();
        using var cluster = NewCluster("outbound|80||hook.test.svc.cluster.local", out var host);
        var http = store.Http(new HttpConnectionManagerConfig { StatPrefix = "hook_test" });
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.ContentType = "application/grpc";
        context.Response.StatusCode = 200;
        context.Response.Headers["grpc-status"] = "14";
        var state = new SharpProxy.Core.Telemetry.RequestLogState { Cluster = cluster, Host = host };

        void EndMany(int count)
        {
            for (var i = 0; i < count; i++)
            {
                http.OnRequestStart();
                HttpRequestTelemetry.OnRequestEnd(store, context, state, http, IstioReporter.Source, HttpRequestTelemetry.IsGrpc(context.Request));
            }
        }

        EndMany(1000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        EndMany(100_000);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        var text = new StringBuilder();
        store.Istio.WritePrometheus(text);
        var series = Assert.Single(PrometheusScrape.Parse(text.ToString()).Samples("istio_requests_total"));
        Assert.Equal((101_000d, "grpc", "14"), (series.Value, series.Label("request_protocol"), series.Label("grpc_response_status")));
        Assert.Equal(101_000, http.RqClass(2));
    }

    [Theory]
    [InlineData("UO", null, null, "UO", "")]
    [InlineData(null, "UH", null, "-", "")]
    [InlineData(null, null, "0", "-", "0")]
    [InlineData(null, null, "16", "-", "16")]
    [InlineData(null, null, "99", "-", "2")]
    [InlineData(null, null, "x", "-", "2")]
    public void RequestEndHook_FlagsFromLocalReplyOnly_GrpcStatusBounded(string? localFlags, string? flagsHeader, string? grpcStatus, string expectedFlags, string expectedGrpcStatus)
    {
        var store = new StatsStore();
        var http = store.Http(new HttpConnectionManagerConfig { StatPrefix = "bounded" });
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.ContentType = grpcStatus is null ? "text/plain" : "application/grpc+proto";
        if (flagsHeader is not null)
        {
            // As copied from an upstream that is itself a proxy: its flag describes its hop, not ours.
            context.Response.Headers[SharpProxy.Core.Filters.LocalReply.ResponseFlagsHeader] = flagsHeader;
        }

        if (grpcStatus is not null)
        {
            context.Response.Headers["grpc-status"] = grpcStatus;
        }

        var state = new SharpProxy.Core.Telemetry.RequestLogState { ResponseFlags = localFlags };
        http.OnRequestStart();
        HttpRequestTelemetry.OnRequestEnd(store, context, state, http, IstioReporter.Source, HttpRequestTelemetry.IsGrpc(context.Request));

        var text = new StringBuilder();
        store.Istio.WritePrometheus(text);
        var series = Assert.Single(PrometheusScrape.Parse(text.ToString()).Samples("istio_requests_total"));
        Assert.Equal((expectedFlags, expectedGrpcStatus), (series.Label("response_flags"), series.Label("grpc_response_status")));
    }

    [Fact]
    public void WritePrometheus_IstioBuildGauge_FromIstioVersion()
    {
        var metrics = new IstioMetrics();
        metrics.Configure(IstioWorkload.FromNodeMetadata(IstioLabelResolverTests.SidecarNodeMetadata.Add("ISTIO_VERSION", "1.24.2")));

        var text = new StringBuilder();
        metrics.WritePrometheus(text);

        var build = Assert.Single(PrometheusScrape.Parse(text.ToString()).Samples("istio_build"));
        Assert.Equal((1d, "proxy", "1.24.2"), (build.Value, build.Label("component"), build.Label("tag")));
    }

    [Fact]
    public void WritePrometheus_CountsHistogramsAndLabels_ParseStrictly()
    {
        var metrics = new IstioMetrics();
        metrics.Configure(IstioWorkload.FromNodeMetadata(IstioLabelResolverTests.SidecarNodeMetadata));
        using var cluster = NewCluster("outbound|9080|v2|reviews.bookinfo.svc.cluster.local", out var host);
        var ok = metrics.LabelsFor(IstioReporter.Source, cluster, host);
        var noHost = metrics.LabelsFor(IstioReporter.Source, cluster, null);
        long[] durations = [0, 1, 3, 7, 120, 4_000_000];
        foreach (var duration in durations)
        {
            metrics.RecordHttp(ok, isGrpc: false, 200, "-", -1, duration, requestBytes: 10, responseBytes: 1000);
        }

        metrics.RecordHttp(noHost, isGrpc: false, 503, "UH", -1, 0, 0, 19);
        metrics.RecordHttp(ok, isGrpc: true, 200, "-", 13, 2, 5, 0);

        var text = new StringBuilder();
        metrics.WritePrometheus(text);
        var scrape = PrometheusScrape.Parse(text.ToString());

        Assert.Equal("counter", scrape.Family("istio_requests_total").Type);
        Assert.Equal("histogram", scrape.Family("istio_request_duration_milliseconds").Type);
        Assert.Equal(6, scrape.Sum("istio_requests_total", ("response_code", "200"), ("request_protocol", "http"), ("destination_workload", "reviews-v2")));
        var uh = Assert.Single(scrape.Samples("istio_requests_total", ("response_flags", "UH")));
        Assert.Equal(("503", "unknown", "reviews.bookinfo.svc.cluster.local", "", "unknown"), (uh.Label("response_code"), uh.Label("destination_workload"), uh.Label("destination_service"), uh.Label("grpc_response_status"), uh.Label("connection_security_policy")));
        var grpc = Assert.Single(scrape.Samples("istio_requests_total", ("request_protocol", "grpc")));
        Assert.Equal("13", grpc.Label("grpc_response_status"));

        (string, string)[] okSeries = [("response_code", "200"), ("request_protocol", "http")];
        Assert.Equal(6, Assert.Single(scrape.Samples("istio_request_duration_milliseconds_count", okSeries)).Value);
        Assert.Equal(4_000_131, Assert.Single(scrape.Samples("istio_request_duration_milliseconds_sum", okSeries)).Value);
        Assert.Equal(1, Bucket(scrape, "0.5"));
        Assert.Equal(2, Bucket(scrape, "1"));
        Assert.Equal(3, Bucket(scrape, "5"));
        Assert.Equal(5, Bucket(scrape, "250"));
        Assert.Equal(5, Bucket(scrape, "3600000"));
        Assert.Equal(6, Bucket(scrape, "+Inf"));
        Assert.Equal(20, scrape.Samples("istio_request_duration_milliseconds_bucket", okSeries).Count);
        Assert.Equal(60, Assert.Single(scrape.Samples("istio_request_bytes_sum", okSeries)).Value);
        Assert.Equal(6, Assert.Single(scrape.Samples("istio_response_bytes_bucket", [.. okSeries, ("le", "1000")])).Value);
        Assert.Equal(0, Assert.Single(scrape.Samples("istio_response_bytes_bucket", [.. okSeries, ("le", "500")])).Value);

        static double Bucket(PrometheusScrape scrape, string le) =>
            Assert.Single(scrape.Samples("istio_request_duration_milliseconds_bucket", ("response_code", "200"), ("request_protocol", "http"), ("le", le))).Value;
    }

    [Fact]
    public void TcpSeries_Hook_CountsConnectionsAndBytes()
    {
        var metrics = new IstioMetrics();
        metrics.Configure(IstioWorkload.FromNodeMetadata(IstioLabelResolverTests.SidecarNodeMetadata));
        using var cluster = NewCluster("outbound|5432||db.data.svc.cluster.local", out var host);

        var series = metrics.TcpSeries(TrafficDirection.Outbound, cluster, host);
        Assert.Same(series, metrics.TcpSeries(TrafficDirection.Outbound, cluster, host));
        series.ConnectionOpened();
        series.AddReceivedBytes(100);
        series.AddSentBytes(4000);
        series.ConnectionClosed();
        series.ConnectionOpened();
        var failed = metrics.TcpSeries(TrafficDirection.Outbound, cluster, host, "UF");
        failed.ConnectionOpened();
        failed.ConnectionClosed();
        var inbound = metrics.TcpSeries(TrafficDirection.Inbound, cluster, host);
        inbound.ConnectionOpened();

        var text = new StringBuilder();
        metrics.WritePrometheus(text);
        var scrape = PrometheusScrape.Parse(text.ToString());

        (string, string)[] ok = [("reporter", "source"), ("response_flags", "-"), ("request_protocol", "tcp")];
        Assert.Equal(2, Assert.Single(scrape.Samples("istio_tcp_connections_opened_total", ok)).Value);
        Assert.Equal(1, Assert.Single(scrape.Samples("istio_tcp_connections_closed_total", ok)).Value);
        Assert.Equal(100, Assert.Single(scrape.Samples("istio_tcp_received_bytes_total", ok)).Value);
        Assert.Equal(4000, Assert.Single(scrape.Samples("istio_tcp_sent_bytes_total", ok)).Value);
        var uf = Assert.Single(scrape.Samples("istio_tcp_connections_closed_total", ("response_flags", "UF")));
        Assert.Equal(("db.data.svc.cluster.local", "bookinfo"), (uf.Label("destination_service"), uf.Label("destination_service_namespace")));
        Assert.False(uf.Labels.ContainsKey("response_code"), "TCP metrics carry no response_code");
        var server = Assert.Single(scrape.Samples("istio_tcp_connections_opened_total", ("reporter", "destination")));
        Assert.Equal(("productpage-v1", "none"), (server.Label("destination_workload"), server.Label("connection_security_policy")));
    }

    [Fact]
    public void TcpMetrics_ProcessHook_ReportsIntoTheProcessStore()
    {
        var name = "outbound|6379||cache-" + Guid.NewGuid().ToString("N")[..8] + ".ns.svc.cluster.local";
        using var cluster = NewCluster(name, out var host);

        var series = TcpMetrics.Series(TrafficDirection.Outbound, cluster, host);
        series.ConnectionOpened();
        series.AddReceivedBytes(7);
        series.ConnectionClosed();

        var text = new StringBuilder();
        StatsStore.Process.Istio.WritePrometheus(text);
        var scrape = PrometheusScrape.Parse(text.ToString());
        (string, string) service = ("destination_service", name[(name.LastIndexOf('|') + 1)..]);
        Assert.Equal(1, Assert.Single(scrape.Samples("istio_tcp_connections_closed_total", service)).Value);
        Assert.Equal(7, Assert.Single(scrape.Samples("istio_tcp_received_bytes_total", service)).Value);
    }

    [Fact]
    public void RecordHttp_WithMeterListener_ReportsToTheInstruments()
    {
        var metrics = new IstioMetrics();
        var workload = "meter-" + Guid.NewGuid().ToString("N")[..8];
        metrics.Configure(new IstioWorkload { WorkloadName = workload });
        var requests = new List<(long Value, Dictionary<string, object?> Tags)>();
        var durations = new List<long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ProxyMeter.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            if (!Equals(copy.GetValueOrDefault("source_workload"), workload))
            {
                return;
            }

            lock (requests)
            {
                if (instrument.Name == "istio_requests_total")
                {
                    requests.Add((value, copy));
                }
                else if (instrument.Name == "istio_request_duration_milliseconds")
                {
                    durations.Add(value);
                }
            }
        });
        listener.Start();

        metrics.RecordHttp(metrics.LabelsFor(IstioReporter.Source, null, null), isGrpc: false, 404, "NR", -1, 12, 0, 0);

        var (count, tags) = Assert.Single(requests);
        Assert.Equal(1, count);
        Assert.Equal(("404", "NR", "http", "source"), (tags["response_code"], tags["response_flags"], tags["request_protocol"], tags["reporter"]));
        Assert.Equal(25, tags.Count);
        Assert.Equal(12, Assert.Single(durations));
    }

    [Fact]
    public void LabelsFor_SameValuesFromTwoClusterStates_ShareOneSeries()
    {
        var metrics = new IstioMetrics();
        using var first = NewCluster("outbound|80||same.ns.svc.cluster.local", out var firstHost);
        using var second = NewCluster("outbound|80||same.ns.svc.cluster.local", out var secondHost);

        Assert.Same(metrics.LabelsFor(IstioReporter.Source, first, firstHost), metrics.LabelsFor(IstioReporter.Source, second, secondHost));
    }

    internal static ClusterState NewCluster(string name, out HostState host)
    {
        var endpoint = IstioLabelResolverTests.Endpoint(IstioLabelResolverTests.Metadata("istio", "workload", "reviews-v2;bookinfo;reviews;v2;Kubernetes"));
        var config = IstioLabelResolverTests.Cluster(name) with { Endpoints = [endpoint] };
        host = new HostState(endpoint, new IPEndPoint(IPAddress.Loopback, 1));
        return new ClusterState(config, [host], 1, name);
    }
}
