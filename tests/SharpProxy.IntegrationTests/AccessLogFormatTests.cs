using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests;

/// <summary>One HCM with three file access logs: a custom text format, a JSON format, and Istio's default text format.</summary>
public sealed class AccessLogFormatProxyFixture : ProxyFixture
{
    /// <summary>Istio's default access log format (istio/istio pilot/pkg/model/telemetry_logging.go, EnvoyTextLogFormat), verbatim.</summary>
    public const string IstioDefaultFormat =
        "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% "
        + "%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
        + "\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% "
        + "%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" "
        + "\"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" "
        + "%UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% "
        + "%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

    /// <summary>Custom text: fields separated by '|'.</summary>
    public const string TextFormat =
        "%START_TIME(%Y/%m/%d %H:%M:%S.%3f)%|%REQ(:METHOD)%|%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%|%PROTOCOL%|%RESPONSE_CODE%|%RESPONSE_FLAGS%"
        + "|%RESPONSE_CODE_DETAILS%|%UPSTREAM_HOST%|%UPSTREAM_CLUSTER%|%ROUTE_NAME%|%REQ(X-MARKER)%|%REQ(X-MARKER):4%"
        + "|%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%|%UPSTREAM_REQUEST_ATTEMPT_COUNT%|%RESP(X-MISSING)%|%HOSTNAME%\n";

    private const string Template = """
        admin:
          address:
            socket_address:
              address: 127.0.0.1
              port_value: 0
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
                  access_log:
                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                      path: "{{TEXT_LOG}}"
                      log_format:
                        text_format_source:
                          inline_string: {{TEXT_FORMAT}}
                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                      path: "{{JSON_LOG}}"
                      log_format:
                        json_format:
                          start_time: "%START_TIME%"
                          method: "%REQ(:METHOD)%"
                          path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"
                          protocol: "%PROTOCOL%"
                          response_code: "%RESPONSE_CODE%"
                          response_flags: "%RESPONSE_FLAGS%"
                          response_code_details: "%RESPONSE_CODE_DETAILS%"
                          bytes_received: "%BYTES_RECEIVED%"
                          bytes_sent: "%BYTES_SENT%"
                          duration: "%DURATION%"
                          upstream_host: "%UPSTREAM_HOST%"
                          upstream_cluster: "%UPSTREAM_CLUSTER%"
                          route_name: "%ROUTE_NAME%"
                          marker: "%REQ(X-MARKER)%"
                          summary: "%REQ(:METHOD)% %RESPONSE_CODE% %UPSTREAM_HOST%"
                          constant: 7
                          nested:
                            cluster: "%UPSTREAM_CLUSTER%"
                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                      path: "{{ISTIO_LOG}}"
                      log_format:
                        text_format_source:
                          inline_string: {{ISTIO_FORMAT}}
                  route_config:
                    name: formats
                    virtual_hosts:
                    - name: backend
                      domains: ["*"]
                      routes:
                      - name: delay_route
                        match:
                          prefix: "/delay/"
                        route:
                          cluster: v1
                          timeout: 0.5s
                      - name: ok_route
                        match:
                          prefix: "/ok"
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

    private readonly string _directory = Directory.CreateTempSubdirectory("sharpproxy-access-formats-").FullName;

    public string TextLogPath => Path.Combine(_directory, "text.log");

    public string JsonLogPath => Path.Combine(_directory, "json.log");

    public string IstioLogPath => Path.Combine(_directory, "istio.log");

    protected override string[] Labels => ["v1"];

    protected override TempConfigFile WriteConfig(IReadOnlyList<EchoUpstream> upstreams) => ConfigWriter.Write(
        Template,
        ("V1_HTTP1_PORT", upstreams[0].Http1Port),
        ("TEXT_LOG", TextLogPath),
        ("JSON_LOG", JsonLogPath),
        ("ISTIO_LOG", IstioLogPath),
        ("TEXT_FORMAT", JsonSerializer.Serialize(TextFormat)),
        ("ISTIO_FORMAT", JsonSerializer.Serialize(IstioDefaultFormat)));
}

/// <summary>log_format end to end: a success, a no-route 404 (NR) and an upstream timeout (UT), compared field by field.</summary>
public sealed partial class AccessLogFormatTests(AccessLogFormatProxyFixture fixture) : IClassFixture<AccessLogFormatProxyFixture>
{
    [Fact]
    public async Task Requests_SuccessNoRouteAndTimeout_LoggedInTextJsonAndIstioFormats()
    {
        var bed = fixture.Bed;
        using var client = bed.CreateHttp1Client();
        var marker = Guid.NewGuid().ToString("N");
        await SendAsync(client, "/ok/" + marker, marker, HttpStatusCode.OK);
        await SendAsync(client, "/missing/" + marker, marker, HttpStatusCode.NotFound);
        await SendAsync(client, "/delay/3000?" + marker, marker, HttpStatusCode.GatewayTimeout);

        await Polling.UntilAsync(
            () => Lines(fixture.TextLogPath, marker).Count >= 3 && Lines(fixture.JsonLogPath, marker).Count >= 3 && Lines(fixture.IstioLogPath, marker).Count >= 3,
            TimeSpan.FromSeconds(10),
            "three lines in each access log");
        var upstream = $"127.0.0.1:{bed.V1.Http1Port}";

        // Custom text.
        var text = Lines(fixture.TextLogPath, marker);
        var ok = Fields(text, "/ok/" + marker);
        Assert.Matches(TextTime(), ok[0]);
        Assert.Equal(
            ["GET", "/ok/" + marker, "HTTP/1.1", "200", "-", "via_upstream", upstream, "v1", "ok_route", marker, marker[..4], "127.0.0.1", "1", "-", Environment.MachineName],
            ok[1..]);
        var missing = Fields(text, "/missing/" + marker);
        Assert.Equal(["GET", "/missing/" + marker, "HTTP/1.1", "404", "NR", "route_not_found", "-", "-", "-", marker, marker[..4], "127.0.0.1", "-", "-", Environment.MachineName], missing[1..]);
        var timeout = Fields(text, "/delay/3000?" + marker);
        Assert.Equal(["GET", "/delay/3000?" + marker, "HTTP/1.1", "504", "UT", "upstream_response_timeout", upstream, "v1", "delay_route", marker, marker[..4], "127.0.0.1", "1", "-", Environment.MachineName], timeout[1..]);

        // JSON: numbers as numbers, empty values as null, mixed templates as strings, configured literals kept.
        var json = Lines(fixture.JsonLogPath, marker);
        using (var success = Json(json, "/ok/" + marker))
        {
            var root = success.RootElement;
            Assert.Equal(JsonValueKind.Number, root.GetProperty("response_code").ValueKind);
            Assert.Equal(200, root.GetProperty("response_code").GetInt32());
            Assert.Equal("GET", root.GetProperty("method").GetString());
            Assert.Equal("HTTP/1.1", root.GetProperty("protocol").GetString());
            Assert.Equal("-", root.GetProperty("response_flags").GetString());
            Assert.Equal("via_upstream", root.GetProperty("response_code_details").GetString());
            Assert.Equal(0, root.GetProperty("bytes_received").GetInt64());
            Assert.True(root.GetProperty("bytes_sent").GetInt64() > 0);
            Assert.Equal(JsonValueKind.Number, root.GetProperty("duration").ValueKind);
            Assert.Equal(upstream, root.GetProperty("upstream_host").GetString());
            Assert.Equal("v1", root.GetProperty("upstream_cluster").GetString());
            Assert.Equal("ok_route", root.GetProperty("route_name").GetString());
            Assert.Equal(marker, root.GetProperty("marker").GetString());
            Assert.Equal("GET 200 " + upstream, root.GetProperty("summary").GetString());
            Assert.Equal(7, root.GetProperty("constant").GetInt32());
            Assert.Equal("v1", root.GetProperty("nested").GetProperty("cluster").GetString());
            Assert.True(DateTimeOffset.TryParse(root.GetProperty("start_time").GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _));
        }

        using (var noRoute = Json(json, "/missing/" + marker))
        {
            var root = noRoute.RootElement;
            Assert.Equal(404, root.GetProperty("response_code").GetInt32());
            Assert.Equal("NR", root.GetProperty("response_flags").GetString());
            Assert.Equal("route_not_found", root.GetProperty("response_code_details").GetString());
            Assert.Equal(JsonValueKind.Null, root.GetProperty("upstream_host").ValueKind);
            Assert.Equal(JsonValueKind.Null, root.GetProperty("route_name").ValueKind);
            Assert.Equal("GET 404 -", root.GetProperty("summary").GetString());
        }

        using (var timedOut = Json(json, "/delay/3000?" + marker))
        {
            var root = timedOut.RootElement;
            Assert.Equal(504, root.GetProperty("response_code").GetInt32());
            Assert.Equal("UT", root.GetProperty("response_flags").GetString());
            Assert.Equal("upstream_response_timeout", root.GetProperty("response_code_details").GetString());
            Assert.Equal("delay_route", root.GetProperty("route_name").GetString());
            Assert.InRange(root.GetProperty("duration").GetInt64(), 400, 2900);
        }

        // Istio's default format, parsed with the shape Istio documents.
        var istio = Lines(fixture.IstioLogPath, marker);
        var istioOk = IstioFields(istio, "/ok/" + marker);
        Assert.Equal(("GET", "HTTP/1.1", "200", "-", "via_upstream"), (istioOk.Groups["method"].Value, istioOk.Groups["protocol"].Value, istioOk.Groups["code"].Value, istioOk.Groups["flags"].Value, istioOk.Groups["details"].Value));
        Assert.Equal((upstream, "v1", "ok_route"), (istioOk.Groups["upstream"].Value, istioOk.Groups["cluster"].Value, istioOk.Groups["route"].Value));
        Assert.Equal($"127.0.0.1:{bed.ListenerPort}", istioOk.Groups["local"].Value);
        Assert.StartsWith("127.0.0.1:", istioOk.Groups["remote"].Value, StringComparison.Ordinal);
        Assert.True(Guid.TryParse(istioOk.Groups["id"].Value, out _));
        var istioMissing = IstioFields(istio, "/missing/" + marker);
        Assert.Equal(("404", "NR", "route_not_found", "-", "-"), (istioMissing.Groups["code"].Value, istioMissing.Groups["flags"].Value, istioMissing.Groups["details"].Value, istioMissing.Groups["cluster"].Value, istioMissing.Groups["route"].Value));
        var istioTimeout = IstioFields(istio, "/delay/3000?" + marker);
        Assert.Equal(("504", "UT", "upstream_response_timeout", "delay_route"), (istioTimeout.Groups["code"].Value, istioTimeout.Groups["flags"].Value, istioTimeout.Groups["details"].Value, istioTimeout.Groups["route"].Value));
    }

    private static async Task SendAsync(HttpClient client, string path, string marker, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("x-marker", marker);
        using var response = await client.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
    }

    private static string[] Fields(List<string> lines, string path)
    {
        foreach (var line in lines)
        {
            var fields = line.Split('|');
            if (fields.Length > 2 && fields[2] == path)
            {
                return fields;
            }
        }

        throw new Xunit.Sdk.XunitException($"no text line for {path} in:\n{string.Join('\n', lines)}");
    }

    private static JsonDocument Json(List<string> lines, string path)
    {
        foreach (var line in lines)
        {
            var document = JsonDocument.Parse(line);
            if (document.RootElement.GetProperty("path").GetString() == path)
            {
                return document;
            }

            document.Dispose();
        }

        throw new Xunit.Sdk.XunitException($"no JSON line for {path} in:\n{string.Join('\n', lines)}");
    }

    private static Match IstioFields(List<string> lines, string path)
    {
        foreach (var line in lines)
        {
            var match = IstioLine().Match(line);
            if (match.Success && match.Groups["path"].Value == path)
            {
                return match;
            }
        }

        throw new Xunit.Sdk.XunitException($"no Istio-format line for {path} in:\n{string.Join('\n', lines)}");
    }

    private static List<string> Lines(string path, string marker)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var result = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains(marker, StringComparison.Ordinal))
            {
                result.Add(line);
            }
        }

        return result;
    }

    [GeneratedRegex(@"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}$", RegexOptions.CultureInvariant)]
    private static partial Regex TextTime();

    // [START] "METHOD PATH PROTOCOL" CODE FLAGS DETAILS TERMINATION "FAILURE" RECEIVED SENT DURATION SERVICE_TIME "XFF" "UA" "ID" "AUTHORITY" "UPSTREAM" CLUSTER UPSTREAM_LOCAL LOCAL REMOTE SNI ROUTE
    [GeneratedRegex(
        "^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] \"(?<method>\\S+) (?<path>\\S+) (?<protocol>\\S+)\" (?<code>\\d{3}) (?<flags>\\S+) (?<details>\\S+) (?<termination>\\S+) \"(?<failure>[^\"]*)\" (?<received>\\d+) (?<sent>\\d+) (?<duration>\\d+) (?<servicetime>\\S+) \"[^\"]*\" \"[^\"]*\" \"(?<id>[^\"]*)\" \"[^\"]*\" \"(?<upstream>[^\"]*)\" (?<cluster>\\S+) (?<upstreamlocal>\\S+) (?<local>\\S+) (?<remote>\\S+) (?<sni>\\S+) (?<route>\\S+)$",
        RegexOptions.CultureInvariant)]
    private static partial Regex IstioLine();
}
