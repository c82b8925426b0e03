using System.Diagnostics;

namespace SharpProxy.Core.Telemetry;

/// <summary>
/// What the access log needs about one request beyond the HttpContext. Allocated only when the request's
/// connection manager has access logs.
/// </summary>
internal sealed class RequestLogState
{
    public long StartTimestamp { get; } = Stopwatch.GetTimestamp();

    public DateTimeOffset StartTime { get; } = DateTimeOffset.UtcNow;

    public string? UpstreamHost { get; set; }

    public string? UpstreamCluster { get; set; }

    /// <summary>The x-request-id the proxy generated, when it did.</summary>
    public string? RequestId { get; set; }

    public long BytesReceived;

    public long BytesSent;
}
