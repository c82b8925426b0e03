using System.Net;
using System.Text;
using System.Text.Json;
using SharpProxy.Core.Telemetry.AccessLog;

namespace SharpProxy.Core.Tests.Telemetry.AccessLog;

public sealed class AccessLogFormatTests
{
    private static readonly DateTimeOffset Start = new(2024, 3, 7, 9, 5, 4, 321, TimeSpan.Zero);

    private static AccessLogFacts Facts => new()
    {
        StartTime = Start.AddTicks(6543),
        Protocol = "HTTP/1.1",
        ResponseCode = 503,
        ResponseCodeDetails = "upstream_reset_before_response_started{connection_failure}",
        ResponseFlags = "UF,URX",
        BytesReceived = 12,
        BytesSent = 91,
        DurationMs = 45,
        RequestDurationMs = 2,
        ResponseDurationMs = -1,
        UpstreamHost = "10.0.0.7:8080",
        UpstreamCluster = "backend",
        UpstreamTransportFailureReason = "Connection refused",
        UpstreamAttempts = 2,
        DownstreamRemote = new IPEndPoint(IPAddress.Parse("192.168.1.9"), 51234),
        DownstreamLocal = new IPEndPoint(IPAddress.Parse("::ffff:10.1.2.3"), 15006),
        RequestedServerName = "api.example.com",
        RouteName = "r1",
        TraceId = "4bf92f3577b34da6a3ce929d0e0e4736",
    };

    public static TheoryData<string, string> Operators => new()
    {
        { "%START_TIME%", "2024-03-07T09:05:04.321Z" },
        { "%START_TIME(%Y/%m/%d %H:%M:%S)%", "2024/03/07 09:05:04" },
        { "%START_TIME(%s.%3f %6f %f)%", "1709802304.321 321654 321654300" },
        { "%START_TIME(%E3S|%y %b %a %e %j %z %Z %T %F %D %R %%)%", "04.321|24 Mar Thu  7 067 +0000 UTC 09:05:04 2024-03-07 03/07/24 09:05 %" },
        { "%REQ(:METHOD)%", "POST" },
        { "%REQ(:PATH)%", "/api/items?id=3" },
        { "%REQ(:AUTHORITY)%", "shop.local" },
        { "%REQ(USER-AGENT)%", "curl/8.0" },
        { "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", "/api/items?id=3" },
        { "%REQ(X-MISSING)%", "-" },
        { "%REQ(USER-AGENT):4%", "curl" },
        { "%REQ_WITHOUT_QUERY(:PATH)%", "/api/items" },
        { "%RESP(CONTENT-TYPE)%", "text/plain" },
        { "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", "-" },
        { "%TRAILER(GRPC-STATUS)%", "14" },
        { "%PROTOCOL%", "HTTP/1.1" },
        { "%RESPONSE_CODE%", "503" },
        { "%RESPONSE_CODE_DETAILS%", "upstream_reset_before_response_started{connection_failure}" },
        { "%CONNECTION_TERMINATION_DETAILS%", "-" },
        { "%RESPONSE_FLAGS%", "UF,URX" },
        { "%BYTES_RECEIVED%", "12" },
        { "%BYTES_SENT%", "91" },
        { "%DURATION%", "45" },
        { "%REQUEST_DURATION%", "2" },
        { "%RESPONSE_DURATION%", "-" },
        { "%UPSTREAM_HOST%", "10.0.0.7:8080" },
        { "%UPSTREAM_REMOTE_ADDRESS%", "10.0.0.7:8080" },
        { "%UPSTREAM_CLUSTER%", "backend" },
        { "%UPSTREAM_CLUSTER_RAW%", "backend" },
        { "%UPSTREAM_LOCAL_ADDRESS%", "-" },
        { "%UPSTREAM_TRANSPORT_FAILURE_REASON%", "Connection refused" },
        { "%UPSTREAM_REQUEST_ATTEMPT_COUNT%", "2" },
        { "%DOWNSTREAM_REMOTE_ADDRESS%", "192.168.1.9:51234" },
        { "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "192.168.1.9" },
        { "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%", "192.168.1.9:51234" },
        { "%DOWNSTREAM_LOCAL_ADDRESS%", "10.1.2.3:15006" },
        { "%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "10.1.2.3" },
        { "%REQUESTED_SERVER_NAME%", "api.example.com" },
        { "%ROUTE_NAME%", "r1" },
        { "%TRACE_ID%", "4bf92f3577b34da6a3ce929d0e0e4736" },
        { "%UPSTREAM_CLUSTER%:%RESPONSE_CODE%", "backend:503" },
        { "plain text, no operator", "plain text, no operator" },
    };

    [Theory]
    [MemberData(nameof(Operators))]
    public void ParseText_EachOperator_WritesEnvoyValue(string format, string expected)
    {
        Assert.Equal(expected, Write(AccessLogFormat.ParseText(format, omitEmptyValues: false)));
    }

    [Fact]
    public void ParseText_Hostname_IsMachineName()
    {
        Assert.Equal(Environment.MachineName, Write(AccessLogFormat.ParseText("%HOSTNAME%", false)));
    }

    [Fact]
    public void ParseText_OmitEmptyValues_EmptyInsteadOfDash()
    {
        Assert.Equal("[]", Write(AccessLogFormat.ParseText("[%REQ(X-MISSING)%]", omitEmptyValues: true)));
    }

    [Fact]
    public void EnvoyDefault_MatchesEnvoysDefaultLine()
    {
        Assert.Equal(
            "[2024-03-07T09:05:04.321Z] \"POST /api/items?id=3 HTTP/1.1\" 503 UF,URX 12 91 45 - \"-\" \"curl/8.0\" \"-\" \"shop.local\" \"10.0.0.7:8080\"\n",
            Write(AccessLogFormat.EnvoyDefault));
    }

    [Fact]
    public void IstioDefaultFormat_Compiles()
    {
        var format = AccessLogFormat.ParseText(
            "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% "
            + "%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% "
            + "%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" "
            + "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% "
            + "%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n",
            false);
        Assert.Equal(
            "[2024-03-07T09:05:04.321Z] \"POST /api/items?id=3 HTTP/1.1\" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "
            + "\"Connection refused\" 12 91 45 - \"-\" \"curl/8.0\" \"-\" \"shop.local\" \"10.0.0.7:8080\" backend - 10.1.2.3:15006 192.168.1.9:51234 api.example.com r1\n",
            Write(format));
    }

    [Theory]
    [InlineData("%NOT_AN_OPERATOR%", "NOT_AN_OPERATOR")]
    [InlineData("a %DYNAMIC_METADATA(istio)% b", "DYNAMIC_METADATA")]
    [InlineData("%UPSTREAM_WIRE_BYTES_SENT%", "UPSTREAM_WIRE_BYTES_SENT")]
    [InlineData("%REQ%", "needs a header name")]
    [InlineData("%REQ()%", "needs a header name")]
    [InlineData("%REQ(A?B?C)%", "expected X or X?Y")]
    [InlineData("%REQ(:PATH", "closing ')'")]
    [InlineData("%RESPONSE_CODE", "not closed by '%'")]
    [InlineData("100% sure", "does not start a command operator")]
    [InlineData("%PROTOCOL(x)%", "takes no argument")]
    [InlineData("%REQ(A):x%", "positive number")]
    [InlineData("%REQ(A):0%", "positive number")]
    public void ParseText_BadOperator_RejectedWithItsName(string format, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => AccessLogFormat.ParseText(format, false));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseJson_TypesValuesAsEnvoy()
    {
        var format = AccessLogFormat.ParseJson(
            """{"code":"%RESPONSE_CODE%","sent":"%BYTES_SENT%","resp":"%RESPONSE_DURATION%","host":"%UPSTREAM_HOST%","missing":"%REQ(X-MISSING)%","mixed":"%REQ(:METHOD)% %REQ(X-MISSING)%","quoted":"%REQ(X-QUOTE)%","n":1.5,"b":true,"nested":{"flags":"%RESPONSE_FLAGS%"}}""",
            omitEmptyValues: false);
        var line = Write(format);
        Assert.EndsWith("\n", line, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        Assert.Equal(503, root.GetProperty("code").GetInt32());
        Assert.Equal(91, root.GetProperty("sent").GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("resp").ValueKind);
        Assert.Equal("10.0.0.7:8080", root.GetProperty("host").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("missing").ValueKind);
        Assert.Equal("POST -", root.GetProperty("mixed").GetString());
        Assert.Equal("say \"hi\"\\\n", root.GetProperty("quoted").GetString());
        Assert.Equal(1.5, root.GetProperty("n").GetDouble());
        Assert.True(root.GetProperty("b").GetBoolean());
        Assert.Equal("UF,URX", root.GetProperty("nested").GetProperty("flags").GetString());
    }

    [Fact]
    public void ParseJson_OmitEmptyValues_DropsEmptyKeys()
    {
        var line = Write(AccessLogFormat.ParseJson("""{"a":"%REQ(X-MISSING)%","b":"%RESPONSE_CODE%","c":"%RESPONSE_DURATION%"}""", omitEmptyValues: true));
        Assert.Equal("{\"b\":503}\n", line);
    }

    [Fact]
    public void ParseJson_BadOperator_NamesTheKey()
    {
        var ex = Assert.Throws<FormatException>(() => AccessLogFormat.ParseJson("""{"outer":{"inner":"%BOGUS%"}}""", false));
        Assert.Contains("outer.inner", ex.Message, StringComparison.Ordinal);
        Assert.Contains("BOGUS", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Slots_SameHeaderTwice_CapturedOnce()
    {
        var format = AccessLogFormat.ParseText("%REQ(User-Agent)% %REQ(USER-AGENT):3% %RESP(user-agent)%", false);
        Assert.Equal([new HeaderSlot(HeaderSource.Request, "user-agent"), new HeaderSlot(HeaderSource.Response, "user-agent")], format.Slots);
    }

    [Theory]
    [InlineData(null, true, "via_upstream")]
    [InlineData("-", false, null)]
    [InlineData("NR", false, "route_not_found")]
    [InlineData("UT", true, "upstream_response_timeout")]
    [InlineData("UF,URX", false, "upstream_reset_before_response_started{connection_failure}")]
    [InlineData("UH", false, "no_healthy_upstream")]
    public void DetailsForFlags_MapsLikeEnvoy(string? flags, bool upstreamResponse, string? expected)
    {
        Assert.Equal(expected, AccessLogEntry.DetailsForFlags(flags, upstreamResponse));
    }

    private static string Write(AccessLogFormat format)
    {
        var headers = new FakeHeaders();
        var entry = AccessLogEntry.Capture(format, ref headers, Facts);
        var output = new StringBuilder();
        format.Write(entry, output);
        return output.ToString();
    }

    private readonly struct FakeHeaders : IAccessLogHeaders
    {
        public string? RequestHeader(string name) => name switch
        {
            ":method" => "POST",
            ":path" => "/api/items?id=3",
            ":authority" => "shop.local",
            "user-agent" => "curl/8.0",
            "x-quote" => "say \"hi\"\\\n",
            _ => null,
        };

        public string? ResponseHeader(string name) => name == "content-type" ? "text/plain" : null;

        public string? ResponseTrailer(string name) => name == "grpc-status" ? "14" : null;
    }
}
