using System.Buffers.Binary;
using Google.Protobuf;

namespace SharpProxy.Xds.Grpc;

/// <summary>
/// gRPC's length-prefixed message framing over HTTP/2 DATA (grpc/grpc doc/PROTOCOL-HTTP2.md):
/// one flag byte (0 = not compressed), a 4-byte big-endian length, then the serialized message.
/// Frame boundaries are unrelated to message boundaries, so the reader reassembles from any split.
/// </summary>
internal static class GrpcFraming
{
    public const int PrefixLength = 5;

    /// <summary>Largest message accepted. A full CDS or LDS response in a big mesh runs to megabytes, so well above gRPC's 4 MiB default.</summary>
    public const int MaxMessageLength = 256 * 1024 * 1024;

    public static byte[] Encode(IMessage message)
    {
        var length = message.CalculateSize();
        var frame = new byte[PrefixLength + length];
        frame[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1, 4), (uint)length);
        message.WriteTo(frame.AsSpan(PrefixLength));
        return frame;
    }

    /// <summary>Reads one message; null at a clean end of stream (between messages).</summary>
    /// <exception cref="GrpcException">A truncated frame, a compressed message or one above the size limit.</exception>
    public static async Task<T?> ReadAsync<T>(Stream stream, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        var prefix = new byte[PrefixLength];
        var read = await ReadFullyAsync(stream, prefix, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            return null;
        }

        if (read < PrefixLength)
        {
            throw new GrpcException(GrpcStatusCode.Internal, "stream ended inside a message prefix");
        }

        if (prefix[0] != 0)
        {
            // We never offer grpc-accept-encoding, so a compressed message is a protocol violation.
            throw new GrpcException(GrpcStatusCode.Internal, "compressed message received but no compression was negotiated");
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(prefix.AsSpan(1));
        if (length > MaxMessageLength)
        {
            throw new GrpcException(GrpcStatusCode.ResourceExhausted, $"message of {length} bytes exceeds the {MaxMessageLength}-byte limit");
        }

        var payload = new byte[length];
        if (await ReadFullyAsync(stream, payload, cancellationToken).ConfigureAwait(false) < length)
        {
            throw new GrpcException(GrpcStatusCode.Internal, "stream ended inside a message");
        }

        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new GrpcException(GrpcStatusCode.Internal, "undecodable message: " + ex.Message);
        }
    }

    private static async Task<int> ReadFullyAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }
}

/// <summary>gRPC status codes used here (grpc/grpc doc/statuscodes.md).</summary>
internal enum GrpcStatusCode
{
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    ResourceExhausted = 8,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// <summary>A call that ended with a non-OK status, or a transport failure mapped to one.</summary>
internal sealed class GrpcException(GrpcStatusCode status, string message) : Exception(message)
{
    public GrpcStatusCode Status { get; } = status;

    public override string ToString() => $"{Status} ({(int)Status}): {Message}";
}
