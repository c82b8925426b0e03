using SharpProxy.Core.Http2;
using static SharpProxy.Core.Tests.Http2.HpackTestSupport;

namespace SharpProxy.Core.Tests.Http2;

public sealed class HpackDecoderTests
{
    private static List<(string, string)> DecodeOk(HpackDecoder decoder, string hex)
    {
        var sink = new RecordingSink();
        Assert.Equal(HpackError.None, decoder.Decode(Hex(hex), sink));
        return sink.Fields;
    }

    private static HpackError DecodeError(HpackDecoder decoder, byte[] block)
    {
        var sink = new RecordingSink();
        return decoder.Decode(block, sink);
    }

    // C.2.1
    [Fact]
    public void C21_LiteralWithIndexing_AddsToTable()
    {
        var decoder = new HpackDecoder();
        var fields = DecodeOk(decoder, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        Assert.Equal([("custom-key", "custom-header")], fields);
        Assert.Equal(55, decoder.DynamicTableSize);
        Assert.Equal(1, decoder.DynamicTableCount);
        Assert.Equal([("custom-key", "custom-header")], DecodeOk(decoder, "be"));
    }

    // C.2.2
    [Fact]
    public void C22_LiteralWithoutIndexing_LeavesTableEmpty()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([(":path", "/sample/path")], DecodeOk(decoder, "040c 2f73 616d 706c 652f 7061 7468"));
        Assert.Equal(0, decoder.DynamicTableSize);
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    // C.2.3
    [Fact]
    public void C23_LiteralNeverIndexed_LeavesTableEmpty()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([("password", "secret")], DecodeOk(decoder, "1008 7061 7373 776f 7264 0673 6563 7265 74"));
        Assert.Equal(0, decoder.DynamicTableSize);
    }

    // C.2.4
    [Fact]
    public void C24_IndexedStaticField()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([(":method", "GET")], DecodeOk(decoder, "82"));
        Assert.Equal(0, decoder.DynamicTableSize);
    }

    // C.3 (raw strings) and C.4 (Huffman): the same three requests on one decoder.
    [Theory]
    [InlineData(
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65")]
    [InlineData(
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")]
    public void C3_C4_Requests(string first, string second, string third)
    {
        var decoder = new HpackDecoder();
        Assert.Equal(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
            DecodeOk(decoder, first));
        Assert.Equal(57, decoder.DynamicTableSize);
        Assert.Equal(1, decoder.DynamicTableCount);

        Assert.Equal(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache")],
            DecodeOk(decoder, second));
        Assert.Equal(110, decoder.DynamicTableSize);
        Assert.Equal(2, decoder.DynamicTableCount);

        Assert.Equal(
            [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")],
            DecodeOk(decoder, third));
        Assert.Equal(164, decoder.DynamicTableSize);
        Assert.Equal(3, decoder.DynamicTableCount);

        // Table order after C.3.3: [62] custom-key, [63] cache-control, [64] :authority.
        Assert.Equal(
            [("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")],
            DecodeOk(decoder, "bebf c0"));
    }

    // C.5 (raw strings) and C.6 (Huffman): three responses with a 256-byte table, with evictions.
    [Theory]
    [InlineData(
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31")]
    [InlineData(
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07")]
    public void C5_C6_ResponsesWithEviction(string first, string second, string third)
    {
        var decoder = new HpackDecoder(maxTableSize: 256);
        const string Date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
        const string Date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
        const string Location = "https://www.example.com";

        Assert.Equal(
            [(":status", "302"), ("cache-control", "private"), ("date", Date1), ("location", Location)],
            DecodeOk(decoder, first));
        Assert.Equal(222, decoder.DynamicTableSize);
        Assert.Equal(4, decoder.DynamicTableCount);

        // ":status: 307" evicts ":status: 302".
        Assert.Equal(
            [(":status", "307"), ("cache-control", "private"), ("date", Date1), ("location", Location)],
            DecodeOk(decoder, second));
        Assert.Equal(222, decoder.DynamicTableSize);
        Assert.Equal(4, decoder.DynamicTableCount);

        Assert.Equal(
            [(":status", "200"), ("cache-control", "private"), ("date", Date2), ("location", Location),
             ("content-encoding", "gzip"), ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")],
            DecodeOk(decoder, third));
        Assert.Equal(215, decoder.DynamicTableSize);
        Assert.Equal(3, decoder.DynamicTableCount);

        Assert.Equal(
            [("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"), ("content-encoding", "gzip"), ("date", Date2)],
            DecodeOk(decoder, "bebf c0"));
        Assert.Equal(HpackError.CompressionError, DecodeError(decoder, [0xc1]));
    }

    // C.1: 10 with a 5-bit prefix, 1337 with a 5-bit prefix, 42 at an octet boundary.
    [Theory]
    [InlineData("0a", 5, 10)]
    [InlineData("1f9a0a", 5, 1337)]
    [InlineData("2a", 8, 42)]
    [InlineData("1f00", 5, 31)]
    [InlineData("7f00", 7, 127)]
    [InlineData("7e", 7, 126)]
    [InlineData("ff80808000", 8, 255)]          // redundant zero continuation bytes are still a valid encoding
    [InlineData("1fe0ffffff07", 5, int.MaxValue)] // 31 + 2147483616
    public void Integer_Decodes(string hex, int prefixBits, int expected)
    {
        byte[] bytes = Hex(hex);
        int position = 0;
        Assert.True(HpackDecoder.TryReadInteger(bytes, ref position, prefixBits, out int value));
        Assert.Equal(expected, value);
        Assert.Equal(bytes.Length, position);
    }

    [Theory]
    [InlineData("1fe1ffffff07", 5)]   // int.MaxValue + 1
    [InlineData("1fffffffff0f", 5)]   // way above
    [InlineData("1f808080808000", 5)] // 6 continuation bytes
    [InlineData("1f80", 5)]           // truncated continuation
    [InlineData("1f", 5)]             // prefix full, nothing follows
    public void Integer_OverflowOrTruncation_Rejected(string hex, int prefixBits)
    {
        byte[] bytes = Hex(hex);
        int position = 0;
        Assert.False(HpackDecoder.TryReadInteger(bytes, ref position, prefixBits, out _));
        // Through the decoder too, as the first byte of a block (a never-indexed literal whose name index is that integer).
        Assert.Equal(HpackError.CompressionError, new HpackDecoder().Decode(bytes, new RecordingSink()));
    }

    [Theory]
    [InlineData(10, 5)]
    [InlineData(1337, 5)]
    [InlineData(42, 8)]
    [InlineData(0, 4)]
    [InlineData(15, 4)]
    [InlineData(int.MaxValue, 7)]
    public void Integer_EncoderRoundTrips(int value, int prefixBits)
    {
        var buffer = new byte[8];
        int written = HpackEncoder.WriteInteger(value, prefixBits, 0, buffer);
        Assert.True(written > 0);
        int position = 0;
        Assert.True(HpackDecoder.TryReadInteger(buffer.AsSpan(0, written), ref position, prefixBits, out int decoded));
        Assert.Equal(value, decoded);
        Assert.Equal(written, position);
        Assert.Equal(-1, HpackEncoder.WriteInteger(value, prefixBits, 0, buffer.AsSpan(0, written - 1)));
    }

    [Fact]
    public void TableSizeUpdate_AfterAField_IsCompressionError()
    {
        var decoder = new HpackDecoder();
        Assert.Equal(HpackError.CompressionError, DecodeError(decoder, [0x82, 0x20]));
    }

    [Fact]
    public void TableSizeUpdate_AboveMax_IsCompressionError()
    {
        var decoder = new HpackDecoder(maxTableSize: 256);
        Assert.Equal(HpackError.CompressionError, DecodeError(decoder, Hex("3fe201"))); // 31 + 226 = 257
        Assert.Equal(HpackError.None, DecodeError(new HpackDecoder(maxTableSize: 256), Hex("3fe101 82"))); // 256
    }

    [Fact]
    public void TableSizeUpdate_ZeroEvictsEverything_ThenRefills()
    {
        var decoder = new HpackDecoder();
        DecodeOk(decoder, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        Assert.Equal(1, decoder.DynamicTableCount);

        // Two updates at the start of one block are allowed: down to 0, then back up to 4096.
        Assert.Equal([(":method", "GET")], DecodeOk(decoder, "20 3fe11f 82"));
        Assert.Equal(0, decoder.DynamicTableSize);
        Assert.Equal(0, decoder.DynamicTableCount);
        Assert.Equal(HpackError.CompressionError, DecodeError(decoder, [0xbe]));

        DecodeOk(decoder, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        Assert.Equal(55, decoder.DynamicTableSize);
        Assert.Equal([("custom-key", "custom-header")], DecodeOk(decoder, "be"));
    }

    [Fact]
    public void TableSizeUpdate_ZeroAlone_NothingIsIndexed()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([("custom-key", "custom-header")],
            DecodeOk(decoder, "20 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void EntryLargerThanTable_EmptiesTable_NotAnError()
    {
        var decoder = new HpackDecoder(maxTableSize: 64);
        DecodeOk(decoder, "4001 61 0162"); // a: b, size 34
        Assert.Equal(34, decoder.DynamicTableSize);
        // name "a" + a 32-byte value = 65 > 64.
        var block = new List<byte> { 0x40, 0x01, (byte)'a', 0x20 };
        block.AddRange(Enumerable.Repeat((byte)'x', 32));
        var sink = new RecordingSink();
        Assert.Equal(HpackError.None, decoder.Decode(block.ToArray(), sink));
        Assert.Equal([("a", new string('x', 32))], sink.Fields);
        Assert.Equal(0, decoder.DynamicTableSize);
        Assert.Equal(0, decoder.DynamicTableCount);
    }

    [Fact]
    public void IndexedNameFromEvictedEntry_IsCopiedBeforeEviction()
    {
        // Table fits exactly one entry of 32 + 10 + 10: re-adding with the name of entry 62 evicts entry 62 itself.
        var decoder = new HpackDecoder(maxTableSize: 52);
        DecodeOk(decoder, "400a 6375 7374 6f6d 2d6b 6579 0a61 6161 6161 6161 6161 61"); // custom-key: aaaaaaaaaa
        Assert.Equal(52, decoder.DynamicTableSize);
        Assert.Equal([("custom-key", "bbbbbbbbbb")], DecodeOk(decoder, "7e 0a62 6262 6262 6262 6262 62"));
        Assert.Equal(1, decoder.DynamicTableCount);
        Assert.Equal([("custom-key", "bbbbbbbbbb")], DecodeOk(decoder, "be"));
    }

    [Fact]
    public void ManyInsertions_WrapTheBuffer_EntriesStayIntact()
    {
        var decoder = new HpackDecoder(maxTableSize: 200);
        var random = new Random(42);
        var model = new List<(string Name, string Value)>(); // newest first
        for (int round = 0; round < 500; round++)
        {
            string name = "n" + random.Next(0, 1000);
            string value = new string((char)('a' + random.Next(0, 26)), random.Next(0, 60));
            var block = new List<byte> { 0x40 };
            AppendRaw(block, name);
            AppendRaw(block, value);
            Assert.Equal(HpackError.None, decoder.Decode(block.ToArray(), new RecordingSink()));
            model.Insert(0, (name, value));
            int size = 0;
            int keep = 0;
            while (keep < model.Count && size + model[keep].Name.Length + model[keep].Value.Length + 32 <= 200)
            {
                size += model[keep].Name.Length + model[keep].Value.Length + 32;
                keep++;
            }
            model.RemoveRange(keep, model.Count - keep);
            Assert.Equal(size, decoder.DynamicTableSize);
            Assert.Equal(model.Count, decoder.DynamicTableCount);

            var indexed = new byte[model.Count];
            for (int i = 0; i < model.Count; i++)
                indexed[i] = (byte)(0x80 | (62 + i));
            var sink = new RecordingSink();
            Assert.Equal(HpackError.None, decoder.Decode(indexed, sink));
            Assert.Equal(model, sink.Fields);
        }
    }

    private static void AppendRaw(List<byte> block, string text)
    {
        block.Add((byte)text.Length);
        foreach (char c in text)
            block.Add((byte)c);
    }

    [Theory]
    [InlineData("80")]                  // indexed field 0
    [InlineData("be")]                  // dynamic index 62 with an empty table
    [InlineData("ff80 01")]             // index 255
    [InlineData("40")]                  // literal, name string missing
    [InlineData("4005 6162")]           // name string truncated
    [InlineData("4001 61")]             // value missing
    [InlineData("4001 6105 6162")]      // value truncated
    [InlineData("7e 0161")]             // literal with dynamic name 62, empty table
    [InlineData("0f30 0161")]           // literal without indexing, name index 63
    [InlineData("4081 ff 0161")]        // Huffman name: 8 bits of padding
    [InlineData("4081 00 0161")]        // Huffman name: padding not ones
    [InlineData("4001 61 84ff ffff ff")] // Huffman value containing EOS
    [InlineData("4001 61 7fff ffff ff0f")] // value length above int.MaxValue
    public void Malformed_IsCompressionError(string hex)
    {
        Assert.Equal(HpackError.CompressionError, DecodeError(new HpackDecoder(), Hex(hex)));
    }

    [Fact]
    public void RandomInput_NeverThrows()
    {
        var random = new Random(1234);
        var decoder = new HpackDecoder(maxTableSize: 256, maxHeaderListSize: 1024);
        var sink = new CountingSink();
        for (int round = 0; round < 20000; round++)
        {
            var block = new byte[random.Next(0, 40)];
            random.NextBytes(block);
            HpackError error = decoder.Decode(block, sink);
            Assert.True(Enum.IsDefined(error));
            Assert.InRange(decoder.DynamicTableSize, 0, 256);
        }
    }

    [Fact]
    public void HeaderListLimit_Exceeded_IsHeaderListTooLarge()
    {
        // Each ":method: GET" counts 7 + 3 + 32 = 42.
        var decoder = new HpackDecoder(maxHeaderListSize: 84);
        var sink = new RecordingSink();
        Assert.Equal(HpackError.None, decoder.Decode([0x82, 0x82], sink));
        sink = new RecordingSink();
        Assert.Equal(HpackError.HeaderListTooLarge, decoder.Decode([0x82, 0x82, 0x82], sink));
        Assert.Equal(2, sink.Fields.Count); // the field that crosses the limit is not delivered
    }

    [Fact]
    public void HeaderListLimit_HugeHuffmanValue_IsHeaderListTooLarge()
    {
        var decoder = new HpackDecoder(maxHeaderListSize: 100);
        byte[] value = HuffmanEncode(Enumerable.Repeat((byte)'a', 200).ToArray());
        var block = new List<byte> { 0x00, 0x01, (byte)'a' };
        var length = new byte[8];
        int lengthBytes = HpackEncoder.WriteInteger(value.Length, 7, 0x80, length);
        block.AddRange(length.AsSpan(0, lengthBytes).ToArray());
        block.AddRange(value);
        Assert.Equal(HpackError.HeaderListTooLarge, decoder.Decode(block.ToArray(), new RecordingSink()));
    }

    [Fact]
    public void HeaderListLimit_HugeRawValue_IsHeaderListTooLarge()
    {
        var decoder = new HpackDecoder(maxHeaderListSize: 100);
        var block = new byte[300];
        int written = HpackEncoder.EncodeHeader("x-big"u8, new byte[200], block);
        Assert.Equal(HpackError.HeaderListTooLarge, decoder.Decode(block.AsSpan(0, written), new RecordingSink()));
    }

    [Fact]
    public void Decode_SteadyState_AllocatesNothing()
    {
        var decoder = new HpackDecoder(maxTableSize: 256);
        var sink = new CountingSink();
        byte[][] blocks =
        [
            Hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
            Hex("4883 640e ffc1 c0bf"),
            Hex("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"),
        ];
        foreach (byte[] block in blocks)
            Assert.Equal(HpackError.None, decoder.Decode(block, sink)); // warm up (JIT, static tables)

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 1000; round++)
        {
            foreach (byte[] block in blocks)
                decoder.Decode(block, sink);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(sink.Count > 3000);
    }
}
