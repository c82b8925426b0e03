using System.Net;
using System.Net.Http.Headers;
using System.Threading.Channels;
using Google.Protobuf;

namespace SharpProxy.Xds.Grpc;

/// <summary>
/// One bidirectional-streaming gRPC call on HttpClient's HTTP/2 (prior knowledge, cleartext): requests are framed and
/// written as they are sent, responses are read as they arrive, and the final status comes from the trailers
/// (or a trailers-only reply). Written here because Grpc.Net.Client is not available.
/// </summary>
internal sealed class GrpcDuplexCall<TRequest, TResponse> : IAsyncDisposable
    where TRequest : IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _cancellation;
    private readonly MessageParser<TResponse> _parser;
    private HttpResponseMessage? _response;
    private Stream? _responseStream;

    private GrpcDuplexCall(MessageParser<TResponse> parser, CancellationToken cancellationToken)
    {
        _parser = parser;
        _cancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    /// <summary>Opens the call: sends the request headers and waits for the response headers.</summary>
    /// <exception cref="GrpcException">The server refused the call (non-200, not gRPC, or a trailers-only error).</exception>
    public static async Task<GrpcDuplexCall<TRequest, TResponse>> StartAsync(
        HttpMessageInvoker invoker,
        string scheme,
        string authority,
        string method,
        MessageParser<TResponse> parser,
        TRequest first,
        CancellationToken cancellationToken)
    {
        var call = new GrpcDuplexCall<TRequest, TResponse>(parser, cancellationToken);
        call.Send(first);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(scheme + "://" + authority + method, UriKind.Absolute))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new DuplexContent(call._outgoing.Reader),
        };
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("sharpproxy", "1.0"));
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        try
        {
            var response = await invoker.SendAsync(request, call._cancellation.Token).ConfigureAwait(false);
            call._response = response;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new GrpcException(GrpcStatusCode.Unavailable, $"HTTP {(int)response.StatusCode} from the server");
            }

            if (StatusFrom(response.Headers) is { } trailersOnly)
            {
                throw trailersOnly.Status == GrpcStatusCode.Ok
                    ? new GrpcException(GrpcStatusCode.Unavailable, "the server closed the stream at once")
                    : trailersOnly;
            }

            var contentType = response.Content.Headers.ContentType?.MediaType;
            if (contentType is null || !contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase))
            {
                throw new GrpcException(GrpcStatusCode.Unknown, $"not a gRPC response (content-type '{contentType}')");
            }

            call._responseStream = await response.Content.ReadAsStreamAsync(call._cancellation.Token).ConfigureAwait(false);
            return call;
        }
        catch (HttpRequestException ex)
        {
            await call.DisposeAsync().ConfigureAwait(false);
            throw new GrpcException(GrpcStatusCode.Unavailable, ex.Message);
        }
        catch
        {
            await call.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public void Send(TRequest message) => _outgoing.Writer.TryWrite(GrpcFraming.Encode(message));

    /// <summary>Ends the request side (END_STREAM); the response side stays open.</summary>
    public void CompleteRequests() => _outgoing.Writer.TryComplete();

    /// <summary>The next response message; at the end of the stream, throws the call's status unless it is OK (then null).</summary>
    public async Task<TResponse?> ReadAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _cancellation.Token);
        TResponse? message;
        try
        {
            message = await GrpcFraming.ReadAsync(_responseStream!, _parser, linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or HttpProtocolException)
        {
            throw new GrpcException(ResetStatus(ex), "stream broken: " + ex.Message);
        }

        if (message is not null)
        {
            return message;
        }

        var status = StatusFrom(_response!.TrailingHeaders)
            ?? new GrpcException(GrpcStatusCode.Internal, "the stream ended without grpc-status");
        if (status.Status != GrpcStatusCode.Ok)
        {
            throw status;
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        _outgoing.Writer.TryComplete();
        await _cancellation.CancelAsync().ConfigureAwait(false);
        _response?.Dispose();
        _cancellation.Dispose();
    }

    /// <summary>RST_STREAM codes mapped as gRPC does: REFUSED_STREAM is UNAVAILABLE, CANCEL is CANCELLED, the rest INTERNAL.</summary>
    private static GrpcStatusCode ResetStatus(Exception ex)
    {
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpProtocolException protocol)
            {
                return protocol.ErrorCode switch
                {
                    0x7 => GrpcStatusCode.Unavailable,
                    0x8 => GrpcStatusCode.Cancelled,
                    0xb => GrpcStatusCode.ResourceExhausted,
                    _ => GrpcStatusCode.Internal,
                };
            }
        }

        return GrpcStatusCode.Unavailable;
    }

    private static GrpcException? StatusFrom(HttpHeaders headers)
    {
        if (!headers.NonValidated.TryGetValues("grpc-status", out var statusValues))
        {
            return null;
        }

        var code = int.TryParse(statusValues.ToString(), out var parsed) ? (GrpcStatusCode)parsed : GrpcStatusCode.Unknown;
        var message = headers.NonValidated.TryGetValues("grpc-message", out var messageValues) ? DecodeMessage(messageValues.ToString()) : "";
        return new GrpcException(code, message);
    }

    /// <summary>grpc-message is percent-encoded UTF-8; a bad escape is kept as is, never an error.</summary>
    private static string DecodeMessage(string value)
    {
        try
        {
            return Uri.UnescapeDataString(value);
        }
        catch (UriFormatException)
        {
            return value;
        }
    }

    private sealed class DuplexContent(ChannelReader<byte[]> frames) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            while (await frames.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (frames.TryRead(out var frame))
                {
                    await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
                }

                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
