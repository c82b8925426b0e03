using System.Text;
using SharpProxy.Core.Http2;

namespace SharpProxy.Core.Tests.Http2;

/// <summary>Records decoded fields as Latin-1 strings.</summary>
internal sealed class RecordingSink : IHpackHeaderSink
{
    public List<(string Name, string Value)> Fields { get; } = [];

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        Fields.Add((Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
}

/// <summary>Counts fields without allocating (for the allocation test).</summary>
internal sealed class CountingSink : IHpackHeaderSink
{
    public int Count;
    public long Bytes;

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Count++;
        Bytes += name.Length + value.Length;
    }
}

internal static class HpackTestSupport
{
    /// <summary>Hex as printed in RFC 7541 Appendix C (spaces allowed).</summary>
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    /// <summary>Huffman-encodes with the decoder's own table, EOS-prefix padding (test-side encoder).</summary>
    public static byte[] HuffmanEncode(ReadOnlySpan<byte> input)
    {
        var output = new List<byte>();
        ulong bits = 0;
        int bitCount = 0;
        foreach (byte symbol in input)
        {
            bits = (bits << Huffman.CodeLengthOf(symbol)) | Huffman.CodeOf(symbol);
            bitCount += Huffman.CodeLengthOf(symbol);
            while (bitCount >= 8)
            {
                bitCount -= 8;
                output.Add((byte)(bits >> bitCount));
            }
        }
        if (bitCount > 0)
            output.Add((byte)((bits << (8 - bitCount)) | (0xffu >> bitCount)));
        return [.. output];
    }
}
