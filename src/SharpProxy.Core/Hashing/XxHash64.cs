using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace SharpProxy.Core.Hashing;

/// <summary>
/// XXH64 exactly as Envoy's <c>HashUtil::xxHash64</c> (source/common/common/hash.h): plain one-shot
/// <c>XXH64(data, len, seed)</c> with seed 0 by default. Every value the proxy feeds to a consistent-hash
/// load balancer (header, cookie, source IP, query parameter, ring replica keys, Maglev offsets) goes
/// through this, so it must agree with Envoy bit for bit or sessions stick to different hosts than an
/// Envoy fleet would choose.
/// </summary>
/// <remarks>
/// Written out rather than taken from System.IO.Hashing so that Core stays free of extra packages and
/// the hot path is a single inlinable loop with no state object.
/// </remarks>
internal static class XxHash64
{
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime3 = 0x165667B19E3779F9UL;
    private const ulong Prime4 = 0x85EBCA77C2B2AE63UL;
    private const ulong Prime5 = 0x27D4EB2F165667C5UL;

    // Strings up to this many UTF-16 chars are encoded on the stack (3 bytes per char worst case keeps
    // the buffer under 1 KiB); longer ones rent from the shared pool so nothing is allocated either way.
    private const int StackallocCharLimit = 256;

    /// <summary>XXH64 of <paramref name="data"/> (Envoy <c>HashUtil::xxHash64(string_view, seed)</c>).</summary>
    public static ulong Hash(ReadOnlySpan<byte> data, ulong seed = 0)
    {
        // Reads go through a ref plus offsets checked by the loop conditions, so the JIT emits no per-read
        // bounds checks on the per-request hashing path.
        ref byte start = ref MemoryMarshal.GetReference(data);
        int length = data.Length;
        int offset = 0;
        ulong h;

        if (length >= 32)
        {
            ulong v1 = seed + Prime1 + Prime2;
            ulong v2 = seed + Prime2;
            ulong v3 = seed;
            ulong v4 = seed - Prime1;
            int limit = length - 32;
            do
            {
                v1 = Round(v1, Read64(ref start, offset));
                v2 = Round(v2, Read64(ref start, offset + 8));
                v3 = Round(v3, Read64(ref start, offset + 16));
                v4 = Round(v4, Read64(ref start, offset + 24));
                offset += 32;
            }
            while (offset <= limit);

            h = BitOperations.RotateLeft(v1, 1) + BitOperations.RotateLeft(v2, 7)
                + BitOperations.RotateLeft(v3, 12) + BitOperations.RotateLeft(v4, 18);
            h = MergeRound(h, v1);
            h = MergeRound(h, v2);
            h = MergeRound(h, v3);
            h = MergeRound(h, v4);
        }
        else
        {
            h = seed + Prime5;
        }

        h += (ulong)length;

        // Tail: 8-byte words, then one 4-byte word, then single bytes (XXH64_finalize).
        while (length - offset >= 8)
        {
            h ^= Round(0, Read64(ref start, offset));
            h = (BitOperations.RotateLeft(h, 27) * Prime1) + Prime4;
            offset += 8;
        }

        if (length - offset >= 4)
        {
            h ^= Read32(ref start, offset) * Prime1;
            h = (BitOperations.RotateLeft(h, 23) * Prime2) + Prime3;
            offset += 4;
        }

        while (offset < length)
        {
            h ^= Unsafe.Add(ref start, offset) * Prime5;
            h = BitOperations.RotateLeft(h, 11) * Prime1;
            offset++;
        }

        return Avalanche(h);
    }

    /// <summary>
    /// XXH64 of the UTF-8 encoding of <paramref name="text"/>. Envoy hashes the raw bytes of header values,
    /// cookie values and host keys; for the ASCII text those almost always are, UTF-8 gives the same bytes.
    /// Lone surrogates (never produced from wire bytes) are encoded as U+FFFD.
    /// </summary>
    [SkipLocalsInit] // the encoder overwrites what we read; zeroing the stack buffer is wasted work
    public static ulong HashUtf8(ReadOnlySpan<char> text, ulong seed = 0)
    {
        if (text.Length <= StackallocCharLimit)
        {
            Span<byte> buffer = stackalloc byte[text.Length * 3];
            int written = Encoding.UTF8.GetBytes(text, buffer);
            return Hash(buffer.Slice(0, written), seed);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            int written = Encoding.UTF8.GetBytes(text, rented);
            return Hash(rented.AsSpan(0, written), seed);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Envoy's list hash <c>HashUtil::xxHash64(absl::Span&lt;absl::string_view&gt;, seed)</c> (hash.cc): each
    /// element is hashed with the previous result as its seed. It is NOT the hash of the concatenation
    /// (xxh64("foobar") differs from HashList(["foo","bar"])). A single element gives <c>xxh64(s, seed)</c>;
    /// an empty list returns <paramref name="seed"/> unchanged. The header hash policy sorts the values
    /// before calling this, which is the caller's job.
    /// </summary>
    public static ulong HashList(ReadOnlySpan<string> values, ulong seed = 0)
    {
        ulong h = seed;
        foreach (string value in values)
        {
            h = HashUtf8(value, h);
        }

        return h;
    }

    /// <summary>
    /// Writes <paramref name="value"/> as 16 lowercase hex digits, most significant first, zero padded:
    /// Envoy's <c>Hex::uint64ToHex</c> (hex.cc), which formats the generated hash-policy cookie value
    /// <c>uint64ToHex(xxh64(remote + local))</c>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 16 chars.</exception>
    public static void FormatHex(ulong value, Span<char> destination)
    {
        if (destination.Length < 16)
        {
            ThrowDestinationTooShort(nameof(destination));
        }

        for (int i = 15; i >= 0; i--)
        {
            destination[i] = "0123456789abcdef"[(int)(value & 0xF)];
            value >>= 4;
        }
    }

    /// <summary>String form of <see cref="FormatHex"/>; used once per generated cookie, off the pick path.</summary>
    public static string ToHex(ulong value) =>
        string.Create(16, value, static (span, v) => FormatHex(v, span));

    // XXH64 is defined on little-endian words; swap on the (unsupported today) big-endian platforms.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Read64(ref byte start, int offset)
    {
        ulong value = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, offset));
        return BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Read32(ref byte start, int offset)
    {
        uint value = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset));
        return BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Round(ulong accumulator, ulong input)
    {
        accumulator += input * Prime2;
        accumulator = BitOperations.RotateLeft(accumulator, 31);
        return accumulator * Prime1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MergeRound(ulong accumulator, ulong value)
    {
        accumulator ^= Round(0, value);
        return (accumulator * Prime1) + Prime4;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Avalanche(ulong h)
    {
        h ^= h >> 33;
        h *= Prime2;
        h ^= h >> 29;
        h *= Prime3;
        h ^= h >> 32;
        return h;
    }

    private static void ThrowDestinationTooShort(string paramName) =>
        throw new ArgumentException("Destination must hold at least 16 characters.", paramName);
}
