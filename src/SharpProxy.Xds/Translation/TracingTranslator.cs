using System.Collections.Immutable;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry.AccessLog;
using BootstrapApi = SharpProxy.Xds.Api.Config.Bootstrap.V3;
using CoreApi = SharpProxy.Xds.Api.Config.Core.V3;
using HcmApi = SharpProxy.Xds.Api.Extensions.Filters.Network.HttpConnectionManager.V3;
using PercentApi = SharpProxy.Xds.Api.Type.V3;
using RouteApi = SharpProxy.Xds.Api.Config.Route.V3;
using TraceApi = SharpProxy.Xds.Api.Config.Trace.V3;

namespace SharpProxy.Xds.Translation;

/// <summary>Tracing (bootstrap tracer, HCM and route sampling) and access log formats: Envoy protos to Core config.</summary>
internal static class TracingTranslator
{
    public const string OpenTelemetryTracerName = "envoy.tracers.opentelemetry";

    public static HttpTracingConfig? Hcm(HcmApi.HttpConnectionManager.Types.Tracing? tracing, string path, TranslationErrors errors)
    {
        if (tracing is null)
        {
            return null;
        }

        if (tracing.Provider is { } named && errors.FromControlPlane && !IsOpenTelemetry(named))
        {
            // istiod's default Zipkin (or another tracer we cannot export to): this HCM does not trace, and the caller's
            // trace headers pass through unchanged, rather than a NACK of every listener.
            return null;
        }

        return new HttpTracingConfig
        {
            ClientSampling = Percent(tracing.ClientSampling, path + ".client_sampling", errors),
            RandomSampling = Percent(tracing.RandomSampling, path + ".random_sampling", errors),
            OverallSampling = Percent(tracing.OverallSampling, path + ".overall_sampling", errors),
            MaxPathTagLength = (int)Math.Min(tracing.MaxPathTagLength ?? 256u, int.MaxValue),
            CustomTags = CustomTags(tracing.CustomTags, path + ".custom_tags", errors),
            Provider = tracing.Provider is { } provider ? Tracer(provider, path + ".provider", staticClusters: null, errors) : null,
        };
    }

    private static ImmutableArray<CustomTagConfig> CustomTags(
        Google.Protobuf.Collections.RepeatedField<Api.Type.Tracing.V3.CustomTag> tags, string path, TranslationErrors errors)
    {
        var result = ImmutableArray.CreateBuilder<CustomTagConfig>();
        for (var i = 0; i < tags.Count; i++)
        {
            var tag = tags[i];
            var tagPath = path + "[" + i + "]";
            if (tag.Tag.Length == 0)
            {
                errors.Add(tagPath + ".tag", "a tag name is required");
                continue;
            }

            switch (tag.TypeCase)
            {
                case Api.Type.Tracing.V3.CustomTag.TypeOneofCase.Literal:
                    result.Add(new CustomTagConfig(tag.Tag, CustomTagSource.Literal, tag.Literal.Value, null));
                    break;
                case Api.Type.Tracing.V3.CustomTag.TypeOneofCase.Environment:
                    // Read once, as Envoy does; without the variable and a default, no tag.
                    var value = Environment.GetEnvironmentVariable(tag.Environment.Name) is { Length: > 0 } set ? set : tag.Environment.DefaultValue;
                    if (value.Length > 0)
                    {
                        result.Add(new CustomTagConfig(tag.Tag, CustomTagSource.Literal, value, null));
                    }

                    break;
                case Api.Type.Tracing.V3.CustomTag.TypeOneofCase.RequestHeader:
                    result.Add(new CustomTagConfig(tag.Tag, CustomTagSource.RequestHeader, tag.RequestHeader.Name.ToLowerInvariant(), NullIfEmpty(tag.RequestHeader.DefaultValue)));
                    break;
                case Api.Type.Tracing.V3.CustomTag.TypeOneofCase.ResponseHeader:
                    result.Add(new CustomTagConfig(tag.Tag, CustomTagSource.ResponseHeader, tag.ResponseHeader.Name.ToLowerInvariant(), NullIfEmpty(tag.ResponseHeader.DefaultValue)));
                    break;
                default:
                    // A metadata tag (field unknown here) from xDS: it only describes the span, so it is left out.
                    break;
            }
        }

        return result.ToImmutable();
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    public static RouteTracingConfig? Route(RouteApi.Tracing? tracing)
    {
        if (tracing is null)
        {
            return null;
        }

        return new RouteTracingConfig
        {
            ClientSampling = Fraction(tracing.ClientSampling),
            RandomSampling = Fraction(tracing.RandomSampling),
            OverallSampling = Fraction(tracing.OverallSampling),
        };
    }

    /// <summary>
    /// bootstrap tracing.http: envoy.tracers.opentelemetry with http_service (OTLP/HTTP to http_uri.uri) or
    /// grpc_service (OTLP/gRPC to the first endpoint of its envoy_grpc cluster, which must be a static cluster).
    /// </summary>
    public static TracerConfig? Bootstrap(BootstrapApi.Bootstrap bootstrap, ImmutableArray<ClusterConfig> clusters, TranslationErrors errors)
    {
        var http = bootstrap.Tracing?.Http;
        if (http is null)
        {
            return null;
        }

        return Tracer(http, "tracing.http", clusters, errors);
    }

    /// <summary>
    /// An envoy.tracers.opentelemetry tracer: http_service exports with OTLP/HTTP to http_uri.uri; grpc_service with
    /// OTLP/gRPC to the first endpoint of its envoy_grpc cluster when that is a static cluster of the bootstrap, or to
    /// HOST:PORT of an Istio cluster name outbound|PORT|subset|HOST (the authority, when given, names the host).
    /// </summary>
    private static bool IsOpenTelemetry(TraceApi.Tracing.Types.Http http) =>
        http.TypedConfig is { } typed && typed.Is(TraceApi.OpenTelemetryConfig.Descriptor);

    private static TracerConfig? Tracer(TraceApi.Tracing.Types.Http http, string path, ImmutableArray<ClusterConfig>? staticClusters, TranslationErrors errors)
    {
        if (!IsOpenTelemetry(http))
        {
            errors.Add(path, $"tracer '{http.Name}' ({http.TypedConfig?.TypeUrl ?? "no typed_config"}) is not supported: only {OpenTelemetryTracerName} (envoy.config.trace.v3.OpenTelemetryConfig)");
            return null;
        }

        var otel = http.TypedConfig.Unpack<TraceApi.OpenTelemetryConfig>();
        var serviceName = otel.ServiceName.Length > 0 ? otel.ServiceName : TracerConfig.DefaultServiceName;
        if (otel.HttpService is { } service)
        {
            if (otel.GrpcService is not null)
            {
                errors.Add(path + ".typed_config", "only one of grpc_service, http_service may be set");
            }

            if (!Uri.TryCreate(service.HttpUri?.Uri, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            {
                errors.Add(path + ".typed_config.http_service.http_uri.uri", $"'{service.HttpUri?.Uri}' is not an absolute http(s) URI");
                return null;
            }

            var headers = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>();
            foreach (var header in service.RequestHeadersToAdd)
            {
                if (header.Header is { } value)
                {
                    headers.Add(new(value.Key, value.Value));
                }
            }

            return new TracerConfig { Endpoint = uri, Transport = OtlpTransport.HttpProtobuf, ServiceName = serviceName, Headers = headers.ToImmutable() };
        }

        if (otel.GrpcService?.EnvoyGrpc is { } grpc)
        {
            foreach (var cluster in staticClusters ?? [])
            {
                if (cluster.Name == grpc.ClusterName && !cluster.Endpoints.IsDefaultOrEmpty)
                {
                    var endpoint = cluster.Endpoints[0];
                    var host = endpoint.Address.Contains(':', StringComparison.Ordinal) ? "[" + endpoint.Address + "]" : endpoint.Address;
                    return new TracerConfig { Endpoint = new Uri("http://" + host + ":" + endpoint.Port), Transport = OtlpTransport.Grpc, ServiceName = serviceName };
                }
            }

            // istiod names the collector's cluster outbound|4317||otel-collector.ns.svc.cluster.local.
            var parts = grpc.ClusterName.Split('|');
            if (parts.Length == 4 && parts[0] == "outbound" && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
                && port is > 0 and < 65536 && Uri.CheckHostName(grpc.Authority.Length > 0 ? grpc.Authority : parts[3]) != UriHostNameType.Unknown)
            {
                var host = grpc.Authority.Length > 0 ? grpc.Authority : parts[3];
                if (host.Contains(':', StringComparison.Ordinal) && Uri.CheckHostName(host) == UriHostNameType.IPv6)
                {
                    host = "[" + host + "]";
                }

                return new TracerConfig { Endpoint = new Uri("http://" + host + ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture)), Transport = OtlpTransport.Grpc, ServiceName = serviceName };
            }

            errors.Add(path + ".typed_config.grpc_service.envoy_grpc.cluster_name", $"'{grpc.ClusterName}' must be a static cluster with an endpoint (bootstrap tracer) or an Istio outbound|PORT||HOST cluster");
            return null;
        }

        errors.Add(path + ".typed_config", "one of grpc_service (envoy_grpc), http_service is required");
        return null;
    }

    /// <summary>log_format (SubstitutionFormatString); null = Envoy's default format.</summary>
    public static AccessLogFormat? Format(CoreApi.SubstitutionFormatString? format, string path, TranslationErrors errors)
    {
        if (format is null)
        {
            return null;
        }

        try
        {
            switch (format.FormatCase)
            {
                case CoreApi.SubstitutionFormatString.FormatOneofCase.TextFormat:
                    return AccessLogFormat.ParseText(format.TextFormat, format.OmitEmptyValues);
                case CoreApi.SubstitutionFormatString.FormatOneofCase.TextFormatSource:
                    if (format.TextFormatSource.SpecifierCase != CoreApi.DataSource.SpecifierOneofCase.InlineString)
                    {
                        errors.NotYetSupported(path + ".text_format_source", "a text_format_source other than inline_string");
                        return null;
                    }

                    return AccessLogFormat.ParseText(format.TextFormatSource.InlineString, format.OmitEmptyValues);
                case CoreApi.SubstitutionFormatString.FormatOneofCase.JsonFormat:
                    return AccessLogFormat.ParseJson(Google.Protobuf.JsonFormatter.Default.Format(format.JsonFormat), format.OmitEmptyValues);
                default:
                    errors.Add(path, "one of text_format, text_format_source, json_format is required");
                    return null;
            }
        }
        catch (FormatException ex)
        {
            var field = format.FormatCase switch
            {
                CoreApi.SubstitutionFormatString.FormatOneofCase.JsonFormat => ".json_format",
                CoreApi.SubstitutionFormatString.FormatOneofCase.TextFormat => ".text_format",
                _ => ".text_format_source.inline_string",
            };
            errors.Add(path + field, ex.Message);
            return null;
        }
    }

    /// <summary>type.v3.Percent (0-100); absent = Envoy's default 100.</summary>
    private static double Percent(PercentApi.Percent? percent, string path, TranslationErrors errors)
    {
        if (percent is null)
        {
            return 100;
        }

        if (percent.Value is < 0 or > 100 || double.IsNaN(percent.Value))
        {
            errors.Add(path + ".value", $"{percent.Value} is not a percentage between 0 and 100");
            return 100;
        }

        return percent.Value;
    }

    /// <summary>FractionalPercent as a percentage; null when absent (the HCM's value applies).</summary>
    private static double? Fraction(PercentApi.FractionalPercent? percent)
    {
        if (percent is null)
        {
            return null;
        }

        var denominator = percent.Denominator switch
        {
            PercentApi.FractionalPercent.Types.DenominatorType.TenThousand => 10_000.0,
            PercentApi.FractionalPercent.Types.DenominatorType.Million => 1_000_000.0,
            _ => 100.0,
        };

        // Envoy caps a numerator above the denominator at 100%.
        return Math.Min(percent.Numerator / denominator, 1.0) * 100;
    }
}
