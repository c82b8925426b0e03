using System.Numerics;
using System.Text;
using SharpProxy.Core.Http2;
using static SharpProxy.Core.Tests.Http2.HpackTestSupport;

namespace SharpProxy.Core.Tests.Http2;

public sealed class HuffmanTests
{
    [Fact]
    public void CodeTable_IsCompletePrefixCode_KraftSumExactlyOne()
    {
        // Sum of 2^(30 - length) over 257 codes must be exactly 2^30: no gaps, no overlaps.
        BigInteger sum = 0;
        for (int symbol = 0; symbol <= Huffman.EosSymbol; symbol++)
        {
            int length = Huffman.CodeLengthOf(symbol);
            Assert.InRange(length, 5, 30);
            Assert.True(Huffman.CodeOf(symbol) < (1u << length), $"symbol {symbol}: code wider than its length");
            sum += BigInteger.One << (30 - length);
        }
        Assert.Equal(BigInteger.One << 30, sum);
    }

    [Fact]
    public void CodeTable_IsCanonical_CodesFollowFromLengthsInSymbolOrder()
    {
        // Appendix B's code is canonical: ordered by (length, symbol), each code is the previous plus one,
        // shifted left by the length difference. A mistyped code or length breaks this chain.
        var order = Enumerable.Range(0, Huffman.SymbolCount)
            .OrderBy(Huffman.CodeLengthOf).ThenBy(s => s).ToArray();
        uint expected = 0;
        int previousLength = Huffman.CodeLengthOf(order[0]);
        foreach (int symbol in order)
        {
            int length = Huffman.CodeLengthOf(symbol);
            expected <<= length - previousLength;
            previousLength = length;
            Assert.True(expected == Huffman.CodeOf(symbol), $"symbol {symbol}: code 0x{Huffman.CodeOf(symbol):x} expected 0x{expected:x}");
            expected++;
        }
        Assert.Equal(0x3fffffffu, Huffman.CodeOf(Huffman.EosSymbol));
        Assert.Equal(30, Huffman.CodeLengthOf(Huffman.EosSymbol));
    }

    [Theory]
    [InlineData("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com")]          // C.4.1
    [InlineData("a8eb 1064 9cbf", "no-cache")]                                // C.4.2
    [InlineData("25a8 49e9 5ba9 7d7f", "custom-key")]                         // C.4.3
    [InlineData("25a8 49e9 5bb8 e8b4 bf", "custom-value")]                    // C.4.3
    [InlineData("6402", "302")]                                               // C.6.1
    [InlineData("aec3 771a 4b", "private")]                                   // C.6.1
    [InlineData("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff", "Mon, 21 Oct 2013 20:13:21 GMT")]
    [InlineData("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com")]
    [InlineData("9bd9 ab", "gzip")]                                           // C.6.3
    [InlineData("94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")]        // C.6.3
    public void Decode_AppendixVectors(string hex, string expected)
    {
        byte[] encoded = Hex(hex);
        var output = new byte[Huffman.GetMaxDecodedLength(encoded.Length)];
        int written = Huffman.Decode(encoded, output);
        Assert.Equal(expected, Encoding.ASCII.GetString(output, 0, written));
        Assert.Equal(encoded, HuffmanEncode(Encoding.ASCII.GetBytes(expected)));
    }

    [Fact]
    public void Decode_EveryByteValue_RoundTrips()
    {
        var random = new Random(7541);
        for (int round = 0; round < 200; round++)
        {
            var input = new byte[random.Next(0, 64)];
            random.NextBytes(input);
            if (round == 0)
                input = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
            byte[] encoded = HuffmanEncode(input);
            var output = new byte[Huffman.GetMaxDecodedLength(encoded.Length)];
            int written = Huffman.Decode(encoded, output);
            Assert.Equal(input, output.AsSpan(0, written).ToArray());

            // Exactly sized and one byte short: the checked tail of the decoder takes over near the end.
            var exact = new byte[input.Length];
            Assert.Equal(input.Length, Huffman.Decode(encoded, exact));
            Assert.Equal(input, exact);
            if (input.Length > 0)
                Assert.Equal(Huffman.DestinationTooSmall, Huffman.DecodeCore(encoded, new byte[input.Length - 1]));
        }
    }

    [Fact]
    public void Decode_EmptyInput_IsEmptyString()
    {
        Assert.Equal(0, Huffman.Decode([], []));
    }

    [Fact]
    public void Decode_EosInsideString_Fails()
    {
        // EOS (30 ones) followed by 2 padding ones: a full EOS symbol is an error (5.2).
        Assert.Equal(-1, Huffman.Decode([0xff, 0xff, 0xff, 0xff], new byte[16]));
        // 'a' (00011) then EOS then padding.
        byte[] withEos = [0x1f, 0xff, 0xff, 0xff, 0xff];
        Assert.Equal(-1, Huffman.Decode(withEos, new byte[16]));
        // Same through the checked tail (no room for the fast loop).
        Assert.Equal(Huffman.InvalidInput, Huffman.DecodeCore([0xff, 0xff, 0xff, 0xff], []));
        Assert.Equal(Huffman.InvalidInput, Huffman.DecodeCore(withEos, new byte[1]));
    }

    [Fact]
    public void Decode_PaddingLongerThanSevenBits_Fails()
    {
        // '0' is 00000 (5 bits) + 3 ones of padding = one byte; a further 0xff byte makes 11 bits of padding.
        Assert.Equal(1, Huffman.Decode([0x07], new byte[4]));
        Assert.Equal(-1, Huffman.Decode([0x07, 0xff], new byte[4]));
        // A whole byte of ones alone is 8 bits of padding.
        Assert.Equal(-1, Huffman.Decode([0xff], new byte[4]));
    }

    [Fact]
    public void Decode_PaddingNotAllOnes_Fails()
    {
        // '0' (00000) followed by 000 padding decodes no symbol but the padding is not EOS's prefix.
        Assert.Equal(-1, Huffman.Decode([0x00], new byte[4]));
        Assert.Equal(-1, Huffman.Decode([0x06], new byte[4]));
    }

    [Fact]
    public void Decode_DestinationTooSmall_Fails()
    {
        byte[] encoded = Hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff");
        Assert.Equal(-1, Huffman.Decode(encoded, new byte[14]));
        Assert.Equal(15, Huffman.Decode(encoded, new byte[15]));
        Assert.Equal(Huffman.DestinationTooSmall, Huffman.DecodeCore(encoded, new byte[14]));
    }

    [Fact]
    public void GetMaxDecodedLength_IsEightFifths()
    {
        Assert.Equal(0, Huffman.GetMaxDecodedLength(0));
        Assert.Equal(1, Huffman.GetMaxDecodedLength(1));
        Assert.Equal(8, Huffman.GetMaxDecodedLength(5));
        Assert.Equal(int.MaxValue, Huffman.GetMaxDecodedLength(int.MaxValue));
    }
}
