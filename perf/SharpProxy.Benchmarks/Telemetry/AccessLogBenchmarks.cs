using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using SharpProxy.Core.Telemetry.AccessLog;

namespace SharpProxy.Benchmarks.Telemetry;

/// <summary>
/// The access log's two halves for Istio's default format: Capture runs on the request (copies the header values the
/// format reads into an entry); Format runs on the sink's background task (writes the line).
/// </summary>
[MemoryDiagnoser]
public class AccessLogBenchmarks
{
    private const string IstioFormat =
        "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% "
        + "%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% "
        + "%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" "
        + "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% "
        + "%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

    private readonly AccessLogFormat _istio = AccessLogFormat.ParseText(IstioFormat, false);
    private readonly AccessLogFormat _json = AccessLogFormat.ParseJson(
        """{"start_time":"%START_TIME%","method":"%REQ(:METHOD)%","path":"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%","response_code":"%RESPONSE_CODE%","response_flags":"%RESPONSE_FLAGS%","bytes_sent":"%BYTES_SENT%","duration":"%DURATION%","upstream_host":"%UPSTREAM_HOST%","route_name":"%ROUTE_NAME%"}""",
        false);

    private readonly StringBuilder _line = new(1024);
    private AccessLogFacts _facts;
    private AccessLogEntry _istioEntry = null!;
    private AccessLogEntry _jsonEntry = null!;

    [GlobalSetup]
    public void Setup()
    {
        _facts = new AccessLogFacts
        {
            StartTime = DateTimeOffset.UtcNow,
            Protocol = "HTTP/1.1",
            ResponseCode = 200,
            ResponseCodeDetails = "via_upstream",
            BytesSent = 295,
            DurationMs = 3,
            RequestDurationMs = 0,
            ResponseDurationMs = 2,
            UpstreamHost = "10.0.0.7:9080",
            UpstreamCluster = "outbound|9080||reviews.default.svc.cluster.local",
            UpstreamAttempts = 1,
            DownstreamRemote = new IPEndPoint(IPAddress.Parse("10.0.0.9"), 51234),
            DownstreamLocal = new IPEndPoint(IPAddress.Parse("10.0.0.8"), 15006),
            RouteName = "default",
        };
        _istioEntry = Capture(_istio);
        _jsonEntry = Capture(_json);
    }

    [Benchmark]
    public object CaptureIstio() => Capture(_istio);

    [Benchmark]
    public object CaptureJson() => Capture(_json);

    [Benchmark]
    public int FormatIstio()
    {
        _line.Clear();
        _istio.Write(_istioEntry, _line);
        return _line.Length;
    }

    [Benchmark]
    public int FormatJson()
    {
        _line.Clear();
        _json.Write(_jsonEntry, _line);
        return _line.Length;
    }

    private AccessLogEntry Capture(AccessLogFormat format)
    {
        var headers = new Headers();
        return AccessLogEntry.Capture(format, ref headers, _facts);
    }

    private readonly struct Headers : IAccessLogHeaders
    {
        public string? RequestHeader(string name) => name switch
        {
            ":method" => "GET",
            ":path" => "/reviews/0",
            ":authority" => "reviews:9080",
            "user-agent" => "curl/8.0",
            "x-request-id" => "5e0f1f5a-1b2a-4c1e-9c53-6bd5c0a7b1f0",
            _ => null,
        };

        public string? ResponseHeader(string name) => name == "x-envoy-upstream-service-time" ? "2" : null;

        public string? ResponseTrailer(string name) => null;
    }
}
