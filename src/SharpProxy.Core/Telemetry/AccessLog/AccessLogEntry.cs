using System.Net;

namespace SharpProxy.Core.Telemetry.AccessLog;

/// <summary>
/// Header lookup for capturing an access log entry, so the capture does not depend on HttpContext (the HTTP/1.1 fast
/// path implements it over its own parsed headers). Names are lower-case; request pseudo-headers are :method, :path
/// (with the query), :authority and :scheme. Null when absent; with several values, the first.
/// </summary>
internal interface IAccessLogHeaders
{
    string? RequestHeader(string name);

    string? ResponseHeader(string name);

    string? ResponseTrailer(string name);
}

/// <summary>Everything about one request that a format may print, besides headers (filled at the end of the request).</summary>
internal struct AccessLogFacts
{
    public DateTimeOffset StartTime;
    public string? Protocol;
    public int ResponseCode;
    public string? ResponseCodeDetails;
    public string? ConnectionTerminationDetails;
    public string? ResponseFlags;
    public long BytesReceived;
    public long BytesSent;
    public long DurationMs;

    /// <summary>Start to the end of the downstream request body; -1 when unknown.</summary>
    public long RequestDurationMs;

    /// <summary>Start to the first byte of the upstream response; -1 when there was no upstream response.</summary>
    public long ResponseDurationMs;
    public string? UpstreamHost;
    public string? UpstreamCluster;
    public string? UpstreamLocalAddress;
    public string? UpstreamTransportFailureReason;
    public int UpstreamAttempts;
    public IPEndPoint? DownstreamRemote;
    public IPEndPoint? DownstreamLocal;
    public string? RequestedServerName;
    public string? RouteName;
    public string? TraceId;
}

/// <summary>The captured values of one request for one format; formatted later, off the request path.</summary>
internal sealed class AccessLogEntry
{
    private AccessLogEntry(AccessLogFormat format, string?[] headers)
    {
        Format = format;
        Headers = headers;
    }

    public AccessLogFormat Format { get; }

    public AccessLogFacts Facts;

    /// <summary>Values of <see cref="AccessLogFormat.Slots"/>, by index.</summary>
    public string?[] Headers { get; }

    public static AccessLogEntry Capture<THeaders>(AccessLogFormat format, ref THeaders headers, in AccessLogFacts facts)
        where THeaders : struct, IAccessLogHeaders
    {
        var slots = format.Slots;
        var values = slots.Length == 0 ? [] : new string?[slots.Length];
        for (var i = 0; i < slots.Length; i++)
        {
            var slot = slots[i];
            values[i] = slot.Source switch
            {
                HeaderSource.Request => headers.RequestHeader(slot.Name),
                HeaderSource.Response => headers.ResponseHeader(slot.Name),
                _ => headers.ResponseTrailer(slot.Name),
            };
        }

        return new AccessLogEntry(format, values) { Facts = facts };
    }

    /// <summary>Envoy's %RESPONSE_CODE_DETAILS% for this proxy's own replies, from the first response flag.</summary>
    public static string? DetailsForFlags(string? flags, bool hasUpstreamResponse)
    {
        if (string.IsNullOrEmpty(flags) || flags == Filters.ResponseFlags.None)
        {
            return hasUpstreamResponse ? "via_upstream" : null;
        }

        var comma = flags.IndexOf(',');
        var first = comma < 0 ? flags : flags[..comma];
        return first switch
        {
            Filters.ResponseFlags.NoRouteFound => "route_not_found",
            Filters.ResponseFlags.NoClusterFound => "cluster_not_found",
            Filters.ResponseFlags.NoHealthyUpstream => "no_healthy_upstream",
            Filters.ResponseFlags.UpstreamRequestTimeout => "upstream_response_timeout",
            Filters.ResponseFlags.UpstreamConnectionFailure => "upstream_reset_before_response_started{connection_failure}",
            Filters.ResponseFlags.UpstreamOverflow => "upstream_reset_before_response_started{overflow}",
            Filters.ResponseFlags.UpstreamRemoteReset => "upstream_reset_before_response_started{connection_termination}",
            Filters.ResponseFlags.UpstreamConnectionTermination => "upstream_reset_after_response_started{connection_termination}",
            Filters.ResponseFlags.DownstreamConnectionTermination => "downstream_remote_disconnect",
            Filters.ResponseFlags.UpgradeFailed => "upgrade_failed",
            "FI" => "fault_filter_abort",
            _ => null,
        };
    }
}
