using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace SharpProxy.Testing;

/// <summary>The outcome of one gRPC call made by <see cref="GrpcTestClient"/>.</summary>
public sealed record GrpcCallResult(
    HttpStatusCode HttpStatus,
    Version HttpVersion,
    string? ContentType,
    IReadOnlyList<byte[]> Messages,
    int? GrpcStatus,
    string? GrpcMessage,
    bool StatusInTrailers,
    IReadOnlyDictionary<string, string> Trailers)
{
    public override string ToString() =>
        $"HTTP {(int)HttpStatus} {HttpVersion} {ContentType}, {Messages.Count} message(s), grpc-status {GrpcStatus?.ToString(CultureInfo.InvariantCulture) ?? "(none)"}" +
        $" ({(StatusInTrailers ? "trailers" : "headers")}) grpc-message '{GrpcMessage}'";
}

/// <summary>
/// Calls the <see cref="EchoUpstream"/> gRPC methods through any base address (the upstream itself or the proxy) with a
/// real <see cref="HttpClient"/> over HTTP/2 prior knowledge. Framing is done by hand (<see cref="GrpcFrame"/>);
/// grpc-status and grpc-message come from the trailers, or from the headers of a trailers-only response.
/// </summary>
public sealed class GrpcTestClient : IDisposable
{
    private readonly HttpClient _client;

    public GrpcTestClient(Uri baseAddress, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        _client = TestHttp.H2c(baseAddress, timeout);
    }

    public HttpClient HttpClient => _client;

    /// <summary>
    /// Bidirectional streaming in lock step: writes a message, waits for its echo, then the next; completes the request
    /// stream and reads to the end. A proxy that buffers either direction makes this time out rather than pass.
    /// </summary>
    public async Task<GrpcCallResult> BidiEchoAsync(IReadOnlyList<byte[]> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        using var content = new DuplexStreamContent();
        using var request = CreateRequest(EchoUpstream.BidiEchoPath, content);
        using var registration = cancellationToken.Register(() => content.Abort(cancellationToken));

        var responseTask = _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        var requestStream = await WaitEitherAsync(content.GetStreamAsync(), responseTask, cancellationToken).ConfigureAwait(false);

        HttpResponseMessage? response = null;
        var received = new List<byte[]>(messages.Count);
        try
        {
            Stream? responseStream = null;
            foreach (var message in messages)
            {
                if (requestStream is null)
                {
                    break; // the response finished before the request stream was even opened (an error reply)
                }

                await GrpcFrame.WriteAsync(requestStream, message, cancellationToken).ConfigureAwait(false);
                if (response is null)
                {
                    response = await responseTask.ConfigureAwait(false);
                    if (response.StatusCode != HttpStatusCode.OK || !IsGrpc(response))
                    {
                        break;
                    }

                    responseStream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                }

                var echo = await GrpcFrame.ReadAsync(responseStream!, cancellationToken).ConfigureAwait(false);
                if (echo is null)
                {
                    break; // the server ended the stream early; the status says why
                }

                received.Add(echo);
            }

            content.Complete();
            response ??= await responseTask.ConfigureAwait(false);
            return await FinishAsync(response, received, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            content.Complete();
            response?.Dispose();
        }
    }

    /// <summary>Server streaming: one request message, then reads every response message to the end.</summary>
    public Task<GrpcCallResult> ServerStreamAsync(byte[] message, int count, CancellationToken cancellationToken) =>
        UnaryAsync(EchoUpstream.ServerStreamPath, message, cancellationToken, (EchoUpstream.ServerStreamCountHeader, count.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Calls the method that always fails with status 13 and a message (a trailers-only response).</summary>
    public Task<GrpcCallResult> FailAsync(CancellationToken cancellationToken) =>
        UnaryAsync(EchoUpstream.FailPath, [1, 2, 3], cancellationToken);

    /// <summary>Sends exactly one message with the request and reads every response message and the status.</summary>
    public async Task<GrpcCallResult> UnaryAsync(string path, byte[] message, CancellationToken cancellationToken, params (string Name, string Value)[] metadata)
    {
        ArgumentNullException.ThrowIfNull(message);
        using var content = new ByteArrayContent(GrpcFrame.Encode(message));
        content.Headers.ContentType = new MediaTypeHeaderValue(GrpcFrame.ContentType);
        using var request = CreateRequest(path, content);
        foreach (var (name, value) in metadata)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        return await FinishAsync(response, [], cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _client.Dispose();

    private static HttpRequestMessage CreateRequest(string path, HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }

    private static bool IsGrpc(HttpResponseMessage response) =>
        response.Content.Headers.ContentType?.MediaType?.StartsWith(GrpcFrame.ContentType, StringComparison.OrdinalIgnoreCase) == true;

    private static async Task<GrpcCallResult> FinishAsync(HttpResponseMessage response, List<byte[]> received, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.OK && IsGrpc(response))
        {
            for (var i = 0; i < 100_000; i++)
            {
                var message = await GrpcFrame.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
                if (message is null)
                {
                    break;
                }

                received.Add(message);
            }
        }
        else
        {
            // Not gRPC (for instance a proxy's local reply): read the body to reach the end of the stream.
            await stream.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        }

        var trailers = response.TrailingHeaders.ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(", ", h.Value), StringComparer.Ordinal);
        var (status, statusInTrailers) = ReadStatus(response);
        var message0 = Header(response.TrailingHeaders, "grpc-message") ?? Header(response.Headers, "grpc-message");
        return new GrpcCallResult(
            response.StatusCode,
            response.Version,
            response.Content.Headers.ContentType?.ToString(),
            received,
            status,
            message0 is null ? null : Uri.UnescapeDataString(message0),
            statusInTrailers,
            trailers);
    }

    private static (int? Status, bool InTrailers) ReadStatus(HttpResponseMessage response)
    {
        if (Header(response.TrailingHeaders, "grpc-status") is { } fromTrailers)
        {
            return (int.Parse(fromTrailers, NumberStyles.None, CultureInfo.InvariantCulture), true);
        }

        if (Header(response.Headers, "grpc-status") is { } fromHeaders)
        {
            return (int.Parse(fromHeaders, NumberStyles.None, CultureInfo.InvariantCulture), false);
        }

        return (null, false);
    }

    private static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? string.Join(", ", values) : null;

    private static async Task<Stream?> WaitEitherAsync(Task<Stream> streamTask, Task<HttpResponseMessage> responseTask, CancellationToken cancellationToken)
    {
        var first = await Task.WhenAny(streamTask, responseTask).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (first == streamTask)
        {
            return await streamTask.ConfigureAwait(false);
        }

        // The response (or a failure) arrived before HttpClient asked for the request body.
        await responseTask.ConfigureAwait(false);
        return streamTask.IsCompletedSuccessfully ? streamTask.Result : null;
    }

    /// <summary>Request content that hands its stream to the caller and stays open until <see cref="Complete"/>.</summary>
    private sealed class DuplexStreamContent : HttpContent
    {
        private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public DuplexStreamContent() => Headers.ContentType = new MediaTypeHeaderValue(GrpcFrame.ContentType);

        public Task<Stream> GetStreamAsync() => _stream.Task;

        public void Complete() => _completed.TrySetResult();

        public void Abort(CancellationToken cancellationToken)
        {
            _stream.TrySetCanceled(cancellationToken);
            _completed.TrySetCanceled(cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            _stream.TrySetResult(stream);
            return _completed.Task;
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            SerializeToStreamAsync(stream, context);

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
