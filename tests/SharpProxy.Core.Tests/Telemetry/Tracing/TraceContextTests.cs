using System.Diagnostics;
using System.Net.Http.Headers;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry.Tracing;

namespace SharpProxy.Core.Tests.Telemetry.Tracing;

public sealed class TraceContextTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string SpanId = "00f067aa0ba902b7";

    [Theory]
    [InlineData($"00-{TraceId}-{SpanId}-01", true)]
    [InlineData($"00-{TraceId}-{SpanId}-00", false)]
    [InlineData($"00-{TraceId}-{SpanId}-03", true)]
    [InlineData($"01-{TraceId}-{SpanId}-01-future", true)]
    public void TraceParent_Valid_Parsed(string value, bool sampled)
    {
        Assert.True(TraceContextParser.TryParseTraceParent(value, out var traceId, out var spanId, out var isSampled));
        Assert.Equal(TraceId, traceId.ToHexString());
        Assert.Equal(SpanId, spanId.ToHexString());
        Assert.Equal(sampled, isSampled);
    }

    [Theory]
    [InlineData("")]
    [InlineData($"ff-{TraceId}-{SpanId}-01")]
    [InlineData($"00-00000000000000000000000000000000-{SpanId}-01")]
    [InlineData($"00-{TraceId}-0000000000000000-01")]
    [InlineData($"00-{TraceId}-{SpanId}-01-extra")]
    [InlineData("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")]
    [InlineData($"00-{TraceId}-{SpanId}")]
    [InlineData($"00_{TraceId}-{SpanId}-01")]
    public void TraceParent_Invalid_Rejected(string value)
    {
        Assert.False(TraceContextParser.TryParseTraceParent(value, out _, out _, out _));
    }

    [Fact]
    public void Parse_TraceParentWinsOverB3()
    {
        var parent = TraceContextParser.Parse(new TraceHeaders { TraceParent = $"00-{TraceId}-{SpanId}-00", B3 = "1" });
        Assert.True(parent.HasIds);
        Assert.False(parent.Sampled);
        Assert.Equal(B3Form.None, parent.B3);
    }

    [Fact]
    public void Parse_B3Multi64Bit_PaddedAndRemembered()
    {
        var parent = TraceContextParser.Parse(new TraceHeaders { B3TraceId = "463ac35c9f6413ad", B3SpanId = "a2fb4a1d1a96d312", B3Sampled = "1" });
        Assert.True(parent.HasIds);
        Assert.True(parent.B3TraceId64);
        Assert.Equal("0000000000000000463ac35c9f6413ad", parent.TraceId.ToHexString());
        Assert.Equal("a2fb4a1d1a96d312", parent.SpanId.ToHexString());
        Assert.True(parent.Sampled);
        Assert.Equal(B3Form.Multi, parent.B3);
    }

    [Theory]
    [InlineData($"{TraceId}-{SpanId}-1-0000000000000001", true, false)]
    [InlineData($"{TraceId}-{SpanId}-0", false, false)]
    [InlineData($"{TraceId}-{SpanId}-d", true, true)]
    [InlineData($"{TraceId}-{SpanId}", null, false)]
    public void Parse_B3Single(string value, bool? sampled, bool debug)
    {
        var parent = TraceContextParser.Parse(new TraceHeaders { B3 = value });
        Assert.True(parent.HasIds);
        Assert.Equal(TraceId, parent.TraceId.ToHexString());
        Assert.Equal(sampled, parent.Sampled);
        Assert.Equal(debug, parent.Debug);
        Assert.Equal(B3Form.Single, parent.B3);
    }

    [Fact]
    public void Parse_B3SamplingOnly_NoIdsButDecision()
    {
        var parent = TraceContextParser.Parse(new TraceHeaders { B3 = "0" });
        Assert.False(parent.HasIds);
        Assert.False(parent.Sampled);
        var flags = TraceContextParser.Parse(new TraceHeaders { B3Flags = "1" });
        Assert.True(flags.Sampled);
        Assert.True(flags.Debug);
    }

    [Theory]
    [InlineData(0.0, null, false)]
    [InlineData(100.0, null, true)]
    [InlineData(100.0, 0.0, false)]
    [InlineData(0.0, 100.0, true)]
    public void Decide_RandomSampling_HcmThenRoute(double hcm, double? route, bool expected)
    {
        var trace = ProxyTracer.Begin(default);
        ProxyTracer.Decide(trace, new HttpTracingConfig { RandomSampling = hcm }, route is null ? null : new RouteTracingConfig { RandomSampling = route }, DateTimeOffset.UtcNow, "ingress", new Random(1));
        Assert.Equal(expected, trace.Sampled);
        Assert.NotEqual(default, trace.TraceId);
        Assert.NotEqual(default, trace.SpanId);
    }

    [Fact]
    public void Decide_ParentFlagWins_AndOverallCapsForcedTraces()
    {
        var parentSampled = ProxyTracer.Begin(new TraceHeaders { TraceParent = $"00-{TraceId}-{SpanId}-01" });
        ProxyTracer.Decide(parentSampled, new HttpTracingConfig { RandomSampling = 0, OverallSampling = 0 }, null, DateTimeOffset.UtcNow, "ingress", new Random(1));
        Assert.True(parentSampled.Sampled);
        Assert.Equal(TraceId, parentSampled.TraceIdHex);

        var forced = ProxyTracer.Begin(new TraceHeaders { ForceTrace = true });
        ProxyTracer.Decide(forced, new HttpTracingConfig { RandomSampling = 0 }, null, DateTimeOffset.UtcNow, "ingress", new Random(1));
        Assert.True(forced.Sampled);

        var capped = ProxyTracer.Begin(new TraceHeaders { ForceTrace = true });
        ProxyTracer.Decide(capped, new HttpTracingConfig { OverallSampling = 0 }, null, DateTimeOffset.UtcNow, "ingress", new Random(1));
        Assert.False(capped.Sampled);

        var client = ProxyTracer.Begin(new TraceHeaders { ClientTraceId = true });
        ProxyTracer.Decide(client, new HttpTracingConfig { RandomSampling = 0, ClientSampling = 100 }, null, DateTimeOffset.UtcNow, "ingress", new Random(1));
        Assert.True(client.Sampled);
    }

    [Fact]
    public void Inject_B3Multi_SameWidthAndParent()
    {
        var trace = ProxyTracer.Begin(new TraceHeaders { B3TraceId = "463ac35c9f6413ad", B3SpanId = "a2fb4a1d1a96d312", B3Sampled = "0", Present = (1 << 3) | (1 << 6) });
        ProxyTracer.Decide(trace, new HttpTracingConfig(), null, DateTimeOffset.UtcNow, "ingress", new Random(1));
        using var request = new HttpRequestMessage();
        request.Headers.TryAddWithoutValidation("x-b3-traceid", "463ac35c9f6413ad");
        request.Headers.TryAddWithoutValidation("x-b3-sampled", "0");
        TracePropagation.Inject(request.Headers, trace, trace.SpanId);

        Assert.Equal("463ac35c9f6413ad", Single(request.Headers, "x-b3-traceid"));
        Assert.Equal(trace.SpanId.ToHexString(), Single(request.Headers, "x-b3-spanid"));
        Assert.Equal("a2fb4a1d1a96d312", Single(request.Headers, "x-b3-parentspanid"));
        Assert.Equal("0", Single(request.Headers, "x-b3-sampled"));
        Assert.Equal($"00-0000000000000000463ac35c9f6413ad-{trace.SpanId.ToHexString()}-00", Single(request.Headers, "traceparent"));
    }

    [Fact]
    public void Inject_W3COnly_NoB3Added()
    {
        var trace = ProxyTracer.Begin(new TraceHeaders { TraceParent = $"00-{TraceId}-{SpanId}-01", TraceState = "a=b" });
        ProxyTracer.Decide(trace, new HttpTracingConfig(), null, DateTimeOffset.UtcNow, "ingress", new Random(1));
        using var request = new HttpRequestMessage();
        var clientSpan = ActivitySpanId.CreateRandom();
        TracePropagation.Inject(request.Headers, trace, clientSpan);
        Assert.Equal($"00-{TraceId}-{clientSpan.ToHexString()}-01", Single(request.Headers, "traceparent"));
        Assert.Equal("a=b", Single(request.Headers, "tracestate"));
        Assert.False(request.Headers.Contains("x-b3-traceid"));
        Assert.False(request.Headers.Contains("b3"));
    }

    private static string Single(HttpRequestHeaders headers, string name) => Assert.Single(headers.GetValues(name));
}
