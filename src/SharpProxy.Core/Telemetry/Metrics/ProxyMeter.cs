using System.Diagnostics.Metrics;

namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>
/// System.Diagnostics.Metrics instruments mirroring Istio's standard metrics, so an OpenTelemetry MeterProvider (or
/// dotnet-counters) can read them. Recorded only while something listens (Instrument.Enabled); the Prometheus
/// exposition never reads them: it comes from <see cref="IstioMetrics"/>' own counters.
/// </summary>
internal static class ProxyMeter
{
    public const string Name = "SharpProxy";

    public static readonly Meter Meter = new(Name);

    public static readonly Counter<long> RequestsTotal = Meter.CreateCounter<long>("istio_requests_total", description: "Requests handled");

    public static readonly Histogram<long> RequestDuration = Meter.CreateHistogram<long>("istio_request_duration_milliseconds", "ms", "Request duration");

    public static readonly Histogram<long> RequestBytes = Meter.CreateHistogram<long>("istio_request_bytes", "By", "Request body size");

    public static readonly Histogram<long> ResponseBytes = Meter.CreateHistogram<long>("istio_response_bytes", "By", "Response body size");

    public static readonly Counter<long> TcpOpened = Meter.CreateCounter<long>("istio_tcp_connections_opened_total", description: "TCP connections opened");

    public static readonly Counter<long> TcpClosed = Meter.CreateCounter<long>("istio_tcp_connections_closed_total", description: "TCP connections closed");

    public static readonly Counter<long> TcpSentBytes = Meter.CreateCounter<long>("istio_tcp_sent_bytes_total", "By", "TCP bytes sent to the downstream");

    public static readonly Counter<long> TcpReceivedBytes = Meter.CreateCounter<long>("istio_tcp_received_bytes_total", "By", "TCP bytes received from the downstream");
}
