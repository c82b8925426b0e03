using System.Diagnostics;

namespace SharpProxy.Core.Telemetry;

/// <summary>
/// What the access log and the metrics need about one request beyond the HttpContext: start time, body bytes each
/// way, and the cluster and host the request went to.
/// </summary>
internal sealed class RequestLogState
{
    public long StartTimestamp { get; private set; } = Stopwatch.GetTimestamp();

    private DateTimeOffset? _startTime;

    /// <summary>
    /// The wall-clock start, worked out from <see cref="StartTimestamp"/> when first read: only access logs and traces
    /// read it, so a request that neither logs nor traces does not read the wall clock.
    /// </summary>
    public DateTimeOffset StartTime => _startTime ??= DateTimeOffset.UtcNow - Stopwatch.GetElapsedTime(StartTimestamp);

    public string? UpstreamHost { get; set; }

    public string? UpstreamCluster { get; set; }

    /// <summary>Envoy's short response flag of the local reply this proxy sent, if it sent one (e.g. "UH").</summary>
    public string? ResponseFlags { get; set; }

    /// <summary>The routed cluster (set once routing found it; stays null for NR/NC replies).</summary>
    public Upstream.ClusterState? Cluster { get; set; }

    /// <summary>The picked host (null when none was usable: UH).</summary>
    public Upstream.HostState? Host { get; set; }

    /// <summary>The x-request-id the proxy generated, when it did.</summary>
    public string? RequestId { get; set; }

    /// <summary>The matched route's name (%ROUTE_NAME%).</summary>
    public string? RouteName { get; set; }

    /// <summary>%RESPONSE_CODE_DETAILS% when the pipeline knows it better than the flags do (direct responses).</summary>
    public string? ResponseCodeDetails { get; set; }

    /// <summary>Why the last upstream try failed at the transport level (%UPSTREAM_TRANSPORT_FAILURE_REASON%).</summary>
    public string? UpstreamTransportFailureReason { get; set; }

    /// <summary>Upstream tries made (%UPSTREAM_REQUEST_ATTEMPT_COUNT%).</summary>
    public int UpstreamAttempts { get; set; }

    /// <summary>Stopwatch timestamp when the downstream request body ended (0 = not seen).</summary>
    public long RequestEndTimestamp { get; set; }

    /// <summary>Stopwatch timestamp when the upstream response headers arrived (0 = none arrived).</summary>
    public long ResponseStartTimestamp { get; set; }

    /// <summary>This request's trace context when the HCM traces (null otherwise).</summary>
    public Tracing.RequestTrace? Trace { get; set; }

    public long BytesReceived;

    public long BytesSent;

    /// <summary>Starts over for the next request on the same connection (the HTTP/1.1 fast path keeps one per connection).</summary>
    public void Reset()
    {
        StartTimestamp = Stopwatch.GetTimestamp();
        _startTime = null;
        UpstreamHost = null;
        UpstreamCluster = null;
        ResponseFlags = null;
        Cluster = null;
        Host = null;
        RequestId = null;
        RouteName = null;
        ResponseCodeDetails = null;
        UpstreamTransportFailureReason = null;
        UpstreamAttempts = 0;
        RequestEndTimestamp = 0;
        ResponseStartTimestamp = 0;
        Trace = null;
        BytesReceived = 0;
        BytesSent = 0;
    }
}
