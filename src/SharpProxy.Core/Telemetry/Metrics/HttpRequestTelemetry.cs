using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using SharpProxy.Core.Filters;

namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>
/// The one metrics call at the end of every HTTP request: Istio's request metrics and Envoy's http.* request stats.
/// Reads only what the request already holds (status, the local reply's flag, grpc-status) and allocates nothing.
/// </summary>
internal static class HttpRequestTelemetry
{
    public static void OnRequestEnd(StatsStore store, HttpContext context, RequestLogState state, HttpConnectionManagerStats http, IstioReporter reporter, bool isGrpc)
    {
        var response = context.Response;
        var aborted = context.RequestAborted.IsCancellationRequested && !response.HasStarted;

        // Istio reports code 0 when no response was sent (the client left first).
        var code = aborted ? 0 : response.StatusCode;
        // The flag of our own local reply (recorded by LocalReply), never the response header: an upstream proxy's header
        // describes its hop, and an arbitrary upstream could otherwise mint label values.
        var flags = state.ResponseFlags ?? (aborted ? ResponseFlags.DownstreamConnectionTermination : ResponseFlags.None);
        var responseBytes = state.BytesSent > 0 ? state.BytesSent : response.ContentLength ?? 0;
        var grpcStatus = isGrpc ? GrpcStatusOf(context) : -1;
        OnRequestEnd(store, code, flags, grpcStatus, responseBytes, state, http, reporter, isGrpc);
    }

    /// <summary>The same, for a request served without an HttpContext (the HTTP/1.1 fast path).</summary>
    public static void OnRequestEnd(StatsStore store, int code, string flags, int grpcStatus, long responseBytes, RequestLogState state, HttpConnectionManagerStats http, IstioReporter reporter, bool isGrpc)
    {
        http.OnRequestEnd(code);
        var durationMilliseconds = (long)Stopwatch.GetElapsedTime(state.StartTimestamp).TotalMilliseconds;
        var requestBytes = Volatile.Read(ref state.BytesReceived);
        var istio = store.Istio;
        var labels = istio.LabelsFor(reporter, state.Cluster, state.Host);
        istio.RecordHttp(labels, isGrpc, code, flags, grpcStatus, durationMilliseconds, requestBytes, responseBytes);
    }

    public static bool IsGrpc(HttpRequest request)
    {
        var contentType = request.ContentType;
        return contentType is not null && contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);
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
