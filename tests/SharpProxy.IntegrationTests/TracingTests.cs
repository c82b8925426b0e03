using System.Text.RegularExpressions;
using SharpProxy.Testing;
using SharpProxy.Testing.Otlp;

namespace SharpProxy.IntegrationTests;

/// <summary>An echo upstream, a test OTLP/HTTP receiver and a proxy whose bootstrap exports spans to it.</summary>
public sealed class TracingProxyFixture : IAsyncLifetime
{
    /// <summary>
    /// HCM tracing with the defaults (100%); route <c>/unsampled</c> overrides random_sampling to 0%. Bootstrap tracing.http
    /// exports with OTLP/HTTP to the receiver. Placeholders: V1_HTTP1_PORT, OTLP_URI.
    /// </summary>
    public const string Template = """
        node:
          id: trace-node
          cluster: trace-cluster
        admin:
          address:
            socket_address:
              address: 127.0.0.1
              port_value: 0
        tracing:
          http:
            name: envoy.tracers.opentelemetry
            typed_config:
              "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
              service_name: sharpproxy-under-test
              http_service:
                http_uri:
                  uri: "{{OTLP_URI}}"
                  cluster: otlp
                  timeout: 1s
        static_resources:
          listeners:
          - name: main
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  tracing:
                    custom_tags:
                    - tag: istio.mesh_id
                      literal:
                        value: test-mesh
                    - tag: user
                      request_header:
                        name: x-user
                        default_value: anonymous
                  route_config:
                    name: traced
                    virtual_hosts:
                    - name: backend
                      domains: ["*"]
                      routes:
                      - name: unsampled_route
                        match:
                          prefix: "/unsampled"
                        route:
                          cluster: v1
                        tracing:
                          random_sampling:
                            numerator: 0
                      - name: default_route
                        match:
                          prefix: "/"
                        route:
                          cluster: v1
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: v1
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: v1
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: {{V1_HTTP1_PORT}}
        """;

    /// <summary>Short export interval so spans arrive quickly (Envoy's and the SDK's default is 5 s).</summary>
    public static readonly IReadOnlyDictionary<string, string> FastExport = new Dictionary<string, string> { ["OTEL_BSP_SCHEDULE_DELAY"] = "100" };

    private EchoUpstream? _upstream;
    private TempConfigFile? _config;

    public OtlpReceiver Receiver { get; private set; } = null!;

    public ProxyProcess Proxy { get; private set; } = null!;

    public EchoUpstream Upstream => _upstream!;

    public int ListenerPort { get; private set; }

    public async Task InitializeAsync()
    {
        Receiver = await OtlpReceiver.StartAsync();
        _upstream = await EchoUpstream.StartAsync("v1");
        _config = ConfigWriter.Write(Template, ("V1_HTTP1_PORT", _upstream.Http1Port), ("OTLP_URI", Receiver.TracesUri.ToString()));
        Proxy = await ProxyProcess.StartAsync(_config.Path, null, FastExport);
        ListenerPort = await Proxy.GetListenerPortAsync(ConfigTemplates.ListenerName);
    }

    public async Task DisposeAsync()
    {
        Proxy?.Dispose();
        _config?.Dispose();
        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }

        await Receiver.DisposeAsync();
    }
}

/// <summary>W3C and B3 propagation, server and client spans at a test OTLP receiver, and sampling.</summary>
public sealed partial class TracingTests(TracingProxyFixture fixture) : IClassFixture<TracingProxyFixture>
{
    private static readonly TimeSpan SpanWait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Request_NoTraceHeaders_NewTraceAndUpstreamSeesTraceparent()
    {
        var echo = await GetAsync("/new-trace");
        var upstream = ParseTraceParent(echo.Header("traceparent"));
        Assert.True(upstream.Sampled);

        var spans = await WaitForSpansAsync(upstream.TraceId, 2);
        var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server);
        var client = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Client);
        Assert.Equal("", server.ParentSpanId);
        Assert.Equal(server.SpanId, client.ParentSpanId);
        Assert.Equal(client.SpanId, upstream.ParentId);

        Assert.Equal("ingress", server.Name);
        Assert.Equal("sharpproxy-under-test", server.ServiceName);
        Assert.Equal("GET", server.Attribute("http.method"));
        Assert.Equal("200", server.Attribute("http.status_code"));
        Assert.Equal("proxy", server.Attribute("component"));
        Assert.Equal("trace-node", server.Attribute("node_id"));
        Assert.Equal("v1", server.Attribute("upstream_cluster"));
        Assert.Equal("-", server.Attribute("response_flags"));
        Assert.Equal($"http://127.0.0.1:{fixture.ListenerPort}/new-trace", server.Attribute("http.url"));
        Assert.Equal("HTTP/1.1", server.Attribute("http.protocol"));
        Assert.True(Guid.TryParse(server.Attribute("guid:x-request-id"), out _));
        Assert.Equal(Status.Types.StatusCode.Unset, server.Status);
        Assert.Equal("test-mesh", server.Attribute("istio.mesh_id"));
        Assert.Equal("anonymous", server.Attribute("user"));

        Assert.Equal("router v1 egress", client.Name);
        Assert.Equal("v1", client.Attribute("upstream_cluster"));
        Assert.Equal($"127.0.0.1:{fixture.Upstream.Http1Port}", client.Attribute("upstream_address"));
        Assert.Equal("200", client.Attribute("http.status_code"));
    }

    [Fact]
    public async Task Request_WithTraceparent_KeepsTraceIdWithNewParentSpan()
    {
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        const string callerSpan = "00f067aa0ba902b7";
        var echo = await GetAsync("/w3c", ("traceparent", $"00-{traceId}-{callerSpan}-01"), ("tracestate", "vendor=opaque"), ("x-user", "alice"));

        var upstream = ParseTraceParent(echo.Header("traceparent"));
        Assert.Equal(traceId, upstream.TraceId);
        Assert.NotEqual(callerSpan, upstream.ParentId);
        Assert.True(upstream.Sampled);
        Assert.Equal("vendor=opaque", echo.Header("tracestate"));

        var spans = await WaitForSpansAsync(traceId, 2);
        var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server);
        Assert.Equal(callerSpan, server.ParentSpanId);
        Assert.Equal("alice", server.Attribute("user"));
        Assert.Equal(upstream.ParentId, Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Client).SpanId);
    }

    [Fact]
    public async Task Request_WithB3MultiHeaders_B3AndW3COut()
    {
        const string traceId = "463ac35c9f6413ad";
        const string callerSpan = "a2fb4a1d1a96d312";
        var echo = await GetAsync("/b3", ("x-b3-traceid", traceId), ("x-b3-spanid", callerSpan), ("x-b3-sampled", "1"));

        Assert.Equal(traceId, echo.Header("x-b3-traceid"));
        Assert.Equal("1", echo.Header("x-b3-sampled"));
        var spanId = echo.Header("x-b3-spanid");
        Assert.Matches(LowerHex16(), spanId!);
        Assert.NotEqual(callerSpan, spanId);

        // W3C too: the 64-bit B3 id padded to 128 bits, the same span as parent.
        var upstream = ParseTraceParent(echo.Header("traceparent"));
        Assert.Equal("0000000000000000" + traceId, upstream.TraceId);
        Assert.Equal(spanId, upstream.ParentId);

        var spans = await WaitForSpansAsync(upstream.TraceId, 2);
        var server = Assert.Single(spans, s => s.Kind == Span.Types.SpanKind.Server);
        Assert.Equal(callerSpan, server.ParentSpanId);
        Assert.Equal(server.SpanId, echo.Header("x-b3-parentspanid"));
    }

    [Fact]
    public async Task Request_WithB3SingleHeader_B3SingleOut()
    {
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        const string callerSpan = "e457b5a2e4d86bd1";
        var echo = await GetAsync("/b3-single", ("b3", $"{traceId}-{callerSpan}-1"));

        var parts = echo.Header("b3")!.Split('-');
        Assert.Equal(4, parts.Length);
        Assert.Equal(traceId, parts[0]);
        Assert.NotEqual(callerSpan, parts[1]);
        Assert.Equal("1", parts[2]);
        Assert.False(echo.HasHeader("x-b3-traceid"));
        Assert.Equal(traceId, ParseTraceParent(echo.Header("traceparent")).TraceId);
    }

    [Fact]
    public async Task Route_WithZeroRandomSampling_PropagatesUnsampledAndExportsNoSpan()
    {
        var unsampled = ParseTraceParent((await GetAsync("/unsampled/x")).Header("traceparent"));
        Assert.False(unsampled.Sampled);

        // A caller's unsampled flag is kept on a sampled route too (Envoy's OpenTelemetry tracer respects it).
        var callerTrace = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        var kept = ParseTraceParent((await GetAsync("/caller-unsampled", ("traceparent", $"00-{callerTrace}-00f067aa0ba902b7-00"))).Header("traceparent"));
        Assert.False(kept.Sampled);
        Assert.Equal(callerTrace, kept.TraceId);

        // A sampled request sent after them: once its spans arrived, any span of the earlier requests would have too.
        var later = ParseTraceParent((await GetAsync("/after")).Header("traceparent"));
        await WaitForSpansAsync(later.TraceId, 2);
        Assert.Empty(fixture.Receiver.SpansOfTrace(unsampled.TraceId));
        Assert.Empty(fixture.Receiver.SpansOfTrace(callerTrace));
    }

    [Fact]
    public async Task UpstreamError_SpansMarkedAsErrors()
    {
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        using var client = TestHttp.Http1(new Uri($"http://127.0.0.1:{fixture.ListenerPort}/"));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/status/503");
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{traceId}-00f067aa0ba902b7-01");
        using var response = await client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);

        var spans = await WaitForSpansAsync(traceId, 2);
        foreach (var span in spans)
        {
            Assert.Equal("503", span.Attribute("http.status_code"));
            Assert.Equal("true", span.Attribute("error"));
            Assert.Equal(Status.Types.StatusCode.Error, span.Status);
        }
    }

    [Fact]
    public async Task Environment_OtlpEndpointOnly_ExportsSpans()
    {
        // No bootstrap tracer: OTEL_EXPORTER_OTLP_ENDPOINT (the base URL; /v1/traces is appended for http/protobuf).
        var template = Regex.Replace(TracingProxyFixture.Template, "tracing:\\n  http:[\\s\\S]*?timeout: 1s\\n", "", RegexOptions.CultureInvariant);
        await using var receiver = await OtlpReceiver.StartAsync();
        using var config = ConfigWriter.Write(template, ("V1_HTTP1_PORT", fixture.Upstream.Http1Port));
        var environment = new Dictionary<string, string>(TracingProxyFixture.FastExport)
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.BaseUri.ToString(),
            ["OTEL_SERVICE_NAME"] = "from-env",
        };
        using var proxy = await ProxyProcess.StartAsync(config.Path, null, environment);
        var port = await proxy.GetListenerPortAsync(ConfigTemplates.ListenerName);
        using var client = TestHttp.Http1(new Uri($"http://127.0.0.1:{port}/"));
        var echo = EchoResponse.Parse(await client.GetStringAsync("/env"));
        var traceId = ParseTraceParent(echo.Header("traceparent")).TraceId;

        await Polling.UntilAsync(() => receiver.SpansOfTrace(traceId).Count >= 2, SpanWait, "spans at the receiver named by OTEL_EXPORTER_OTLP_ENDPOINT");
        Assert.All(receiver.SpansOfTrace(traceId), span => Assert.Equal("from-env", span.ServiceName));
    }

    [Fact]
    public async Task HcmProvider_NoBootstrapTracer_ExportsToTheProvidersEndpoint()
    {
        // The tracer named by the HCM's tracing.provider (as Envoy recommends and istiod configures it), not the bootstrap.
        await using var receiver = await OtlpReceiver.StartAsync();
        var template = Regex.Replace(TracingProxyFixture.Template, "tracing:\\n  http:[\\s\\S]*?timeout: 1s\\n", "", RegexOptions.CultureInvariant)
            .Replace(
                "\n          tracing:\n",
                "\n          tracing:\n"
                + "            provider:\n"
                + "              name: envoy.tracers.opentelemetry\n"
                + "              typed_config:\n"
                + "                \"@type\": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig\n"
                + "                service_name: from-provider\n"
                + "                http_service:\n"
                + "                  http_uri:\n"
                + "                    uri: \"{{OTLP_URI}}\"\n"
                + "                    cluster: otlp\n"
                + "                    timeout: 1s\n",
                StringComparison.Ordinal);
        using var config = ConfigWriter.Write(template, ("V1_HTTP1_PORT", fixture.Upstream.Http1Port), ("OTLP_URI", receiver.TracesUri.ToString()));
        using var proxy = await ProxyProcess.StartAsync(config.Path, null, TracingProxyFixture.FastExport);
        var port = await proxy.GetListenerPortAsync(ConfigTemplates.ListenerName);
        using var client = TestHttp.Http1(new Uri($"http://127.0.0.1:{port}/"));
        var echo = EchoResponse.Parse(await client.GetStringAsync("/provider"));
        var traceId = ParseTraceParent(echo.Header("traceparent")).TraceId;

        await Polling.UntilAsync(() => receiver.SpansOfTrace(traceId).Count >= 2, SpanWait, $"spans at the HCM provider's receiver\n{proxy.Describe()}");
        Assert.All(receiver.SpansOfTrace(traceId), span => Assert.Equal("from-provider", span.ServiceName));
        Assert.Empty(fixture.Receiver.SpansOfTrace(traceId));
    }

    private async Task<EchoResponse> GetAsync(string path, params (string Name, string Value)[] headers)
    {
        using var client = TestHttp.Http1(new Uri($"http://127.0.0.1:{fixture.ListenerPort}/"));
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return EchoResponse.Parse(await response.Content.ReadAsStringAsync());
    }

    private async Task<List<ReceivedSpan>> WaitForSpansAsync(string traceId, int count)
    {
        await Polling.UntilAsync(() => fixture.Receiver.SpansOfTrace(traceId).Count >= count, SpanWait, $"{count} spans of trace {traceId} at the OTLP receiver\n{fixture.Proxy.Describe()}");
        return fixture.Receiver.SpansOfTrace(traceId);
    }

    private static (string TraceId, string ParentId, bool Sampled) ParseTraceParent(string? value)
    {
        Assert.NotNull(value);
        var match = TraceParent().Match(value);
        Assert.True(match.Success, $"not a version-00 traceparent: '{value}'");
        return (match.Groups[1].Value, match.Groups[2].Value, match.Groups[3].Value == "01");
    }

    [GeneratedRegex("^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$", RegexOptions.CultureInvariant)]
    private static partial Regex TraceParent();

    [GeneratedRegex("^[0-9a-f]{16}$", RegexOptions.CultureInvariant)]
    private static partial Regex LowerHex16();
}
