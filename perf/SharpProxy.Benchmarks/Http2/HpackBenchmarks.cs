using BenchmarkDotNet.Attributes;
using SharpProxy.Core.Http2;

namespace SharpProxy.Benchmarks.Http2;

/// <summary>
/// Cost of the HPACK codec per header block: decoding a typical request (Huffman-coded literals, as browsers and
/// gRPC clients send them, and the same block after its fields were indexed) and encoding a typical response.
/// </summary>
[MemoryDiagnoser]
public class HpackBenchmarks
{
    private static readonly (string Name, string Value)[] RequestFields =
    [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/api/v1/items/12345?expand=owner&limit=20"),
        (":authority", "service.example.internal"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"),
        ("accept", "application/json, text/plain, */*"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.9"),
        ("x-request-id", "6f1c2b9e-3d4a-4b8e-9f2a-1c2d3e4f5a6b"),
        ("cookie", "session=abcdef0123456789abcdef0123456789; theme=dark"),
    ];

    private readonly HpackDecoder _decoder = new();
    private readonly NullSink _sink = new();
    private readonly byte[] _encodeBuffer = new byte[4096];
    private byte[] _literalHuffmanBlock = [];
    private byte[] _indexedBlock = [];
    private byte[] _huffmanUserAgent = [];
    private readonly byte[] _huffmanOutput = new byte[256];

    [GlobalSetup]
    public void Setup()
    {
        // Literal with incremental indexing, literal names, Huffman-coded strings: the first request on a connection.
        var literal = new List<byte>();
        foreach ((string name, string value) in RequestFields)
        {
            literal.Add(0x40);
            AppendHuffman(literal, name);
            AppendHuffman(literal, value);
        }
        _literalHuffmanBlock = [.. literal];

        // The same fields as indices into a dynamic table (62 = newest): a repeat request on a warm connection.
        var indexed = new List<byte>();
        for (int i = RequestFields.Length - 1; i >= 0; i--)
            indexed.Add((byte)(0x80 | (62 + i)));
        _indexedBlock = [.. indexed];
        var warm = new HpackDecoder();
        if (warm.Decode(_literalHuffmanBlock, _sink) != HpackError.None || warm.Decode(_indexedBlock, _sink) != HpackError.None)
            throw new InvalidOperationException("benchmark blocks do not decode");
        _decoder.Decode(_literalHuffmanBlock, _sink);

        var userAgent = new List<byte>();
        AppendHuffman(userAgent, RequestFields[4].Value);
        _huffmanUserAgent = userAgent.Skip(1).ToArray(); // without the one-byte length prefix
    }

    /// <summary>Huffman decoding alone: the 97-character user-agent value.</summary>
    [Benchmark]
    public int Huffman_Decode_UserAgent() => Huffman.Decode(_huffmanUserAgent, _huffmanOutput);

    [Benchmark(Baseline = true)]
    public int Decode_Request_HuffmanLiterals()
    {
        // Each call inserts the 10 fields again (evicting the previous copies once the 4096-byte table is full).
        return (int)_decoder.Decode(_literalHuffmanBlock, _sink);
    }

    [Benchmark]
    public int Decode_Request_Indexed()
    {
        return (int)_decoder.Decode(_indexedBlock, _sink);
    }

    [Benchmark]
    public int Encode_Response()
    {
        Span<byte> buffer = _encodeBuffer;
        int position = HpackEncoder.EncodeStatus(200, buffer);
        position += HpackEncoder.EncodeHeader("content-type"u8, "application/json"u8, buffer[position..]);
        position += HpackEncoder.EncodeHeader("content-length"u8, "1234"u8, buffer[position..]);
        position += HpackEncoder.EncodeHeader("date"u8, "Mon, 30 Nov 2026 10:00:00 GMT"u8, buffer[position..]);
        position += HpackEncoder.EncodeHeader("server"u8, "envoy"u8, buffer[position..]);
        position += HpackEncoder.EncodeHeader("x-envoy-upstream-service-time"u8, "3"u8, buffer[position..]);
        return position;
    }

    private static void AppendHuffman(List<byte> block, string text)
    {
        var encoded = new List<byte>();
        ulong bits = 0;
        int bitCount = 0;
        foreach (char c in text)
        {
            int length = Huffman.CodeLengthOf(c);
            bits = (bits << length) | Huffman.CodeOf(c);
            bitCount += length;
            while (bitCount >= 8)
            {
                bitCount -= 8;
                encoded.Add((byte)(bits >> bitCount));
            }
        }
        if (bitCount > 0)
            encoded.Add((byte)((bits << (8 - bitCount)) | (0xffu >> bitCount)));
        var length7 = new byte[8];
        int lengthBytes = HpackEncoder.WriteInteger(encoded.Count, 7, 0x80, length7);
        block.AddRange(length7.AsSpan(0, lengthBytes).ToArray());
        block.AddRange(encoded);
    }

    private sealed class NullSink : IHpackHeaderSink
    {
        public int Count;

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Count += name.Length + value.Length;
    }
}
