using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpProxy.Testing;

/// <summary>The JSON an <see cref="EchoUpstream"/> answers with: what the upstream saw of the request.</summary>
public sealed class EchoResponse
{
    private static readonly JsonSerializerOptions Options = new() { PropertyNameCaseInsensitive = false };

    [JsonPropertyName("label")]
    public string Label { get; init; } = string.Empty;

    [JsonPropertyName("method")]
    public string Method { get; init; } = string.Empty;

    /// <summary>The raw request target as received (path and query).</summary>
    [JsonPropertyName("path")]
    public string Path { get; init; } = string.Empty;

    /// <summary>The query string without the leading '?'.</summary>
    [JsonPropertyName("query")]
    public string Query { get; init; } = string.Empty;

    /// <summary>"HTTP/1.1" or "HTTP/2": the protocol between the proxy and the upstream.</summary>
    [JsonPropertyName("protocol")]
    public string Protocol { get; init; } = string.Empty;

    [JsonPropertyName("connectionId")]
    public string ConnectionId { get; init; } = string.Empty;

    /// <summary>Request headers, names lower-cased.</summary>
    [JsonPropertyName("headers")]
    public Dictionary<string, string[]> Headers { get; init; } = new(StringComparer.Ordinal);

    [JsonPropertyName("bodyLength")]
    public long BodyLength { get; init; }

    [JsonPropertyName("bodySha256")]
    public string BodySha256 { get; init; } = string.Empty;

    /// <summary>All values of a header joined with ", ", or null when absent.</summary>
    public string? Header(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Headers.TryGetValue(name.ToLowerInvariant(), out var values) ? string.Join(", ", values) : null;
    }

    public bool HasHeader(string name) => Header(name) is not null;

    public static EchoResponse Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<EchoResponse>(json, Options)
                ?? throw new InvalidDataException("The echo JSON was null.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"Not an echo response: {Truncate(json)}", ex);
        }
    }

    /// <summary>Reads and parses the body; the message names status and body when it is not an echo response.</summary>
    public static async Task<EchoResponse> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return Parse(body);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"HTTP {(int)response.StatusCode}: {ex.Message}", ex);
        }
    }

    private static string Truncate(string text) => text.Length <= 500 ? text : text[..500] + "...";
}
