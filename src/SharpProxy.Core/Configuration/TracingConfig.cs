using System.Collections.Immutable;

namespace SharpProxy.Core.Configuration;

/// <summary>HCM `tracing`: sampling percentages (0-100, Envoy's defaults 100) and the http.url tag limit.</summary>
internal sealed record HttpTracingConfig
{
    /// <summary>Requests with x-client-trace-id traced at this percentage.</summary>
    public double ClientSampling { get; init; } = 100;

    public double RandomSampling { get; init; } = 100;

    /// <summary>An upper bound applied after the other checks.</summary>
    public double OverallSampling { get; init; } = 100;

    public int MaxPathTagLength { get; init; } = 256;

    /// <summary>custom_tags: added to the server span (environment tags are resolved when the config is applied).</summary>
    public ImmutableArray<CustomTagConfig> CustomTags { get; init; } = [];

    /// <summary>HCM tracing.provider: this HCM's own tracer; null = the process tracer (bootstrap or environment).</summary>
    public TracerConfig? Provider { get; init; }

    public bool Equals(HttpTracingConfig? other) =>
        other is not null && ClientSampling == other.ClientSampling && RandomSampling == other.RandomSampling
        && OverallSampling == other.OverallSampling && MaxPathTagLength == other.MaxPathTagLength
        && CustomTags.AsSpan().SequenceEqual(other.CustomTags.AsSpan()) && Equals(Provider, other.Provider);

    public override int GetHashCode() => HashCode.Combine(ClientSampling, RandomSampling, OverallSampling, MaxPathTagLength, CustomTags.Length);
}

internal enum CustomTagSource
{
    /// <summary>A fixed value (a literal, or an environment variable read when the config was applied).</summary>
    Literal,
    RequestHeader,
    ResponseHeader,
}

/// <summary>One custom tag: its name, where the value comes from (a value or a lower-case header name) and the default.</summary>
internal sealed record CustomTagConfig(string Tag, CustomTagSource Source, string Value, string? DefaultValue);

/// <summary>Route `tracing`: percentages that override the HCM's for requests on this route (null = the HCM's).</summary>
internal sealed record RouteTracingConfig
{
    public double? ClientSampling { get; init; }

    public double? RandomSampling { get; init; }

    public double? OverallSampling { get; init; }
}

internal enum OtlpTransport
{
    Grpc,
    HttpProtobuf,
}

/// <summary>Where spans go: an OTLP endpoint (bootstrap tracing.http envoy.tracers.opentelemetry, or OTEL_EXPORTER_OTLP_ENDPOINT).</summary>
internal sealed record TracerConfig
{
    /// <summary>Envoy's service name when the config has none.</summary>
    public const string DefaultServiceName = "unknown_service:envoy";

    public required Uri Endpoint { get; init; }

    public OtlpTransport Transport { get; init; }

    public string ServiceName { get; init; } = DefaultServiceName;

    /// <summary>Extra headers on every export request (http_service.request_headers_to_add).</summary>
    public ImmutableArray<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>Identifies the exporter: configs with the same key share one ActivitySource and one export pipeline.</summary>
    public string Key
    {
        get
        {
            var key = new System.Text.StringBuilder().Append(Transport).Append('|').Append(Endpoint).Append('|').Append(ServiceName);
            foreach (var (name, value) in Headers)
            {
                key.Append('|').Append(name).Append('=').Append(value);
            }

            return key.ToString();
        }
    }

    public bool Equals(TracerConfig? other) => other is not null && other.Key == Key;

    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);

    /// <summary>The ActivitySource this tracer's spans are made on (resolved once, on first use).</summary>
    internal System.Diagnostics.ActivitySource Source => _source ??= Telemetry.Tracing.ProxyTracer.SourceFor(this);

    private System.Diagnostics.ActivitySource? _source;
}
