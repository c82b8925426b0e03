using System.Diagnostics;

namespace SharpProxy.Core.Telemetry.Tracing;

/// <summary>Which B3 form a request carried, so the upstream request gets the same form back.</summary>
internal enum B3Form : byte
{
    None,
    Multi,
    Single,
}

/// <summary>
/// The trace headers of one downstream request, as strings (so any header store can fill them: Kestrel's dictionary
/// or the HTTP/1.1 fast path's parser). Only the headers of the first format found are read: traceparent, then b3,
/// then x-b3-traceid.
/// </summary>
internal struct TraceHeaders
{
    public string? TraceParent;
    public string? TraceState;
    public string? B3;
    public string? B3TraceId;
    public string? B3SpanId;
    public string? B3ParentSpanId;
    public string? B3Sampled;
    public string? B3Flags;
    public bool ForceTrace;
    public bool ClientTraceId;

    /// <summary>Which trace headers the request carried (bits of <see cref="TracePropagation.IncomingHeaders"/>): only those are replaced upstream.</summary>
    public int Present;
}

/// <summary>A parsed parent context: trace id, the caller's span id and its sampling say (null = no say).</summary>
internal struct ParentContext
{
    public ActivityTraceId TraceId;
    public ActivitySpanId SpanId;
    public bool HasIds;
    public bool? Sampled;
    public bool Debug;
    public B3Form B3;

    /// <summary>The caller sent a 64-bit B3 trace id: B3 headers going upstream keep that width.</summary>
    public bool B3TraceId64;
}

/// <summary>W3C trace context and B3 parsing (no allocation on success or failure, apart from nothing).</summary>
internal static class TraceContextParser
{
    public static ParentContext Parse(in TraceHeaders headers)
    {
        var parent = default(ParentContext);
        if (headers.TraceParent is { } traceParent && TryParseTraceParent(traceParent, out parent.TraceId, out parent.SpanId, out var sampled))
        {
            parent.HasIds = true;
            parent.Sampled = sampled;
            return parent;
        }

        if (headers.B3 is { } single)
        {
            TryParseB3Single(single, ref parent);
            return parent;
        }

        if (headers.B3TraceId is not null || headers.B3Sampled is not null || headers.B3Flags is not null)
        {
            parent.B3 = B3Form.Multi;
            if (headers.B3TraceId is { } traceId && headers.B3SpanId is { } spanId
                && TryParseB3TraceId(traceId, out parent.TraceId, out parent.B3TraceId64) && TryParseSpanId(spanId, out parent.SpanId))
            {
                parent.HasIds = true;
            }

            if (headers.B3Flags == "1")
            {
                parent.Debug = true;
                parent.Sampled = true;
            }
            else if (headers.B3Sampled is { } b3Sampled)
            {
                parent.Sampled = b3Sampled is "1" or "true" ? true : b3Sampled is "0" or "false" ? false : null;
            }
        }

        return parent;
    }

    /// <summary>version-traceid-parentid-flags; version ff and all-zero ids are invalid; a future version may append fields.</summary>
    public static bool TryParseTraceParent(ReadOnlySpan<char> value, out ActivityTraceId traceId, out ActivitySpanId spanId, out bool sampled)
    {
        traceId = default;
        spanId = default;
        sampled = false;
        value = value.Trim();
        if (value.Length < 55 || value[2] != '-' || value[35] != '-' || value[52] != '-' || !IsLowerHex(value[..2]) || value[..2] is "ff")
        {
            return false;
        }

        if (value[..2] is "00" ? value.Length != 55 : value.Length > 55 && value[55] != '-')
        {
            return false;
        }

        var traceHex = value.Slice(3, 32);
        var spanHex = value.Slice(36, 16);
        var flagsHex = value.Slice(53, 2);
        if (!IsLowerHex(traceHex) || !IsLowerHex(spanHex) || !IsLowerHex(flagsHex) || IsAllZero(traceHex) || IsAllZero(spanHex))
        {
            return false;
        }

        traceId = ActivityTraceId.CreateFromString(traceHex);
        spanId = ActivitySpanId.CreateFromString(spanHex);
        sampled = (HexValue(flagsHex[1]) & 1) != 0;
        return true;
    }

    /// <summary>b3: {traceid}-{spanid}[-{sampling}[-{parentspanid}]], or a lone sampling state (0, 1, d).</summary>
    public static void TryParseB3Single(ReadOnlySpan<char> value, ref ParentContext parent)
    {
        value = value.Trim();
        parent.B3 = B3Form.Single;
        if (value.Length == 1)
        {
            SetB3Sampling(value, ref parent);
            return;
        }

        var firstDash = value.IndexOf('-');
        if (firstDash < 0)
        {
            return;
        }

        var rest = value[(firstDash + 1)..];
        var secondDash = rest.IndexOf('-');
        var spanHex = secondDash < 0 ? rest : rest[..secondDash];
        if (!TryParseB3TraceId(value[..firstDash], out var traceId, out var is64) || !TryParseSpanId(spanHex, out var spanId))
        {
            return;
        }

        parent.TraceId = traceId;
        parent.SpanId = spanId;
        parent.B3TraceId64 = is64;
        parent.HasIds = true;
        if (secondDash >= 0)
        {
            var sampling = rest[(secondDash + 1)..];
            var thirdDash = sampling.IndexOf('-');
            SetB3Sampling(thirdDash < 0 ? sampling : sampling[..thirdDash], ref parent);
        }
    }

    private static void SetB3Sampling(ReadOnlySpan<char> sampling, ref ParentContext parent)
    {
        if (sampling is "d")
        {
            parent.Debug = true;
            parent.Sampled = true;
        }
        else if (sampling is "1")
        {
            parent.Sampled = true;
        }
        else if (sampling is "0")
        {
            parent.Sampled = false;
        }
    }

    /// <summary>A B3 trace id is 16 or 32 hex digits; a 16-digit one becomes the low half of a 128-bit id.</summary>
    public static bool TryParseB3TraceId(ReadOnlySpan<char> hex, out ActivityTraceId traceId, out bool is64)
    {
        traceId = default;
        is64 = hex.Length == 16;
        if ((hex.Length != 16 && hex.Length != 32) || !IsLowerHex(hex) || IsAllZero(hex))
        {
            return false;
        }

        if (is64)
        {
            Span<char> padded = stackalloc char[32];
            padded[..16].Fill('0');
            hex.CopyTo(padded[16..]);
            traceId = ActivityTraceId.CreateFromString(padded);
        }
        else
        {
            traceId = ActivityTraceId.CreateFromString(hex);
        }

        return true;
    }

    public static bool TryParseSpanId(ReadOnlySpan<char> hex, out ActivitySpanId spanId)
    {
        spanId = default;
        if (hex.Length != 16 || !IsLowerHex(hex) || IsAllZero(hex))
        {
            return false;
        }

        spanId = ActivitySpanId.CreateFromString(hex);
        return true;
    }

    private static bool IsLowerHex(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAllZero(ReadOnlySpan<char> value) => !value.ContainsAnyExcept('0');

    private static int HexValue(char c) => c <= '9' ? c - '0' : c - 'a' + 10;
}
