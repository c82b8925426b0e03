using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace SharpProxy.Core.Hashing;

/// <summary>
/// 64-bit MurmurHash2 as Envoy's <c>MurmurHash::murmurHash2</c> (source/common/common/hash.cc), which is
/// libstdc++'s <c>_Hash_bytes</c>, i.e. <c>std::hash&lt;std::string&gt;</c> on 64-bit Linux. Envoy only uses it
/// for the ring hash <c>MURMUR_HASH_2</c> option, which exists so rings stay compatible with the very first
/// ring hash LB (hashed with std::hash). Request hashes never use it.
/// </summary>
internal static class MurmurHash2
{
    /// <summary>Envoy's <c>MurmurHash::STD_HASH_SEED</c>, the seed libstdc++ passes for std::hash.</summary>
    public const ulong StdHashSeed = 0xc70f6907UL;

    private const ulong Mul = 0xc6a4a7935bd1e995UL;
    private const int StackallocCharLimit = 256;

    /// <summary>MurmurHash2-64 of <paramref name="data"/> with <paramref name="seed"/> (default <see cref="StdHashSeed"/>).</summary>
    public static ulong Hash(ReadOnlySpan<byte> data, ulong seed = StdHashSeed)
    {
        // Reads through a ref with loop-checked offsets: no per-read bounds checks on the replica-key path.
        ref byte start = ref MemoryMarshal.GetReference(data);
        int length = data.Length;
        int aligned = length & ~7;
        ulong h = seed ^ ((ulong)length * Mul);

        for (int offset = 0; offset < aligned; offset += 8)
        {
            // Envoy reads words little-endian regardless of host order (newer versions byte-swap on
            // big-endian), so the result is platform independent; ReadUInt64LittleEndian does the same.
            ulong raw = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, offset));
            if (!BitConverter.IsLittleEndian)
            {
                raw = BinaryPrimitives.ReverseEndianness(raw);
            }

            ulong word = ShiftMix(raw * Mul) * Mul;
            h ^= word;
            h *= Mul;
        }

        int tail = length & 7;
        if (tail != 0)
        {
            // libstdc++ load_bytes: the tail bytes as a little-endian integer.
            ulong word = 0;
            for (int i = tail - 1; i >= 0; i--)
            {
                word = (word << 8) | Unsafe.Add(ref start, aligned + i);
            }

            h ^= word;
            h *= Mul;
        }

        h = ShiftMix(h) * Mul;
        return ShiftMix(h);
    }

    /// <summary>MurmurHash2-64 of the UTF-8 encoding of <paramref name="text"/>, without allocating.</summary>
    [SkipLocalsInit] // the encoder overwrites what we read; zeroing the stack buffer is wasted work
    public static ulong HashUtf8(ReadOnlySpan<char> text, ulong seed = StdHashSeed)
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ShiftMix(ulong v) => v ^ (v >> 47);
}
