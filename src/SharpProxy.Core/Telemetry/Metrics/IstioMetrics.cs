using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>
/// Istio's standard metrics (istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes,
/// istio_response_bytes and the istio_tcp_* counters) kept in our own lock-free series.
/// Per request: one lock-free cache read for the workload labels of (reporter, cluster, host), one for the series of
/// (labels, code, flags, grpc status, protocol), then interlocked adds. Nothing is allocated once a series exists.
/// </summary>
internal sealed class IstioMetrics
{
    private readonly ConcurrentDictionary<HttpSeriesKey, IstioHttpSeries> _http = new();
    private readonly ConcurrentDictionary<TcpSeriesKey, IstioTcpSeries> _tcp = new();
    private readonly ConcurrentDictionary<string, IstioLabelSet> _interned = new(StringComparer.Ordinal);
    private ConditionalWeakTable<HostState, LabelsByReporter> _byHost = new();
    private ConditionalWeakTable<ClusterState, LabelsByReporter> _byCluster = new();
    private LabelsByReporter _noCluster = new();
    private IstioWorkload _local = IstioWorkload.Empty;

    public IstioWorkload Local => Volatile.Read(ref _local);

    public int HttpSeriesCount => _http.Count;

    /// <summary>Sets the local workload (from node metadata). Done once at startup, before traffic.</summary>
    public void Configure(IstioWorkload local)
    {
        Volatile.Write(ref _local, local);
        _byHost = new();
        _byCluster = new();
        _noCluster = new();
    }

    /// <summary>Workload labels for a request or connection; cached per host (or per cluster when no host was picked).</summary>
    public IstioLabelSet LabelsFor(IstioReporter reporter, ClusterState? cluster, HostState? host)
    {
        LabelsByReporter? cached;
        if (host is not null && cluster is not null)
        {
            if (!_byHost.TryGetValue(host, out cached))
            {
                cached = _byHost.GetValue(host, static _ => new LabelsByReporter());
            }
        }
        else if (cluster is not null)
        {
            if (!_byCluster.TryGetValue(cluster, out cached))
            {
                cached = _byCluster.GetValue(cluster, static _ => new LabelsByReporter());
            }
        }
        else
        {
            cached = _noCluster;
        }

        return cached.Get(reporter) ?? cached.Set(reporter, Intern(IstioLabelResolver.Resolve(reporter, Local, cluster?.Config, host?.Config)));
    }

    /// <summary>Records one finished HTTP request.</summary>
    /// <param name="grpcStatus">grpc-status of the response, or -1 when there was none.</param>
    public void RecordHttp(IstioLabelSet labels, bool isGrpc, int responseCode, string responseFlags, int grpcStatus, long durationMilliseconds, long requestBytes, long responseBytes)
    {
        var key = new HttpSeriesKey(labels, responseCode, responseFlags, grpcStatus, isGrpc);
        if (!_http.TryGetValue(key, out var series))
        {
            series = _http.GetOrAdd(key, static k => new IstioHttpSeries(k));
        }

        series.Record(durationMilliseconds, requestBytes, responseBytes);
    }

    /// <summary>
    /// The series a TCP connection reports into (the hook for the TCP proxy): call <see cref="IstioTcpSeries.ConnectionOpened"/>
    /// when the upstream connection is attempted, add bytes as they flow, <see cref="IstioTcpSeries.ConnectionClosed"/> at the end.
    /// Look it up once per connection, with the response flags known at that point ("-" normally, "UF" for a failed connect).
    /// </summary>
    public IstioTcpSeries TcpSeries(TrafficDirection direction, ClusterState? cluster, HostState? host, string responseFlags = "-")
    {
        var key = new TcpSeriesKey(LabelsFor(IstioLabelResolver.ReporterFor(direction), cluster, host), responseFlags);
        if (!_tcp.TryGetValue(key, out var series))
        {
            series = _tcp.GetOrAdd(key, static k => new IstioTcpSeries(k.Labels, k.Flags));
        }

        return series;
    }

    /// <summary>Appends the istio_* families in Prometheus text format.</summary>
    public void WritePrometheus(StringBuilder text)
    {
        // Istio's proxy version gauge (dashboards read the data plane version from it).
        text.Append("# TYPE istio_build gauge\nistio_build{component=\"proxy\",");
        PrometheusText.AppendLabel(text, "tag", Local.IstioVersion.Length > 0 ? Local.IstioVersion : IstioLabelResolver.Unknown);
        text.Append("} 1\n");

        var http = SortedHttp();
        text.Append("# TYPE istio_requests_total counter\n");
        foreach (var series in http)
        {
            text.Append("istio_requests_total{").Append(series.PrometheusLabels).Append("} ").Append(PrometheusText.Value(series.Requests)).Append('\n');
        }

        WriteHistogramFamily(text, "istio_request_duration_milliseconds", http, static s => s.Duration);
        WriteHistogramFamily(text, "istio_request_bytes", http, static s => s.RequestBytes);
        WriteHistogramFamily(text, "istio_response_bytes", http, static s => s.ResponseBytes);

        var tcp = new List<IstioTcpSeries>(_tcp.Values);
        tcp.Sort(static (a, b) => string.CompareOrdinal(a.PrometheusLabels, b.PrometheusLabels));
        WriteTcpFamily(text, "istio_tcp_connections_opened_total", tcp, static s => s.Opened);
        WriteTcpFamily(text, "istio_tcp_connections_closed_total", tcp, static s => s.Closed);
        WriteTcpFamily(text, "istio_tcp_received_bytes_total", tcp, static s => s.ReceivedBytes);
        WriteTcpFamily(text, "istio_tcp_sent_bytes_total", tcp, static s => s.SentBytes);
    }

    private IstioLabelSet Intern(IstioLabelSet labels) => _interned.GetOrAdd(labels.Key, labels);

    private List<IstioHttpSeries> SortedHttp()
    {
        var http = new List<IstioHttpSeries>(_http.Values);
        http.Sort(static (a, b) => string.CompareOrdinal(a.PrometheusLabels, b.PrometheusLabels));
        return http;
    }

    private static void WriteHistogramFamily(StringBuilder text, string name, List<IstioHttpSeries> all, Func<IstioHttpSeries, LongHistogram> select)
    {
        text.Append("# TYPE ").Append(name).Append(" histogram\n");
        Span<long> cumulative = stackalloc long[LongHistogram.EnvoyDefaultBuckets.Length];
        foreach (var series in all)
        {
            var histogram = select(series);
            var count = histogram.Snapshot(cumulative, out var sum);
            var bounds = histogram.Bounds;
            for (var i = 0; i < bounds.Length; i++)
            {
                text.Append(name).Append("_bucket{").Append(series.PrometheusLabels).Append(",le=\"").Append(PrometheusText.Bound(bounds[i]))
                    .Append("\"} ").Append(PrometheusText.Value(cumulative[i])).Append('\n');
            }

            text.Append(name).Append("_bucket{").Append(series.PrometheusLabels).Append(",le=\"+Inf\"} ").Append(PrometheusText.Value(count)).Append('\n');
            text.Append(name).Append("_sum{").Append(series.PrometheusLabels).Append("} ").Append(PrometheusText.Value(sum)).Append('\n');
            text.Append(name).Append("_count{").Append(series.PrometheusLabels).Append("} ").Append(PrometheusText.Value(count)).Append('\n');
        }
    }

    private static void WriteTcpFamily(StringBuilder text, string name, List<IstioTcpSeries> all, Func<IstioTcpSeries, long> select)
    {
        text.Append("# TYPE ").Append(name).Append(" counter\n");
        foreach (var series in all)
        {
            text.Append(name).Append('{').Append(series.PrometheusLabels).Append("} ").Append(PrometheusText.Value(select(series))).Append('\n');
        }
    }

    private sealed class LabelsByReporter
    {
        private IstioLabelSet? _source;
        private IstioLabelSet? _destination;

        public IstioLabelSet? Get(IstioReporter reporter) =>
            reporter == IstioReporter.Destination ? Volatile.Read(ref _destination) : Volatile.Read(ref _source);

        public IstioLabelSet Set(IstioReporter reporter, IstioLabelSet labels)
        {
            // Racing writers computed the same interned instance; either write is right.
            if (reporter == IstioReporter.Destination)
            {
                Volatile.Write(ref _destination, labels);
            }
            else
            {
                Volatile.Write(ref _source, labels);
            }

            return labels;
        }
    }
}

/// <summary>What varies per request on top of the workload labels. Labels compare by reference (they are interned).</summary>
internal readonly struct HttpSeriesKey(IstioLabelSet labels, int code, string flags, int grpcStatus, bool isGrpc) : IEquatable<HttpSeriesKey>
{
    public IstioLabelSet Labels { get; } = labels;

    public int Code { get; } = code;

    public string Flags { get; } = flags;

    public int GrpcStatus { get; } = grpcStatus;

    public bool IsGrpc { get; } = isGrpc;

    public bool Equals(HttpSeriesKey other) =>
        ReferenceEquals(Labels, other.Labels) && Code == other.Code && GrpcStatus == other.GrpcStatus && IsGrpc == other.IsGrpc
        && string.Equals(Flags, other.Flags, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is HttpSeriesKey other && Equals(other);

    public override int GetHashCode() =>
        HashCode.Combine(RuntimeHelpers.GetHashCode(Labels), Code, GrpcStatus, IsGrpc, string.GetHashCode(Flags, StringComparison.Ordinal));
}

internal readonly struct TcpSeriesKey(IstioLabelSet labels, string flags) : IEquatable<TcpSeriesKey>
{
    public IstioLabelSet Labels { get; } = labels;

    public string Flags { get; } = flags;

    public bool Equals(TcpSeriesKey other) => ReferenceEquals(Labels, other.Labels) && string.Equals(Flags, other.Flags, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is TcpSeriesKey other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(RuntimeHelpers.GetHashCode(Labels), string.GetHashCode(Flags, StringComparison.Ordinal));
}

/// <summary>One label combination of the HTTP metrics: the request counter and the three histograms.</summary>
internal sealed class IstioHttpSeries
{
    private readonly KeyValuePair<string, object?>[] _tags;
    private long _requests;

    public IstioHttpSeries(HttpSeriesKey key)
    {
        var protocol = key.IsGrpc ? "grpc" : "http";
        var code = key.Code.ToString(CultureInfo.InvariantCulture);
        var grpcStatus = key.GrpcStatus >= 0 ? key.GrpcStatus.ToString(CultureInfo.InvariantCulture) : "";
        var text = new StringBuilder(key.Labels.PrometheusLabels, key.Labels.PrometheusLabels.Length + 160);
        text.Append(',');
        PrometheusText.AppendLabel(text, "request_protocol", protocol);
        text.Append(',');
        PrometheusText.AppendLabel(text, "response_code", code);
        text.Append(',');
        PrometheusText.AppendLabel(text, "grpc_response_status", grpcStatus);
        text.Append(',');
        PrometheusText.AppendLabel(text, "response_flags", key.Flags);
        text.Append(',');
        PrometheusText.AppendLabel(text, "connection_security_policy", key.Labels.ConnectionSecurityPolicy);
        PrometheusLabels = text.ToString();
        _tags = Tags(key.Labels, ("request_protocol", protocol), ("response_code", code), ("grpc_response_status", grpcStatus), ("response_flags", key.Flags));
    }

    public string PrometheusLabels { get; }

    public long Requests => Volatile.Read(ref _requests);

    public LongHistogram Duration { get; } = new(LongHistogram.EnvoyDefaultBuckets);

    public LongHistogram RequestBytes { get; } = new(LongHistogram.EnvoyDefaultBuckets);

    public LongHistogram ResponseBytes { get; } = new(LongHistogram.EnvoyDefaultBuckets);

    public void Record(long durationMilliseconds, long requestBytes, long responseBytes)
    {
        Interlocked.Increment(ref _requests);
        Duration.Record(durationMilliseconds);
        RequestBytes.Record(requestBytes);
        ResponseBytes.Record(responseBytes);
        if (ProxyMeter.RequestsTotal.Enabled || ProxyMeter.RequestDuration.Enabled)
        {
            RecordInstruments(durationMilliseconds, requestBytes, responseBytes);
        }
    }

    internal static KeyValuePair<string, object?>[] Tags(IstioLabelSet labels, params (string Name, string Value)[] extra)
    {
        var names = IstioLabelSet.WorkloadLabelNames;
        var tags = new KeyValuePair<string, object?>[names.Length + extra.Length + 1];
        for (var i = 0; i < names.Length; i++)
        {
            tags[i] = new(names[i], labels.Values[i]);
        }

        for (var i = 0; i < extra.Length; i++)
        {
            tags[names.Length + i] = new(extra[i].Name, extra[i].Value);
        }

        tags[^1] = new("connection_security_policy", labels.ConnectionSecurityPolicy);
        return tags;
    }

    private void RecordInstruments(long durationMilliseconds, long requestBytes, long responseBytes)
    {
        // Only while a MeterListener (OpenTelemetry, dotnet-counters) subscribes; TagList may allocate then.
        var tags = new TagList(_tags);
        ProxyMeter.RequestsTotal.Add(1, tags);
        ProxyMeter.RequestDuration.Record(durationMilliseconds, tags);
        ProxyMeter.RequestBytes.Record(requestBytes, tags);
        ProxyMeter.ResponseBytes.Record(responseBytes, tags);
    }
}

/// <summary>One label combination of the TCP metrics; the TCP proxy holds it for a connection's life.</summary>
internal sealed class IstioTcpSeries
{
    private readonly KeyValuePair<string, object?>[] _tags;
    private long _opened;
    private long _closed;
    private long _sent;
    private long _received;

    public IstioTcpSeries(IstioLabelSet labels, string responseFlags)
    {
        var text = new StringBuilder(labels.PrometheusLabels, labels.PrometheusLabels.Length + 96);
        text.Append(',');
        PrometheusText.AppendLabel(text, "request_protocol", "tcp");
        text.Append(',');
        PrometheusText.AppendLabel(text, "response_flags", responseFlags);
        text.Append(',');
        PrometheusText.AppendLabel(text, "connection_security_policy", labels.ConnectionSecurityPolicy);
        PrometheusLabels = text.ToString();
        _tags = IstioHttpSeries.Tags(labels, ("request_protocol", "tcp"), ("response_flags", responseFlags));
    }

    public string PrometheusLabels { get; }

    public long Opened => Volatile.Read(ref _opened);

    public long Closed => Volatile.Read(ref _closed);

    /// <summary>Bytes sent to the downstream (istio_tcp_sent_bytes_total).</summary>
    public long SentBytes => Volatile.Read(ref _sent);

    /// <summary>Bytes received from the downstream (istio_tcp_received_bytes_total).</summary>
    public long ReceivedBytes => Volatile.Read(ref _received);

    public void ConnectionOpened()
    {
        Interlocked.Increment(ref _opened);
        if (ProxyMeter.TcpOpened.Enabled)
        {
            ProxyMeter.TcpOpened.Add(1, new TagList(_tags));
        }
    }

    public void ConnectionClosed()
    {
        Interlocked.Increment(ref _closed);
        if (ProxyMeter.TcpClosed.Enabled)
        {
            ProxyMeter.TcpClosed.Add(1, new TagList(_tags));
        }
    }

    public void AddSentBytes(long bytes)
    {
        Interlocked.Add(ref _sent, bytes);
        if (ProxyMeter.TcpSentBytes.Enabled)
        {
            ProxyMeter.TcpSentBytes.Add(bytes, new TagList(_tags));
        }
    }

    public void AddReceivedBytes(long bytes)
    {
        Interlocked.Add(ref _received, bytes);
        if (ProxyMeter.TcpReceivedBytes.Enabled)
        {
            ProxyMeter.TcpReceivedBytes.Add(bytes, new TagList(_tags));
        }
    }
}
