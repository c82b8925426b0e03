using System.Buffers;
using System.Net;
using SharpProxy.Core.Telemetry;

namespace SharpProxy.Core.Upstream;

/// <summary>
/// The downstream request body of a request that may be retried. It is still streamed to the upstream as it arrives
/// (gRPC streams keep working), but every chunk is also kept in pooled segments so that a retry can send it again.
/// Past <see cref="Limit"/> bytes the copy is dropped and retries stop being possible — Envoy's rule for bodies larger
/// than the connection's buffer limit (1 MiB by default).
/// </summary>
internal sealed class ReplayableRequestBody(Stream source, TaskCompletionSource bodyCompleted, RequestLogState? log) : IDisposable
{
    /// <summary>Envoy's default per-connection buffer limit, which also bounds the body kept for retries.</summary>
    public const int Limit = 1024 * 1024;

    private const int SegmentSize = 16 * 1024;

    private readonly List<byte[]> _segments = [];
    private readonly SemaphoreSlim _sourceLock = new(1, 1);
    private readonly Lock _segmentsLock = new();
    private long _length;
    private bool _overflowed;
    private bool _complete;
    private bool _disposed;

    /// <summary>True while every byte read so far is still held, so a new attempt can resend the body.</summary>
    public bool CanReplay
    {
        get
        {
            lock (_segmentsLock)
            {
                return !_overflowed && !_disposed;
            }
        }
    }

    /// <summary>Content for one attempt: the bytes held so far, then the rest of the body as it arrives.</summary>
    public HttpContent CreateContent(long? contentLength) => new AttemptContent(this, contentLength);

    public void Dispose()
    {
        lock (_segmentsLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var segment in _segments)
            {
                ArrayPool<byte>.Shared.Return(segment);
            }

            _segments.Clear();
        }
    }

    /// <summary>Copies held bytes from <paramref name="position"/> into <paramref name="destination"/>; 0 when none are held there.</summary>
    private int CopyHeld(long position, Span<byte> destination, out bool complete)
    {
        lock (_segmentsLock)
        {
            complete = _complete;
            if (_overflowed || _disposed || position >= _length)
            {
                if (_overflowed && position < _length)
                {
                    throw new InvalidOperationException("the request body is no longer held, so it cannot be sent again");
                }

                return 0;
            }

            var segment = _segments[(int)(position / SegmentSize)];
            var offset = (int)(position % SegmentSize);
            var count = (int)Math.Min(Math.Min(SegmentSize - offset, _length - position), destination.Length);
            segment.AsSpan(offset, count).CopyTo(destination);
            return count;
        }
    }

    private void OnSourceFailed(Exception ex) => bodyCompleted.TrySetException(ex);

    private void Hold(ReadOnlySpan<byte> data)
    {
        lock (_segmentsLock)
        {
            if (_overflowed || _disposed)
            {
                _length += data.Length;
                return;
            }

            if (_length + data.Length > Limit)
            {
                _overflowed = true;
                foreach (var segment in _segments)
                {
                    ArrayPool<byte>.Shared.Return(segment);
                }

                _segments.Clear();
                _length += data.Length;
                return;
            }

            while (data.Length > 0)
            {
                var offset = (int)(_length % SegmentSize);
                if (offset == 0)
                {
                    _segments.Add(ArrayPool<byte>.Shared.Rent(SegmentSize));
                }

                var count = Math.Min(SegmentSize - offset, data.Length);
                data[..count].CopyTo(_segments[^1].AsSpan(offset, count));
                _length += count;
                data = data[count..];
            }
        }
    }

    /// <summary>
    /// Reads the next chunk of the downstream body into <paramref name="buffer"/>, holding a copy. Attempts are sequential,
    /// but a failed attempt's send may still be finishing when the next starts: the lock keeps their reads apart, and a chunk
    /// read by either lands in the held copy, where the other finds it.
    /// </summary>
    private async ValueTask<(int Read, long Position)> ReadSourceAsync(long position, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await _sourceLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_segmentsLock)
            {
                if (position < _length || _complete)
                {
                    // Another attempt read further meanwhile: the caller takes those bytes from the held copy.
                    return (0, position);
                }
            }

            int read;
            try
            {
                read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new DownstreamAbortedException(ex);
            }

            if (read == 0)
            {
                lock (_segmentsLock)
                {
                    _complete = true;
                }

                log?.RequestEndTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
                bodyCompleted.TrySetResult();
                return (0, position);
            }

            if (log is not null)
            {
                Interlocked.Add(ref log.BytesReceived, read);
            }

            Hold(buffer.Span[..read]);
            return (read, position + read);
        }
        finally
        {
            _sourceLock.Release();
        }
    }

    private sealed class AttemptContent : HttpContent
    {
        private const int BufferSize = 64 * 1024;
        private readonly ReplayableRequestBody _body;

        public AttemptContent(ReplayableRequestBody body, long? contentLength)
        {
            _body = body;
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
                long position = 0;
                while (true)
                {
                    var held = _body.CopyHeld(position, buffer.AsSpan(0, BufferSize), out var complete);
                    if (held > 0)
                    {
                        position += held;
                        await stream.WriteAsync(buffer.AsMemory(0, held), cancellationToken).ConfigureAwait(false);
                        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    if (complete)
                    {
                        break;
                    }

                    var (read, next) = await _body.ReadSourceAsync(position, buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        continue;
                    }

                    position = next;
                    await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                if (ex is DownstreamAbortedException)
                {
                    _body.OnSourceFailed(ex);
                }

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
}
