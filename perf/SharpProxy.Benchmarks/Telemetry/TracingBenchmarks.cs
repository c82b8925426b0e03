using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry.Tracing;

namespace SharpProxy.Benchmarks.Telemetry;

/// <summary>
/// Tracing's per-request CPU on the Kestrel path, by case: off (the one check an HCM without `tracing` pays);
/// propagation only (read and parse the trace headers, decide, write traceparent upstream) for an unsampled request;
/// and a sampled request (server span + one client span with Envoy's tags, started and stopped under an ActivityListener
/// that records everything, as the OpenTelemetry SDK's AlwaysOn sampler does). The OTLP export (batching and
/// serialisation on the SDK's own thread) is not included. One upstream request is reused: each case empties its
/// headers first, so the incoming trace headers are not there to be removed (their Remove is not measured).
/// </summary>
[MemoryDiagnoser]
public class TracingBenchmarks
{
    private static readonly HttpTracingConfig Hcm = new();
    private static readonly HttpTracingConfig HcmNoRandom = new() { RandomSampling = 0 };
    private static readonly Random Random = new(7);

    private readonly HeaderDictionary _noTraceHeaders = new() { ["user-agent"] = "bench", ["x-request-id"] = "5e0f1f5a-1b2a-4c1e-9c53-6bd5c0a7b1f0" };
    private readonly HeaderDictionary _sampledParent = new() { ["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ["user-agent"] = "bench" };
    private readonly HeaderDictionary _unsampledParent = new() { ["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", ["user-agent"] = "bench" };
    private readonly HeaderDictionary _b3Parent = new() { ["x-b3-traceid"] = "463ac35c9f6413ad", ["x-b3-spanid"] = "a2fb4a1d1a96d312", ["x-b3-sampled"] = "0" };
    private readonly HttpRequestMessage _upstream = new(HttpMethod.Get, "http://127.0.0.1:8080/");
    private ActivityListener? _listener;
    private HttpConnectionManagerConfig _off = null!;

    [GlobalSetup]
    public void Setup()
    {
        _off = new HttpConnectionManagerConfig { StatPrefix = "bench" };
        ProxyTracer.Enabled = true;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ProxyTracer.SourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener?.Dispose();
        _upstream.Dispose();
    }

    /// <summary>An HCM without `tracing`: the whole cost is this check.</summary>
    [Benchmark(Baseline = true)]
    public bool Off() => _off.Tracing is not null && ProxyTracer.Enabled;

    /// <summary>Emptying the reused upstream header collection, which every case below also does first (subtract it).</summary>
    [Benchmark]
    public int ClearUpstreamHeadersOnly()
    {
        _upstream.Headers.Clear();
        return 0;
    }

    [Benchmark]
    public ActivitySpanId Unsampled_NoHeaders_RandomSampling0() => Propagate(_noTraceHeaders, HcmNoRandom);

    [Benchmark]
    public ActivitySpanId Unsampled_W3CParent() => Propagate(_unsampledParent, Hcm);

    [Benchmark]
    public ActivitySpanId Unsampled_B3Parent() => Propagate(_b3Parent, Hcm);

    [Benchmark]
    public ActivitySpanId Sampled_W3CParent_ServerAndClientSpans()
    {
        _upstream.Headers.Clear();
        var trace = ProxyTracer.Begin(TracePropagation.Read(_sampledParent));
        ProxyTracer.Decide(trace, Hcm, null, DateTimeOffset.UtcNow, "ingress", Random);
        var client = ProxyTracer.StartClientSpan(trace, "outbound|9080||reviews.default.svc.cluster.local", "10.0.0.7:9080");
        TracePropagation.Inject(_upstream.Headers, trace, client?.SpanId ?? trace.SpanId);
        if (client is not null)
        {
            ProxyTracer.FinishClientSpan(client, 200, null);
        }

        ProxyTracer.FinishServerSpan(
            trace.ServerSpan!,
            new ServerSpanFacts
            {
                Method = "GET",
                Scheme = "http",
                Authority = "reviews:9080",
                Path = "/reviews/0",
                Protocol = "HTTP/1.1",
                UserAgent = "bench",
                RequestId = "5e0f1f5a-1b2a-4c1e-9c53-6bd5c0a7b1f0",
                PeerAddress = "10.0.0.9",
                Status = 200,
                ResponseFlags = "-",
                BytesReceived = 0,
                BytesSent = 295,
                UpstreamCluster = "outbound|9080||reviews.default.svc.cluster.local",
            },
            256);
        return trace.SpanId;
    }

    private ActivitySpanId Propagate(HeaderDictionary headers, HttpTracingConfig tracing)
    {
        _upstream.Headers.Clear();
        var trace = ProxyTracer.Begin(TracePropagation.Read(headers));
        ProxyTracer.Decide(trace, tracing, null, DateTimeOffset.UtcNow, "ingress", Random);
        TracePropagation.Inject(_upstream.Headers, trace, trace.SpanId);
        return trace.SpanId;
    }
}
