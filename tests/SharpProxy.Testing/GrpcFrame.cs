using System.Buffers.Binary;

namespace SharpProxy.Testing;

/// <summary>
/// gRPC length-prefixed message framing (the "Length-Prefixed-Message" of the gRPC HTTP/2 protocol):
/// 1 byte compressed flag, 4 bytes big-endian length, then the payload.
/// </summary>
public static class GrpcFrame
{
    public const int HeaderSize = 5;

    /// <summary>Refuse messages larger than this when reading (the gRPC default receive limit is 4 MiB).</summary>
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    public const string ContentType = "application/grpc";

    public static byte[] Encode(ReadOnlySpan<byte> payload, bool compressed = false)
    {
        var frame = new byte[HeaderSize + payload.Length];
        WriteHeader(frame, payload.Length, compressed);
        payload.CopyTo(frame.AsSpan(HeaderSize));
        return frame;
    }

    public static void WriteHeader(Span<byte> destination, int payloadLength, bool compressed = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        destination[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(1, 4), (uint)payloadLength);
    }

    /// <summary>Writes one framed message and flushes, so that the peer sees it now.</summary>
    public static async ValueTask WriteAsync(Stream stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var header = new byte[HeaderSize];
        WriteHeader(header, payload.Length);
        await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        if (!payload.IsEmpty)
        {
            await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        }

        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads one framed message. Returns null at a clean end of stream (before the first header byte);
    /// throws <see cref="InvalidDataException"/> when the stream ends inside a frame or a frame is too large or compressed.
    /// </summary>
    public static async ValueTask<byte[]?> ReadAsync(Stream stream, CancellationToken cancellationToken, int maxMessageSize = DefaultMaxMessageSize)
    {
        var header = new byte[HeaderSize];
        var read = await stream.ReadAtLeastAsync(header, HeaderSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            return null;
        }

        if (read < HeaderSize)
        {
            throw new InvalidDataException($"gRPC stream ended inside a frame header ({read} of {HeaderSize} bytes).");
        }

        if (header[0] != 0)
        {
            throw new InvalidDataException($"Compressed gRPC messages are not supported by the test helpers (flag {header[0]}).");
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1, 4));
        if (length > (uint)maxMessageSize)
        {
            throw new InvalidDataException($"gRPC message of {length} bytes exceeds the limit of {maxMessageSize}.");
        }

        var payload = new byte[length];
        if (length > 0)
        {
            read = await stream.ReadAtLeastAsync(payload, payload.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (read < payload.Length)
            {
                throw new InvalidDataException($"gRPC stream ended inside a message ({read} of {length} bytes).");
            }
        }

        return payload;
    }
}
