using System.Diagnostics;
using System.Net.Http.Headers;

namespace SharpProxy.Core.Telemetry.Tracing;

/// <summary>
/// The trace headers of the upstream request: always W3C traceparent (and the caller's tracestate), plus B3 in the
/// form the caller used (multi-header or single b3). Envoy's OpenTelemetry tracer writes only W3C; its Zipkin tracer
/// only B3; SharpProxy answers each caller in its own form and adds W3C, so a B3 mesh and a W3C backend both follow.
/// </summary>
internal static class TracePropagation
{
    public static readonly string[] IncomingHeaders =
        ["traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags"];

    /// <summary>Reads the trace headers from a header lookup (stops at the first format present).</summary>
    public static TraceHeaders Read(Microsoft.AspNetCore.Http.IHeaderDictionary headers)
    {
        var result = default(TraceHeaders);
        if (headers.TryGetValue("traceparent", out var traceParent))
        {
            result.TraceParent = traceParent[0];
            if (headers.TryGetValue("tracestate", out var traceState))
            {
                result.TraceState = traceState.ToString();
            }
        }
        else if (headers.TryGetValue("b3", out var b3))
        {
            result.B3 = b3[0];
        }
        else if (headers.TryGetValue("x-b3-traceid", out var b3TraceId) | headers.TryGetValue("x-b3-sampled", out var b3Sampled)
            | headers.TryGetValue("x-b3-flags", out var b3Flags))
        {
            result.B3TraceId = b3TraceId.Count > 0 ? b3TraceId[0] : null;
            result.B3Sampled = b3Sampled.Count > 0 ? b3Sampled[0] : null;
            result.B3Flags = b3Flags.Count > 0 ? b3Flags[0] : null;
            result.B3SpanId = headers.TryGetValue("x-b3-spanid", out var spanId) ? spanId[0] : null;
        }

        result.ForceTrace = headers.ContainsKey("x-envoy-force-trace");
        result.ClientTraceId = headers.ContainsKey("x-client-trace-id");
        return result;
    }

    /// <summary>Replaces the copied trace headers of an upstream request with this hop's.</summary>
    /// <param name="spanId">The span the upstream sees as its parent: the try's client span, or the server span when unsampled.</param>
    public static void Inject(HttpRequestHeaders headers, RequestTrace trace, ActivitySpanId spanId)
    {
        foreach (var name in IncomingHeaders)
        {
            headers.Remove(name);
        }

        headers.TryAddWithoutValidation("traceparent", FormatTraceParent(trace.TraceId, spanId, trace.Sampled));
        if (!string.IsNullOrEmpty(trace.TraceState))
        {
            headers.TryAddWithoutValidation("tracestate", trace.TraceState);
        }

        var parent = trace.Parent;
        if (parent.B3 == B3Form.None)
        {
            return;
        }

        // The B3 parent of what we send: our server span when a client span is sent, else the caller's span.
        ActivitySpanId? b3Parent = spanId != trace.SpanId ? trace.SpanId : parent.HasIds ? parent.SpanId : null;
        var traceId = FormatB3TraceId(trace.TraceId, parent.B3TraceId64);
        if (parent.B3 == B3Form.Single)
        {
            var sampling = parent.Debug ? "d" : trace.Sampled ? "1" : "0";
            headers.TryAddWithoutValidation(
                "b3",
                b3Parent is { } p ? traceId + "-" + spanId.ToHexString() + "-" + sampling + "-" + p.ToHexString() : traceId + "-" + spanId.ToHexString() + "-" + sampling);
            return;
        }

        headers.TryAddWithoutValidation("x-b3-traceid", traceId);
        headers.TryAddWithoutValidation("x-b3-spanid", spanId.ToHexString());
        if (b3Parent is { } parentSpan)
        {
            headers.TryAddWithoutValidation("x-b3-parentspanid", parentSpan.ToHexString());
        }

        if (parent.Debug)
        {
            headers.TryAddWithoutValidation("x-b3-flags", "1");
        }
        else
        {
            headers.TryAddWithoutValidation("x-b3-sampled", trace.Sampled ? "1" : "0");
        }
    }

    public static string FormatTraceParent(ActivityTraceId traceId, ActivitySpanId spanId, bool sampled) =>
        string.Concat("00-", traceId.ToHexString(), "-", spanId.ToHexString(), sampled ? "-01" : "-00");

    /// <summary>A caller that sent a 64-bit B3 trace id gets the same width back.</summary>
    public static string FormatB3TraceId(ActivityTraceId traceId, bool width64)
    {
        var hex = traceId.ToHexString();
        return width64 ? hex[16..] : hex;
    }
}
