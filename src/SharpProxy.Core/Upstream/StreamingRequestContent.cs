using System.Buffers;
using System.Net;

namespace SharpProxy.Core.Upstream;

/// <summary>
/// Streams the downstream request body to the upstream as it arrives (never buffering the whole body),
/// flushing each chunk so bidirectional gRPC streams make progress. Signals when the body has been sent,
/// which is when Envoy's route timeout starts.
/// </summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private const int BufferSize = 64 * 1024;
    private readonly Stream source;
    private readonly TaskCompletionSource bodyCompleted;
    private readonly Telemetry.RequestLogState? log;

    public StreamingRequestContent(Stream source, TaskCompletionSource bodyCompleted, Telemetry.RequestLogState? log, long? contentLength)
    {
        this.source = source;
        this.bodyCompleted = bodyCompleted;
        this.log = log;
        if (contentLength is { } length)
        {
            Headers.ContentLength = length;
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                int read;
                try
                {
                    read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    throw new DownstreamAbortedException(ex);
                }

                if (read == 0)
                {
                    break;
                }

                if (log is not null)
                {
                    Interlocked.Add(ref log.BytesReceived, read);
                }

                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            log?.RequestEndTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            bodyCompleted.TrySetResult();
        }
        catch (Exception ex)
        {
            bodyCompleted.TrySetException(ex);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}

/// <summary>The downstream client went away while its request body was being read.</summary>
internal sealed class DownstreamAbortedException(Exception inner) : IOException("downstream request body read failed", inner);
