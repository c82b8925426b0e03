using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpProxy.Core.Http2;

/// <summary>
/// The static Huffman code of HPACK (RFC 7541 section 5.2, Appendix B): decoding only, because our encoder
/// always sends raw strings. Decoding walks a nibble-driven state machine: states are the 256 internal
/// nodes of the code tree, and one table lookup consumes 4 input bits. The shortest code is 5 bits, so
/// a nibble completes at most one symbol. The tables are derived once from <see cref="Codes"/>.
/// </summary>
internal static class Huffman
{
    // Appendix B, symbol 0..255 then EOS (256): the code right-aligned, and its length in bits.
    private static readonly uint[] Codes =
    [
        0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
        0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
        0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
        0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
        0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,       // ' ' ! " # $ % & '
        0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,          // ( ) * + , - . /
        0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,                // 0..7
        0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,         // 8 9 : ; < = > ?
        0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,           // @ A..G
        0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,             // H..O
        0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,             // P..W
        0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,    // X Y Z [ \ ] ^ _
        0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,              // ` a..g
        0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,               // h..o
        0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,               // p..w
        0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, // x y z { | } ~ DEL
        0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
        0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
        0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
        0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
        0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
        0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
        0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
        0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
        0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
        0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
        0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
        0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
        0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
        0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
        0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
        0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
        0x3fffffff, // EOS
    ];

    private static readonly byte[] CodeLengths =
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
        30, // EOS
    ];

    internal const int EosSymbol = 256;
    internal const int SymbolCount = 257;

    // Transition entry layout: bits 0..7 next state, bits 8..15 emitted symbol, then the flags.
    private const uint EmitFlag = 1u << 16;
    private const uint FailFlag = 1u << 17;
    private const int StateCount = 256; // a full binary tree with 257 leaves has 256 internal nodes

    // Transitions[state * 16 + nibble].
    private static readonly uint[] Transitions = new uint[StateCount * 16];
    // A block may end in a state only if the bits since the last symbol are all ones and at most 7 (section 5.2).
    private static readonly bool[] AcceptingEnd = new bool[StateCount];

    static Huffman()
    {
        // Build the code tree: Children[node * 2 + bit] >= 0 is an internal node, < 0 is leaf ~symbol.
        var children = new int[StateCount * 2];
        Array.Fill(children, int.MinValue);
        var depth = new int[StateCount];
        var allOnes = new bool[StateCount];
        allOnes[0] = true;
        int nodeCount = 1;
        for (int symbol = 0; symbol < SymbolCount; symbol++)
        {
            uint code = Codes[symbol];
            int length = CodeLengths[symbol];
            int node = 0;
            for (int bitIndex = length - 1; bitIndex >= 0; bitIndex--)
            {
                int bit = (int)((code >> bitIndex) & 1);
                int slot = node * 2 + bit;
                if (bitIndex == 0)
                {
                    if (children[slot] != int.MinValue)
                        throw new InvalidOperationException("HPACK Huffman table is not a prefix code.");
                    children[slot] = ~symbol;
                    break;
                }
                if (children[slot] == int.MinValue)
                {
                    if (nodeCount == StateCount)
                        throw new InvalidOperationException("HPACK Huffman table has too many internal nodes.");
                    children[slot] = nodeCount;
                    depth[nodeCount] = depth[node] + 1;
                    allOnes[nodeCount] = allOnes[node] && bit == 1;
                    nodeCount++;
                }
                else if (children[slot] < 0)
                {
                    throw new InvalidOperationException("HPACK Huffman table is not a prefix code.");
                }
                node = children[slot];
            }
        }
        if (nodeCount != StateCount || Array.IndexOf(children, int.MinValue) >= 0)
            throw new InvalidOperationException("HPACK Huffman table is not a complete prefix code.");

        for (int state = 0; state < StateCount; state++)
        {
            AcceptingEnd[state] = allOnes[state] && depth[state] <= 7;
            for (int nibble = 0; nibble < 16; nibble++)
            {
                int node = state;
                uint entry = 0;
                for (int bitIndex = 3; bitIndex >= 0; bitIndex--)
                {
                    int next = children[node * 2 + ((nibble >> bitIndex) & 1)];
                    if (next >= 0)
                    {
                        node = next;
                        continue;
                    }
                    int symbol = ~next;
                    if (symbol == EosSymbol)
                    {
                        entry |= FailFlag;
                        break;
                    }
                    entry |= EmitFlag | ((uint)symbol << 8);
                    node = 0;
                }
                Transitions[state * 16 + nibble] = entry | (uint)node;
            }
        }
    }

    /// <summary>Decodes <paramref name="src"/> into <paramref name="dst"/>; bytes written, or -1 on invalid input or a too small <paramref name="dst"/>.</summary>
    public static int Decode(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int written = DecodeCore(src, dst);
        return written < 0 ? -1 : written;
    }

    /// <summary>The most bytes <paramref name="encodedLength"/> Huffman-coded bytes can decode to (5 bits per symbol at best).</summary>
    public static int GetMaxDecodedLength(int encodedLength) => (int)Math.Min(int.MaxValue, (long)encodedLength * 8 / 5);

    internal const int InvalidInput = -1;
    internal const int DestinationTooSmall = -2;

    /// <summary>As <see cref="Decode"/>, but tells a too small destination (<see cref="DestinationTooSmall"/>) from bad input (<see cref="InvalidInput"/>).</summary>
    internal static int DecodeCore(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        // Table indices are (state << 4) | nibble with state <= 255, always inside the 4096 entries.
        ref uint transitions = ref MemoryMarshal.GetArrayDataReference(Transitions);
        ref byte output = ref MemoryMarshal.GetReference(dst);
        int state = 0;
        int written = 0;
        uint flags = 0;
        int i = 0;

        // Fast loop, while a whole input byte's output (at most 2 symbols) fits: branch-free, every symbol byte is
        // stored and the write position advances only when the entry emits. An EOS is noted in flags and
        // checked once at the end (the bytes decoded after it are thrown away with the error).
        int fastLimit = dst.Length - 2;
        for (; i < src.Length && written <= fastLimit; i++)
        {
            int value = src[i];
            uint high = Unsafe.Add(ref transitions, (state << 4) | (value >> 4));
            Unsafe.Add(ref output, written) = (byte)(high >> 8);
            written += (int)((high >> 16) & 1);
            uint low = Unsafe.Add(ref transitions, (int)((high & 0xff) << 4) | (value & 0xf));
            Unsafe.Add(ref output, written) = (byte)(low >> 8);
            written += (int)((low >> 16) & 1);
            state = (int)(low & 0xff);
            flags |= high | low;
        }
        if ((flags & FailFlag) != 0)
            return InvalidInput;

        // Tail, when the destination is nearly full: checked writes.
        for (; i < src.Length; i++)
        {
            int value = src[i];
            uint high = Unsafe.Add(ref transitions, (state << 4) | (value >> 4));
            if ((high & (EmitFlag | FailFlag)) != 0)
            {
                if ((high & FailFlag) != 0)
                    return InvalidInput;
                if ((uint)written >= (uint)dst.Length)
                    return DestinationTooSmall;
                dst[written++] = (byte)(high >> 8);
            }
            uint low = Unsafe.Add(ref transitions, (int)((high & 0xff) << 4) | (value & 0xf));
            if ((low & (EmitFlag | FailFlag)) != 0)
            {
                if ((low & FailFlag) != 0)
                    return InvalidInput;
                if ((uint)written >= (uint)dst.Length)
                    return DestinationTooSmall;
                dst[written++] = (byte)(low >> 8);
            }
            state = (int)(low & 0xff);
        }
        return AcceptingEnd[state] ? written : InvalidInput;
    }

    // For tests: the code table as transcribed.
    internal static uint CodeOf(int symbol) => Codes[symbol];
    internal static int CodeLengthOf(int symbol) => CodeLengths[symbol];
}
