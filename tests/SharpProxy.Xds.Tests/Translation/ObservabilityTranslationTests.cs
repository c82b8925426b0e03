using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;
using SharpProxy.Xds.Translation;

namespace SharpProxy.Xds.Tests.Translation;

/// <summary>Access log formats, HCM and route tracing, and the bootstrap tracer: Envoy YAML to Core config, and the refusals.</summary>
public sealed class ObservabilityTranslationTests
{
    private const string Router = "{ name: envoy.filters.http.router, typed_config: { '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }";

    [Fact]
    public void LogFormat_TextAndJson_CompiledOntoTheAccessLogs()
    {
        var http = LoadHcm(
            """
            access_log:
            - name: envoy.access_loggers.stdout
              typed_config:
                '@type': type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
                log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %REQ(:PATH)%\n" }, omit_empty_values: true }
            - name: envoy.access_loggers.file
              typed_config:
                '@type': type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                path: /tmp/x.log
                log_format: { json_format: { code: "%RESPONSE_CODE%", nested: { host: "%UPSTREAM_HOST%" } } }
            - name: envoy.access_loggers.file
              typed_config:
                '@type': type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                path: /tmp/y.log
            """);

        Assert.Equal(3, http.AccessLogs.Length);
        Assert.Equal("%RESPONSE_CODE% %REQ(:PATH)%\n", http.AccessLogs[0].Format.Source);
        Assert.True(http.AccessLogs[0].Format.OmitEmptyValues);
        Assert.True(http.AccessLogs[1].Format.IsJson);
        Assert.Same(Core.Telemetry.AccessLog.AccessLogFormat.EnvoyDefault, http.AccessLogs[2].Format);
    }

    [Fact]
    public void LogFormat_UnknownOperator_ErrorNamesOperatorAndPath()
    {
        var error = LoadError(
            """
            access_log:
            - name: envoy.access_loggers.file
              typed_config:
                '@type': type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                path: /tmp/x.log
                log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %FILTER_STATE(x)%" } }
            """);
        Assert.Contains("access_log[0].typed_config.log_format.text_format_source.inline_string", error, StringComparison.Ordinal);
        Assert.Contains("%FILTER_STATE%", error, StringComparison.Ordinal);
    }

    [Fact]
    public void LogFormat_JsonBadOperator_ErrorNamesKey()
    {
        var error = LoadError(
            """
            access_log:
            - name: envoy.access_loggers.stdout
              typed_config:
                '@type': type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
                log_format: { json_format: { a: { b: "%NOPE%" } } }
            """);
        Assert.Contains("log_format.json_format", error, StringComparison.Ordinal);
        Assert.Contains("'a.b'", error, StringComparison.Ordinal);
        Assert.Contains("NOPE", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Tracing_HcmAndRoute_Translated()
    {
        var http = LoadHcm(
            "tracing: { random_sampling: { value: 12.5 }, overall_sampling: { value: 50 }, max_path_tag_length: 64 }",
            "tracing: { random_sampling: { numerator: 25, denominator: TEN_THOUSAND }, client_sampling: { numerator: 3 } }");

        Assert.Equal(new HttpTracingConfig { ClientSampling = 100, RandomSampling = 12.5, OverallSampling = 50, MaxPathTagLength = 64 }, http.Tracing);
        var route = http.RouteConfig!.VirtualHosts[0].Routes[0];
        Assert.Equal(new RouteTracingConfig { RandomSampling = 0.25, ClientSampling = 3 }, route.Tracing);
    }

    [Fact]
    public void Tracing_CustomTags_LiteralEnvironmentAndHeaders()
    {
        var http = LoadHcm(
            """
            tracing:
              custom_tags:
              - { tag: mesh, literal: { value: m1 } }
              - { tag: from_env, environment: { name: SHARPPROXY_TEST_SURELY_UNSET, default_value: fallback } }
              - { tag: skipped, environment: { name: SHARPPROXY_TEST_SURELY_UNSET } }
              - { tag: user, request_header: { name: X-User, default_value: anonymous } }
              - { tag: upstream_status, response_header: { name: X-Status } }
            """);

        Assert.Equal(
            [
                new CustomTagConfig("mesh", CustomTagSource.Literal, "m1", null),
                new CustomTagConfig("from_env", CustomTagSource.Literal, "fallback", null),
                new CustomTagConfig("user", CustomTagSource.RequestHeader, "x-user", "anonymous"),
                new CustomTagConfig("upstream_status", CustomTagSource.ResponseHeader, "x-status", null),
            ],
            http.Tracing!.CustomTags.ToArray());
        Assert.Contains("metadata", LoadError("tracing: { custom_tags: [ { tag: t, metadata: { kind: { request: {} } } } ] }"), StringComparison.Ordinal);
    }

    [Fact]
    public void Tracing_HcmProvider_HttpServiceOrIstioCluster()
    {
        var http = LoadHcm(
            """
            tracing:
              provider:
                name: envoy.tracers.opentelemetry
                typed_config:
                  '@type': type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                  service_name: edge
                  http_service: { http_uri: { uri: "http://127.0.0.1:4318/v1/traces", cluster: c, timeout: 1s } }
            """);
        Assert.Equal(new TracerConfig { Endpoint = new Uri("http://127.0.0.1:4318/v1/traces"), Transport = OtlpTransport.HttpProtobuf, ServiceName = "edge" }, http.Tracing!.Provider);

        var istio = LoadHcm(
            """
            tracing:
              provider:
                name: envoy.tracers.opentelemetry
                typed_config:
                  '@type': type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                  service_name: productpage.default
                  grpc_service: { envoy_grpc: { cluster_name: "outbound|4317||otel-collector.observability.svc.cluster.local", authority: otel-collector.observability.svc.cluster.local } }
            """);
        Assert.Equal(new Uri("http://otel-collector.observability.svc.cluster.local:4317"), istio.Tracing!.Provider!.Endpoint);
        Assert.Equal(OtlpTransport.Grpc, istio.Tracing.Provider.Transport);

        var error = LoadError(
            """
            tracing:
              provider:
                name: envoy.tracers.opentelemetry
                typed_config: { '@type': type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig, grpc_service: { envoy_grpc: { cluster_name: collector } } }
            """);
        Assert.Contains("tracing.provider.typed_config.grpc_service.envoy_grpc.cluster_name", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Tracing_ZipkinProviderFromControlPlane_HcmNotTracedInsteadOfNack()
    {
        var tracing = new Api.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager.Types.Tracing
        {
            RandomSampling = new Api.Type.V3.Percent { Value = 1 },
            Provider = new Api.Config.Trace.V3.Tracing.Types.Http
            {
                Name = "envoy.tracers.zipkin",
                TypedConfig = new Google.Protobuf.WellKnownTypes.Any { TypeUrl = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig" },
            },
        };

        var fromIstiod = new TranslationErrors { FromControlPlane = true };
        Assert.Null(TracingTranslator.Hcm(tracing, "hcm.tracing", fromIstiod));
        Assert.Empty(fromIstiod.All);

        var fromFile = new TranslationErrors();
        TracingTranslator.Hcm(tracing, "hcm.tracing", fromFile);
        Assert.Contains("hcm.tracing.provider: tracer 'envoy.tracers.zipkin'", Assert.Single(fromFile.All), StringComparison.Ordinal);
    }

    [Fact]
    public void Tracing_AbsentOrUnsupportedFields()
    {
        Assert.Null(LoadHcm("").Tracing);
        Assert.Contains("verbose", LoadError("tracing: { verbose: true }"), StringComparison.Ordinal);
        Assert.Contains("tracing.provider: tracer 'envoy.tracers.zipkin'", LoadError("tracing: { provider: { name: envoy.tracers.zipkin } }"), StringComparison.Ordinal);
        Assert.Contains("tracing.random_sampling.value", LoadError("tracing: { random_sampling: { value: 120 } }"), StringComparison.Ordinal);
    }

    [Fact]
    public void BootstrapTracer_HttpService_EndpointServiceAndHeaders()
    {
        var config = Load(
            """
            tracing:
              http:
                name: envoy.tracers.opentelemetry
                typed_config:
                  '@type': type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                  service_name: gateway
                  http_service:
                    http_uri: { uri: "http://collector:4318/v1/traces", cluster: otel, timeout: 1s }
                    request_headers_to_add: [ { header: { key: x-api-key, value: secret } } ]
            """,
            "");
        Assert.Equal(new Uri("http://collector:4318/v1/traces"), config.Tracer!.Endpoint);
        Assert.Equal(OtlpTransport.HttpProtobuf, config.Tracer.Transport);
        Assert.Equal("gateway", config.Tracer.ServiceName);
        Assert.Equal([new KeyValuePair<string, string>("x-api-key", "secret")], config.Tracer.Headers.ToArray());
    }

    [Fact]
    public void BootstrapTracer_GrpcService_FirstEndpointOfStaticCluster()
    {
        var config = Load(
            """
            tracing:
              http:
                name: envoy.tracers.opentelemetry
                typed_config:
                  '@type': type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                  grpc_service: { envoy_grpc: { cluster_name: c } }
            """,
            "");
        Assert.Equal(new Uri("http://127.0.0.1:4317"), config.Tracer!.Endpoint);
        Assert.Equal(OtlpTransport.Grpc, config.Tracer.Transport);
        Assert.Equal(TracerConfig.DefaultServiceName, config.Tracer.ServiceName);
    }

    [Fact]
    public void BootstrapTracer_Unsupported_Refused()
    {
        var error = LoadErrorWithBootstrap(
            """
            tracing:
              http:
                name: envoy.tracers.zipkin
                typed_config: { '@type': type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig, grpc_service: { envoy_grpc: { cluster_name: missing } } }
            """);
        Assert.Contains("tracing.http.typed_config.grpc_service.envoy_grpc.cluster_name", error, StringComparison.Ordinal);
    }

    private static HttpConnectionManagerConfig LoadHcm(string hcmFields, string routeFields = "") =>
        Assert.Single(Assert.Single(Load("", hcmFields, routeFields).Listeners).FilterChains).Http!;

    private static ProxyConfig Load(string bootstrapFields, string hcmFields, string routeFields = "") =>
        BootstrapLoader.LoadFromJson(YamlJson.Parse(Yaml(bootstrapFields, hcmFields, routeFields))!, "test.yaml", allowUnknownFields: false).Config;

    private static string LoadError(string hcmFields) => Error(Yaml("", hcmFields, ""));

    private static string LoadErrorWithBootstrap(string bootstrapFields) => Error(Yaml(bootstrapFields, "", ""));

    private static string Error(string yaml)
    {
        var ex = Assert.Throws<ConfigException>(() => BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false));
        return string.Join("\n", ex.Errors);
    }

    private static string Yaml(string bootstrapFields, string hcmFields, string routeFields) => $$"""
        {{bootstrapFields}}
        static_resources:
          listeners:
          - name: l
            address: { socket_address: { address: 127.0.0.1, port_value: 15001 } }
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  '@type': type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: http
        {{Indent(hcmFields, 10)}}
                  route_config:
                    virtual_hosts:
                    - name: v
                      domains: ["*"]
                      routes:
                      - match: { prefix: "/" }
                        route: { cluster: c }
        {{Indent(routeFields, 16)}}
                  http_filters: [ {{Router}} ]
          clusters:
          - name: c
            type: STATIC
            load_assignment:
              cluster_name: c
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 4317 } } }
        """;

    private static string Indent(string text, int spaces)
    {
        var prefix = new string(' ', spaces);
        return string.Join("\n", text.Split('\n').Select(line => line.Length == 0 ? line : prefix + line));
    }
}
