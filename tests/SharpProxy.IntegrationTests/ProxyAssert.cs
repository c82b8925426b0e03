using System.Net;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests;

/// <summary>Assertions whose failure message carries what is needed to see why: status, body, flags, proxy output.</summary>
internal static class ProxyAssert
{
    public const string ResponseFlagsHeader = "x-sharpproxy-response-flags";

    /// <summary>Asserts the status code and returns the body as text.</summary>
    public static async Task<string> StatusAsync(HttpStatusCode expected, HttpResponseMessage response, ProxyProcess proxy)
    {
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != expected)
        {
            Assert.Fail($"Expected HTTP {(int)expected}, got {(int)response.StatusCode} (HTTP/{response.Version}, flags '{Flags(response)}').\n" +
                $"Body: {Truncate(body)}\n{proxy.Describe(16 * 1024)}");
        }

        return body;
    }

    /// <summary>Asserts 200 and parses the upstream's echo JSON.</summary>
    public static async Task<EchoResponse> EchoAsync(HttpResponseMessage response, ProxyProcess proxy)
    {
        var body = await StatusAsync(HttpStatusCode.OK, response, proxy);
        return EchoResponse.Parse(body);
    }

    public static string? Flags(HttpResponseMessage response) =>
        response.Headers.TryGetValues(ResponseFlagsHeader, out var values) ? string.Join(",", values) : null;

    public static string? UpstreamLabel(HttpResponseMessage response) =>
        response.Headers.TryGetValues(EchoUpstream.LabelHeader, out var values) ? string.Join(",", values) : null;

    public static string Truncate(string text, int max = 2000) => text.Length <= max ? text : text[..max] + "...";
}
