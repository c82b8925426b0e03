using System.Net;
using System.Security.Cryptography;

namespace SharpProxy.Testing;

/// <summary>
/// Request content of <see cref="TestPattern"/> bytes generated while sending (64 KiB at a time, never held whole),
/// with or without a Content-Length. The SHA-256 of what was sent is available after sending.
/// </summary>
public sealed class PatternContent(long length, bool sendContentLength = true) : HttpContent
{
    private string? _sha256;

    public long Length { get; } = length;

    /// <summary>Lower-case hex SHA-256 of the bytes sent; null until the content was sent once.</summary>
    public string? Sha256Hex => _sha256;

    /// <summary>SHA-256 of the first <paramref name="length"/> pattern bytes, computed without sending.</summary>
    public static string ComputeSha256Hex(long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[EchoUpstream.ChunkSize];
        for (long offset = 0; offset < length;)
        {
            var count = (int)Math.Min(buffer.Length, length - offset);
            TestPattern.Fill(buffer.AsSpan(0, count), offset);
            hash.AppendData(buffer, 0, count);
            offset += count;
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[EchoUpstream.ChunkSize];
        for (long offset = 0; offset < Length;)
        {
            var count = (int)Math.Min(buffer.Length, Length - offset);
            TestPattern.Fill(buffer.AsSpan(0, count), offset);
            hash.AppendData(buffer, 0, count);
            await stream.WriteAsync(buffer.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
            offset += count;
        }

        _sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    protected override bool TryComputeLength(out long length)
    {
        length = Length;
        return sendContentLength;
    }
}

/// <summary>Reads a response body of <see cref="TestPattern"/> bytes streaming and checks every byte.</summary>
public static class PatternReader
{
    /// <summary>Returns the number of bytes read; throws <see cref="InvalidDataException"/> at the first wrong byte.</summary>
    public static async Task<long> ReadAndVerifyAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = new byte[EchoUpstream.ChunkSize];
        long total = 0;
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return total;
            }

            var mismatch = TestPattern.FindMismatch(buffer.AsSpan(0, read), total);
            if (mismatch >= 0)
            {
                throw new InvalidDataException($"Body byte at offset {total + mismatch} is {buffer[mismatch]}, expected {TestPattern.At(total + mismatch)}.");
            }

            total += read;
        }
    }
}
