using System.Diagnostics;
using System.Globalization;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Telemetry.Tracing;

/// <summary>
/// One request's trace: the parent context it arrived with, the sampling decision, this proxy's server span (an
/// Activity only when sampled) and its ids. Unsampled requests still get ids, so the context propagates with sampled=0.
/// </summary>
internal sealed class RequestTrace
{
    public ParentContext Parent;

    public string? TraceState { get; init; }

    public bool ForceTrace { get; init; }

    public bool ClientTraceId { get; init; }

    /// <summary>The caller's trace headers (bit i = <see cref="TracePropagation.IncomingHeaders"/>[i]), copied upstream unless replaced.</summary>
    public int IncomingHeaders { get; init; }

    /// <summary>The server span's name: "ingress" or "egress" by the listener's direction, as Envoy names it.</summary>
    public string Operation { get; set; } = "ingress";

    public bool Decided { get; set; }

    public bool Sampled { get; set; }

    public ActivityTraceId TraceId { get; set; }

    /// <summary>This proxy's downstream (server) span id.</summary>
    public ActivitySpanId SpanId { get; set; }

    /// <summary>Where this request's spans are made: the process tracer's source, or the HCM provider's.</summary>
    public ActivitySource Source { get; init; } = ProxyTracer.Source;

    public Activity? ServerSpan { get; set; }

    public string TraceIdHex => TraceId.ToHexString();
}

/// <summary>
/// Spans with System.Diagnostics.ActivitySource (the host exports them with OpenTelemetry's OTLP exporter). Sampling
/// follows Envoy: a parent's sampled flag is kept (as Envoy's OpenTelemetry tracer does); without one,
/// x-envoy-force-trace, then x-client-trace-id at client_sampling, then random_sampling, all capped by overall_sampling.
/// </summary>
internal static class ProxyTracer
{
    public const string SourceName = "SharpProxy";

    public static readonly ActivitySource Source = new(SourceName);

    private static volatile bool s_enabled;

    /// <summary>True once the host configured a tracer; HCMs with `tracing` trace only then.</summary>
    public static bool Enabled
    {
        get => s_enabled;
        set => s_enabled = value;
    }

    public static string NodeId { get; set; } = "";

    public static string Zone { get; set; } = "";

    private static readonly Dictionary<string, ActivitySource> ProviderSources = new(StringComparer.Ordinal);

    /// <summary>
    /// Set by the host: called once per distinct HCM tracing.provider, with the ActivitySource name its spans are made
    /// on, so the host can export that source to that provider's endpoint.
    /// </summary>
    public static Action<TracerConfig, string>? ProviderAdded { get; set; }

    /// <summary>The ActivitySource of an HCM provider (one per distinct exporter, created on first use).</summary>
    public static ActivitySource SourceFor(TracerConfig provider)
    {
        var key = provider.Key;
        ActivitySource source;
        lock (ProviderSources)
        {
            if (ProviderSources.TryGetValue(key, out var existing))
            {
                return existing;
            }

            source = new ActivitySource(SourceName + ".provider." + ProviderSources.Count.ToString(CultureInfo.InvariantCulture));
            ProviderSources.Add(key, source);
        }

        ProviderAdded?.Invoke(provider, source.Name);
        return source;
    }

    public static RequestTrace Begin(in TraceHeaders headers) => Begin(headers, Source);

    public static RequestTrace Begin(in TraceHeaders headers, ActivitySource source) => new()
    {
        Source = source,
        Parent = TraceContextParser.Parse(headers),
        TraceState = headers.TraceState,
        ForceTrace = headers.ForceTrace,
        ClientTraceId = headers.ClientTraceId,
        IncomingHeaders = headers.Present,
    };

    /// <summary>Makes the sampling decision (once) and, when sampled, starts the server span backdated to the request start.</summary>
    public static void Decide(RequestTrace trace, HttpTracingConfig hcm, RouteTracingConfig? route, DateTimeOffset start, string operation, Random random)
    {
        if (trace.Decided)
        {
            return;
        }

        trace.Decided = true;
        bool sampled;
        if (trace.Parent.Sampled is { } parentSays)
        {
            sampled = parentSays;
        }
        else
        {
            var draw = random.NextDouble() * 100;
            sampled = trace.ForceTrace
                || (trace.ClientTraceId && draw < (route?.ClientSampling ?? hcm.ClientSampling))
                || draw < (route?.RandomSampling ?? hcm.RandomSampling);
            sampled = sampled && draw < (route?.OverallSampling ?? hcm.OverallSampling);
        }

        trace.Sampled = sampled;
        var parent = trace.Parent;
        Activity? span = null;
        if (sampled)
        {
            var context = parent.HasIds
                ? new ActivityContext(parent.TraceId, parent.SpanId, ActivityTraceFlags.Recorded, trace.TraceState, isRemote: true)
                : default;
            span = StartDetached(trace.Source, operation, ActivityKind.Server, context, start);
        }

        trace.ServerSpan = span;
        trace.TraceId = span?.TraceId ?? (parent.HasIds ? parent.TraceId : ActivityTraceId.CreateRandom());
        trace.SpanId = span?.SpanId ?? ActivitySpanId.CreateRandom();
    }

    /// <summary>The upstream (client) span of one try; null when the request is not sampled.</summary>
    public static Activity? StartClientSpan(RequestTrace trace, string cluster, string upstreamAddress)
    {
        if (trace.ServerSpan is null)
        {
            return null;
        }

        var context = new ActivityContext(trace.TraceId, trace.SpanId, ActivityTraceFlags.Recorded, trace.TraceState);
        var span = StartDetached(trace.Source, "router " + cluster + " egress", ActivityKind.Client, context, null);
        if (span is not null)
        {
            span.SetTag("component", "proxy");
            span.SetTag("upstream_cluster", cluster);
            span.SetTag("upstream_cluster.name", cluster);
            span.SetTag("upstream_address", upstreamAddress);
            span.SetTag("node_id", NodeId);
        }

        return span;
    }

    public static void FinishClientSpan(Activity span, int status, string? failure)
    {
        if (status > 0)
        {
            span.SetTag("http.status_code", status.ToString(CultureInfo.InvariantCulture));
        }

        if (status == 0 || status >= 500)
        {
            span.SetTag("error", "true");
            span.SetStatus(ActivityStatusCode.Error, failure);
        }

        span.Stop();
    }

    /// <summary>Envoy's downstream span tags, then the span ends.</summary>
    public static void FinishServerSpan(Activity span, in ServerSpanFacts facts, int maxPathTagLength)
    {
        span.SetTag("component", "proxy");
        span.SetTag("node_id", NodeId);
        span.SetTag("zone", Zone);
        span.SetTag("guid:x-request-id", facts.RequestId);
        var url = facts.Scheme + "://" + facts.Authority + facts.Path;
        span.SetTag("http.url", maxPathTagLength > 0 && url.Length > maxPathTagLength ? url[..maxPathTagLength] : url);
        span.SetTag("http.method", facts.Method);
        span.SetTag("downstream_cluster", "-");
        span.SetTag("user_agent", facts.UserAgent ?? "-");
        span.SetTag("http.protocol", facts.Protocol);
        span.SetTag("peer.address", facts.PeerAddress);
        span.SetTag("request_size", facts.BytesReceived.ToString(CultureInfo.InvariantCulture));
        span.SetTag("response_size", facts.BytesSent.ToString(CultureInfo.InvariantCulture));
        span.SetTag("response_flags", facts.ResponseFlags ?? Filters.ResponseFlags.None);
        span.SetTag("http.status_code", facts.Status.ToString(CultureInfo.InvariantCulture));
        if (facts.UpstreamCluster is { } cluster)
        {
            span.SetTag("upstream_cluster", cluster);
            span.SetTag("upstream_cluster.name", cluster);
        }

        if (facts.Status == 0 || facts.Status >= 500)
        {
            span.SetTag("error", "true");
            span.SetStatus(ActivityStatusCode.Error);
        }

        span.Stop();
    }

    /// <summary>HCM custom_tags on the server span: literal values, or request/response header values (else the default).</summary>
    public static void AddCustomTags<THeaders>(Activity span, System.Collections.Immutable.ImmutableArray<CustomTagConfig> tags, ref THeaders headers)
        where THeaders : struct, AccessLog.IAccessLogHeaders
    {
        foreach (var tag in tags)
        {
            var value = tag.Source switch
            {
                CustomTagSource.Literal => tag.Value,
                CustomTagSource.RequestHeader => headers.RequestHeader(tag.Value) ?? tag.DefaultValue,
                _ => headers.ResponseHeader(tag.Value) ?? tag.DefaultValue,
            };
            if (value is not null)
            {
                span.SetTag(tag.Tag, value);
            }
        }
    }

    /// <summary>Starts an Activity without leaving it as Activity.Current (nothing downstream of us should parent to it implicitly).</summary>
    private static Activity? StartDetached(ActivitySource source, string name, ActivityKind kind, ActivityContext parent, DateTimeOffset? start)
    {
        // A default parent means "Activity.Current" to CreateActivity; Kestrel's hosting activity must not become our root's parent.
        var previous = Activity.Current;
        Activity.Current = null;
        var span = source.CreateActivity(name, kind, parent);
        if (span is null)
        {
            Activity.Current = previous;
            return null;
        }

        if (start is { } startTime)
        {
            span.SetStartTime(startTime.UtcDateTime);
        }

        span.Start();
        Activity.Current = previous;
        return span;
    }
}

/// <summary>What the server span's tags say about the request (plain values, so any request path can fill them).</summary>
internal readonly struct ServerSpanFacts
{
    public string Method { get; init; }

    public string Scheme { get; init; }

    public string Authority { get; init; }

    public string Path { get; init; }

    public string Protocol { get; init; }

    public string? UserAgent { get; init; }

    public string? RequestId { get; init; }

    public string? PeerAddress { get; init; }

    public int Status { get; init; }

    public string? ResponseFlags { get; init; }

    public long BytesReceived { get; init; }

    public long BytesSent { get; init; }

    public string? UpstreamCluster { get; init; }
}
