using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry.Tracing;

namespace SharpProxy.Hosting;

/// <summary>
/// Exports the proxy's spans with OpenTelemetry's OTLP exporter when a tracer is configured: the bootstrap's
/// tracing.http (envoy.tracers.opentelemetry), else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT.
/// Without either, no listener exists and the request path never parses a trace header.
/// </summary>
internal static partial class TracingSetup
{
    /// <summary>Envoy's OpenTelemetry tracer flushes every 5 s; OTEL_BSP_SCHEDULE_DELAY (ms) overrides, as the SDK's own setting.</summary>
    private const int DefaultFlushMilliseconds = 5000;

    /// <summary>
    /// Starts the process tracer (bootstrap or environment) and arranges for each HCM tracing.provider to get its own
    /// exporter when first used. Disposing flushes and stops them all.
    /// </summary>
    public static IDisposable Start(ProxyConfig config, ILogger logger)
    {
        var exporters = new Exporters();
        ProxyTracer.NodeId = config.Node.Id;
        config.Node.Metadata.TryGetValue("zone", out var zone);
        ProxyTracer.Zone = zone ?? "";
        ProxyTracer.ProviderAdded = (provider, sourceName) =>
        {
            exporters.Add(Build(provider, sourceName));
            Log.TracingEnabled(logger, provider.Endpoint.ToString(), provider.Transport.ToString(), provider.ServiceName);
        };

        var tracer = config.Tracer ?? FromEnvironment();
        if (tracer is null)
        {
            ProxyTracer.Enabled = false;
            return exporters;
        }

        exporters.Add(Build(tracer, ProxyTracer.SourceName));
        ProxyTracer.Enabled = true;
        Log.TracingEnabled(logger, tracer.Endpoint.ToString(), tracer.Transport.ToString(), tracer.ServiceName);
        return exporters;
    }

    private static TracerProvider Build(TracerConfig tracer, string sourceName)
    {
        var delay = int.TryParse(Environment.GetEnvironmentVariable("OTEL_BSP_SCHEDULE_DELAY"), NumberStyles.None, CultureInfo.InvariantCulture, out var configured) && configured > 0
            ? configured
            : DefaultFlushMilliseconds;
        return Sdk.CreateTracerProviderBuilder()
            .AddSource(sourceName)
            .SetSampler(new AlwaysOnSampler())
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(tracer.ServiceName))
            .AddOtlpExporter(options =>
            {
                options.Endpoint = tracer.Endpoint;
                options.Protocol = tracer.Transport == OtlpTransport.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                if (!tracer.Headers.IsDefaultOrEmpty)
                {
                    var headers = new StringBuilder();
                    foreach (var (name, value) in tracer.Headers)
                    {
                        headers.Append(headers.Length == 0 ? "" : ",").Append(name).Append('=').Append(value);
                    }

                    options.Headers = headers.ToString();
                }

                options.ExportProcessorType = ExportProcessorType.Batch;
                options.BatchExportProcessorOptions = new BatchExportProcessorOptions<Activity> { ScheduledDelayMilliseconds = delay };
            })
            .Build();
    }

    /// <summary>The exporters started so far; disposing flushes each (spans still queued are sent) and stops it.</summary>
    private sealed class Exporters : IDisposable
    {
        private readonly List<TracerProvider> _providers = [];

        public void Add(TracerProvider provider)
        {
            lock (_providers)
            {
                _providers.Add(provider);
            }
        }

        public void Dispose()
        {
            ProxyTracer.ProviderAdded = null;
            lock (_providers)
            {
                foreach (var provider in _providers)
                {
                    provider.Dispose();
                }

                _providers.Clear();
            }
        }
    }

    /// <summary>The OpenTelemetry environment variables: a signal-specific endpoint is used as is; the base one gets /v1/traces for HTTP.</summary>
    internal static TracerConfig? FromEnvironment()
    {
        var protocol = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL");
        var transport = string.Equals(protocol, "grpc", StringComparison.OrdinalIgnoreCase) ? OtlpTransport.Grpc : OtlpTransport.HttpProtobuf;
        var serviceName = Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is { Length: > 0 } name ? name : TracerConfig.DefaultServiceName;
        if (Uri.TryCreate(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), UriKind.Absolute, out var traces))
        {
            return new TracerConfig { Endpoint = traces, Transport = transport, ServiceName = serviceName };
        }

        if (!Uri.TryCreate(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"), UriKind.Absolute, out var endpoint))
        {
            return null;
        }

        if (transport == OtlpTransport.HttpProtobuf)
        {
            endpoint = new Uri(endpoint.ToString().TrimEnd('/') + "/v1/traces");
        }

        return new TracerConfig { Endpoint = endpoint, Transport = transport, ServiceName = serviceName };
    }

    private static partial class Log
    {
        [LoggerMessage(5100, LogLevel.Information, "Tracing: spans exported to {Endpoint} ({Transport}) as service {Service}")]
        public static partial void TracingEnabled(ILogger logger, string endpoint, string transport, string service);
    }
}
