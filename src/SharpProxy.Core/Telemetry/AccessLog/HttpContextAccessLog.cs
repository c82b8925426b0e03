using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Listeners;

namespace SharpProxy.Core.Telemetry.AccessLog;

/// <summary>The Kestrel path's side of the access log: reads an HttpContext into entries and queues them.</summary>
internal static class HttpContextAccessLog
{
    public static void Write(HttpContext context, RequestLogState state, ProxyConnectionFeature connection, HttpConnectionManagerConfig http)
    {
        var facts = Facts(context, state, connection);
        var headers = new HttpContextHeaders(context, state);
        foreach (var log in http.AccessLogs)
        {
            AccessLogSink.For(log).Write(AccessLogEntry.Capture(log.Format, ref headers, facts));
        }
    }

    public static AccessLogFacts Facts(HttpContext context, RequestLogState state, ProxyConnectionFeature connection)
    {
        var response = context.Response;

        // This proxy's own flag (as the metrics use it); the response header may have come from an upstream proxy.
        var flags = state.ResponseFlags
            ?? (context.RequestAborted.IsCancellationRequested && !response.HasStarted ? Filters.ResponseFlags.DownstreamConnectionTermination : null);
        return Facts(state, context.Request.Protocol, response.StatusCode, flags, connection);
    }

    /// <summary>The facts of a finished request from what both paths record (the fast path calls this directly).</summary>
    public static AccessLogFacts Facts(RequestLogState state, string protocol, int responseCode, string? flags, ProxyConnectionFeature connection)
    {
        var now = Stopwatch.GetTimestamp();
        return new AccessLogFacts
        {
            StartTime = state.StartTime,
            Protocol = protocol,
            ResponseCode = responseCode,
            ResponseFlags = flags,
            ResponseCodeDetails = state.ResponseCodeDetails ?? AccessLogEntry.DetailsForFlags(flags, state.ResponseStartTimestamp != 0),
            BytesReceived = state.BytesReceived,
            BytesSent = state.BytesSent,
            DurationMs = Milliseconds(state.StartTimestamp, now),
            RequestDurationMs = state.RequestEndTimestamp == 0 ? -1 : Milliseconds(state.StartTimestamp, state.RequestEndTimestamp),
            ResponseDurationMs = state.ResponseStartTimestamp == 0 ? -1 : Milliseconds(state.StartTimestamp, state.ResponseStartTimestamp),
            UpstreamHost = state.UpstreamHost,
            UpstreamCluster = state.UpstreamCluster,
            UpstreamTransportFailureReason = state.UpstreamTransportFailureReason,
            UpstreamAttempts = state.UpstreamAttempts,
            DownstreamRemote = connection.RemoteEndPoint,
            DownstreamLocal = connection.DestinationEndPoint,
            RequestedServerName = connection.RequestedServerName,
            RouteName = state.RouteName,
            TraceId = state.Trace?.TraceIdHex,
        };
    }

    private static long Milliseconds(long from, long to) => (long)Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    /// <summary>Header lookup over Kestrel's request and response; x-request-id includes the one this proxy generated.</summary>
    internal readonly struct HttpContextHeaders(HttpContext context, RequestLogState state) : IAccessLogHeaders
    {
        public string? RequestHeader(string name)
        {
            var request = context.Request;
            switch (name)
            {
                case ":method": return request.Method;
                case ":path": return context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value;
                case ":authority": return First(request.Headers.Host);
                case ":scheme": return request.Scheme;
                case "x-request-id": return state.RequestId ?? First(request.Headers[name]);
                default: return First(request.Headers[name]);
            }
        }

        public string? ResponseHeader(string name) => First(context.Response.Headers[name]);

        public string? ResponseTrailer(string name) =>
            context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is { } trailers ? First(trailers[name]) : null;

        private static string? First(Microsoft.Extensions.Primitives.StringValues values) => values.Count == 0 ? null : values[0];
    }
}
