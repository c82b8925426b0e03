using System.Net;
using System.Text.RegularExpressions;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests;

/// <summary>HCM file access log in Envoy's default format: one line per request, with the response flag.</summary>
public sealed class AccessLogTests(LocalRepliesProxyFixture fixture) : IClassFixture<LocalRepliesProxyFixture>
{
    // [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS BYTES_RECEIVED BYTES_SENT DURATION UPSTREAM_SERVICE_TIME "XFF" "UA" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST"
    private static readonly Regex DefaultFormat = new(
        "^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] \"(?<method>\\S+) (?<path>\\S+) (?<protocol>\\S+)\" (?<code>\\d{3}) (?<flags>\\S+) (?<received>\\d+) (?<sent>\\d+) (?<duration>\\d+) \\S+ \"[^\"]*\" \"[^\"]*\" \"(?<id>[^\"]*)\" \"[^\"]*\" \"(?<upstream>[^\"]*)\"$",
        RegexOptions.CultureInvariant);

    [Fact]
    public async Task Requests_SuccessNoRouteAndTimeout_EachLoggedWithCodeAndFlag()
    {
        var bed = fixture.Bed;
        using var client = bed.CreateHttp1Client();
        var marker = Guid.NewGuid().ToString("N")[..8];

        using (var ok = await client.GetAsync($"/ok/{marker}"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using (var missing = await client.GetAsync($"/missing/{marker}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        using (var slow = await client.GetAsync($"/delay/3000?{marker}"))
        {
            Assert.Equal(HttpStatusCode.GatewayTimeout, slow.StatusCode);
        }

        await Polling.UntilAsync(() => ReadLines(marker).Count >= 3, TimeSpan.FromSeconds(10), "three access log lines");
        var lines = ReadLines(marker);

        var success = Parse(lines, $"/ok/{marker}");
        Assert.Equal(("GET", "HTTP/1.1", "200", "-"), (success.Groups["method"].Value, success.Groups["protocol"].Value, success.Groups["code"].Value, success.Groups["flags"].Value));
        Assert.Equal($"127.0.0.1:{bed.V1.Http1Port}", success.Groups["upstream"].Value);
        Assert.True(long.Parse(success.Groups["sent"].Value, System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.True(Guid.TryParse(success.Groups["id"].Value, out _), "the generated x-request-id is logged");

        var noRoute = Parse(lines, $"/missing/{marker}");
        Assert.Equal(("404", "NR", "-"), (noRoute.Groups["code"].Value, noRoute.Groups["flags"].Value, noRoute.Groups["upstream"].Value));

        var timeout = Parse(lines, $"/delay/3000?{marker}");
        Assert.Equal(("504", "UT"), (timeout.Groups["code"].Value, timeout.Groups["flags"].Value));
        Assert.InRange(long.Parse(timeout.Groups["duration"].Value, System.Globalization.CultureInfo.InvariantCulture), 400, 2900);
    }

    private List<string> ReadLines(string marker)
    {
        if (!File.Exists(fixture.AccessLogPath))
        {
            return [];
        }

        using var stream = new FileStream(fixture.AccessLogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
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

    private static Match Parse(List<string> lines, string path)
    {
        foreach (var line in lines)
        {
            var match = DefaultFormat.Match(line);
            if (match.Success && match.Groups["path"].Value == path)
            {
                return match;
            }
        }

        throw new Xunit.Sdk.XunitException($"no access log line for {path} in:\n{string.Join('\n', lines)}");
    }
}
