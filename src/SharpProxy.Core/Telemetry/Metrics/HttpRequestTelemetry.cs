using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using SharpProxy.Core.Filters;

namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>
/// The one metrics call at the end of every HTTP request: Istio's request metrics and Envoy's http.* request stats.
/// Reads only what the request already holds (status, flag header, grpc-status) and allocates nothing.
/// </summary>
internal static class HttpRequestTelemetry
{
    public static void OnRequestEnd(StatsStore store, HttpContext context, RequestLogState state, HttpConnectionManagerStats http, IstioReporter reporter, bool isGrpc)
    {
        var response = context.Response;
        var aborted = context.RequestAborted.IsCancellationRequested && !response.HasStarted;

        // Istio reports code 0 when no response was sent (the client left first).
        var code = aborted ? 0 : response.StatusCode;
        var flags = ResponseFlagsOf(response, aborted);
        http.OnRequestEnd(code);

        var durationMilliseconds = (long)Stopwatch.GetElapsedTime(state.StartTimestamp).TotalMilliseconds;
        var responseBytes = state.BytesSent > 0 ? state.BytesSent : response.ContentLength ?? 0;
        var requestBytes = Volatile.Read(ref state.BytesReceived);
        var grpcStatus = isGrpc ? GrpcStatusOf(context) : -1;
        var istio = store.Istio;
        var labels = istio.LabelsFor(reporter, state.Cluster, state.Host);
        istio.RecordHttp(labels, isGrpc, code, flags, grpcStatus, durationMilliseconds, requestBytes, responseBytes);
    }

    public static bool IsGrpc(HttpRequest request)
    {
        var contentType = request.ContentType;
        return contentType is not null && contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The flag our local reply set, as the shared constant. The header also arrives from upstreams (responses are copied),
    /// so any value that is not one of our flags is ignored: an upstream cannot mint label values.
    /// </summary>
    private static string ResponseFlagsOf(HttpResponse response, bool aborted)
    {
        var header = response.Headers[LocalReply.ResponseFlagsHeader];
        var flags = header.Count == 1 ? header[0] switch
        {
            ResponseFlags.NoRouteFound => ResponseFlags.NoRouteFound,
            ResponseFlags.NoHealthyUpstream => ResponseFlags.NoHealthyUpstream,
            ResponseFlags.UpstreamConnectionFailure => ResponseFlags.UpstreamConnectionFailure,
            ResponseFlags.UpstreamConnectionTermination => ResponseFlags.UpstreamConnectionTermination,
            ResponseFlags.UpstreamRemoteReset => ResponseFlags.UpstreamRemoteReset,
            ResponseFlags.UpstreamRequestTimeout => ResponseFlags.UpstreamRequestTimeout,
            ResponseFlags.NoClusterFound => ResponseFlags.NoClusterFound,
            ResponseFlags.UpstreamOverflow => ResponseFlags.UpstreamOverflow,
            ResponseFlags.DownstreamConnectionTermination => ResponseFlags.DownstreamConnectionTermination,
            ResponseFlags.DownstreamProtocolError => ResponseFlags.DownstreamProtocolError,
            ResponseFlags.UpgradeFailed => ResponseFlags.UpgradeFailed,
            _ => null,
        } : null;
        return flags ?? (aborted ? ResponseFlags.DownstreamConnectionTermination : ResponseFlags.None);
    }

    /// <summary>grpc-status from the trailers, or from the headers of a trailers-only response; -1 when absent.</summary>
    private static int GrpcStatusOf(HttpContext context)
    {
        var status = context.Response.Headers["grpc-status"];
        if (status.Count == 0 && context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is { } trailers)
        {
            status = trailers["grpc-status"];
        }

        if (status.Count != 1)
        {
            return -1;
        }

        // gRPC clients read codes outside 0..16 as UNKNOWN (2); doing the same keeps the label's values bounded.
        return int.TryParse(status[0], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= 16 ? value : 2;
    }
}
