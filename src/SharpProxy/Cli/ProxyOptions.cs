using Microsoft.Extensions.Logging;

namespace SharpProxy.Cli;

internal enum RunMode
{
    Serve,
    Validate,
}

/// <summary>The `sharpproxy` command line; flag names follow Envoy's where the two overlap.</summary>
internal sealed record ProxyOptions
{
    public string? ConfigPath { get; init; }

    public string? ConfigYaml { get; init; }

    public int Concurrency { get; init; } = Environment.ProcessorCount;

    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    public RunMode Mode { get; init; } = RunMode.Serve;

    public bool AllowUnknownStaticFields { get; init; }

    public TimeSpan DrainTime { get; init; } = TimeSpan.FromSeconds(600);

    public string? AdminAddressPath { get; init; }

    /// <summary>Port of the <c>/healthz/ready</c> probe listener (Istio: 15021); 0 = none.</summary>
    public int ReadinessPort { get; init; }

    public string ReadinessAddress { get; init; } = "0.0.0.0";

    /// <summary>Port of the Prometheus scrape listener (/stats/prometheus on all addresses, like Istio's 15090); 0 = none.</summary>
    public int PrometheusPort { get; init; }

    /// <summary>Plain HTTP/1.1 served by the fast path (Core/Http1) instead of Kestrel.</summary>
    public bool Http1FastPath { get; init; } = Core.Http1.Http1FastPath.EnabledByEnvironment;
}
