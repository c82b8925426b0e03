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
            result.Present = 1 << 0;
            if (headers.TryGetValue("tracestate", out var traceState))
            {
                result.TraceState = traceState.ToString();
                result.Present |= 1 << 1;
            }
        }
        else if (headers.TryGetValue("b3", out var b3))
        {
            result.B3 = b3[0];
            result.Present = 1 << 2;
        }
        else if (headers.TryGetValue("x-b3-traceid", out var b3TraceId) | headers.TryGetValue("x-b3-sampled", out var b3Sampled)
            | headers.TryGetValue("x-b3-flags", out var b3Flags))
        {
            result.B3TraceId = First(b3TraceId);
            result.B3Sampled = First(b3Sampled);
            result.B3Flags = First(b3Flags);
            result.B3SpanId = headers.TryGetValue("x-b3-spanid", out var spanId) ? spanId[0] : null;
            result.Present = (result.B3TraceId is null ? 0 : 1 << 3) | (result.B3SpanId is null ? 0 : 1 << 4)
                | (headers.ContainsKey("x-b3-parentspanid") ? 1 << 5 : 0) | (result.B3Sampled is null ? 0 : 1 << 6) | (result.B3Flags is null ? 0 : 1 << 7);
        }

        result.ForceTrace = headers.ContainsKey("x-envoy-force-trace");
        result.ClientTraceId = headers.ContainsKey("x-client-trace-id");
        return result;
    }

    /// <summary>Replaces the copied trace headers of an upstream request with this hop's.</summary>
    /// <param name="spanId">The span the upstream sees as its parent: the try's client span, or the server span when unsampled.</param>
    public static void Inject(HttpRequestHeaders headers, RequestTrace trace, ActivitySpanId spanId)
    {
        // Only the caller's own trace headers were copied upstream: remove just those (a Remove per absent name costs a parse).
        for (var present = trace.IncomingHeaders; present != 0; present &= present - 1)
        {
            headers.Remove(IncomingHeaders[System.Numerics.BitOperations.TrailingZeroCount(present)]);
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
        var span = Hex(spanId);
        if (parent.B3 == B3Form.Single)
        {
            var sampling = parent.Debug ? "d" : trace.Sampled ? "1" : "0";
            headers.TryAddWithoutValidation(
                "b3",
                b3Parent is { } p ? string.Concat(traceId, "-", span, "-", sampling) + "-" + Hex(p) : string.Concat(traceId, "-", span, "-", sampling));
            return;
        }

        headers.TryAddWithoutValidation("x-b3-traceid", traceId);
        headers.TryAddWithoutValidation("x-b3-spanid", span);
        if (b3Parent is { } parentSpan)
        {
            headers.TryAddWithoutValidation("x-b3-parentspanid", Hex(parentSpan));
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

    /// <summary>00-{trace}-{span}-{flags}, written in one string (no intermediate hex strings).</summary>
    public static string FormatTraceParent(ActivityTraceId traceId, ActivitySpanId spanId, bool sampled) =>
        string.Create(55, (traceId, spanId, sampled), static (chars, state) =>
        {
            Span<byte> bytes = stackalloc byte[16];
            chars[0] = '0';
            chars[1] = '0';
            chars[2] = '-';
            state.traceId.CopyTo(bytes);
            Convert.TryToHexStringLower(bytes, chars.Slice(3, 32), out _);
            chars[35] = '-';
            state.spanId.CopyTo(bytes[..8]);
            Convert.TryToHexStringLower(bytes[..8], chars.Slice(36, 16), out _);
            chars[52] = '-';
            chars[53] = '0';
            chars[54] = state.sampled ? '1' : '0';
        });

    private static string Hex(ActivitySpanId spanId)
    {
        Span<byte> bytes = stackalloc byte[8];
        spanId.CopyTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    private static string? First(Microsoft.Extensions.Primitives.StringValues values) => values.Count > 0 ? values[0] : null;

    /// <summary>A caller that sent a 64-bit B3 trace id gets the same width back.</summary>
    public static string FormatB3TraceId(ActivityTraceId traceId, bool width64)
    {
        Span<byte> bytes = stackalloc byte[16];
        traceId.CopyTo(bytes);
        return Convert.ToHexStringLower(width64 ? bytes[8..] : bytes);
    }
}
