using System.Text;
using SharpProxy.Core.Http2;

namespace SharpProxy.Core.Tests.Http2;

public sealed class HpackEncoderTests
{
    private static List<(string, string)> DecodeAll(ReadOnlySpan<byte> block)
    {
        var decoder = new HpackDecoder();
        var sink = new RecordingSink();
        Assert.Equal(HpackError.None, decoder.Decode(block, sink));
        Assert.Equal(0, decoder.DynamicTableCount); // we never index
        return sink.Fields;
    }

    [Theory]
    [InlineData(200, 0x88)]
    [InlineData(204, 0x89)]
    [InlineData(206, 0x8a)]
    [InlineData(304, 0x8b)]
    [InlineData(400, 0x8c)]
    [InlineData(404, 0x8d)]
    [InlineData(500, 0x8e)]
    public void EncodeStatus_StaticStatus_IsOneIndexedByte(int status, int expected)
    {
        var buffer = new byte[8];
        Assert.Equal(1, HpackEncoder.EncodeStatus(status, buffer));
        Assert.Equal((byte)expected, buffer[0]);
        Assert.Equal([(":status", status.ToString(System.Globalization.CultureInfo.InvariantCulture))], DecodeAll(buffer.AsSpan(0, 1)));
        Assert.Equal(-1, HpackEncoder.EncodeStatus(status, Span<byte>.Empty));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(7)]
    [InlineData(302)]
    [InlineData(503)]
    [InlineData(999)]
    public void EncodeStatus_OtherStatus_IsLiteralWithIndexedName(int status)
    {
        var buffer = new byte[8];
        Assert.Equal(5, HpackEncoder.EncodeStatus(status, buffer));
        string digits = status.ToString("000", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal([0x08, 0x03, (byte)digits[0], (byte)digits[1], (byte)digits[2]], buffer.AsSpan(0, 5).ToArray());
        Assert.Equal([(":status", digits)], DecodeAll(buffer.AsSpan(0, 5)));
        Assert.Equal(-1, HpackEncoder.EncodeStatus(status, buffer.AsSpan(0, 4)));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1000)]
    public void EncodeStatus_NotThreeDigits_Throws(int status)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.EncodeStatus(status, new byte[8]));
    }

    [Fact]
    public void EncodeHeader_StaticName_IsLiteralWithIndexedName()
    {
        var buffer = new byte[64];
        int written = HpackEncoder.EncodeHeader("content-type"u8, "text/plain"u8, buffer);
        // 0000 1111 + (31 - 15 = 16), raw length 10, value.
        byte[] expected = [0x0f, 0x10, 0x0a, .. "text/plain"u8];
        Assert.Equal(expected, buffer.AsSpan(0, written).ToArray());
        Assert.Equal([("content-type", "text/plain")], DecodeAll(buffer.AsSpan(0, written)));

        written = HpackEncoder.EncodeHeader("content-type", "text/plain", buffer);
        Assert.Equal(expected, buffer.AsSpan(0, written).ToArray());
    }

    [Fact]
    public void EncodeHeader_SmallStaticIndex_FitsThePrefix()
    {
        var buffer = new byte[64];
        int written = HpackEncoder.EncodeHeader(":path"u8, "/a"u8, buffer); // lowest :path index is 4
        Assert.Equal([0x04, 0x02, (byte)'/', (byte)'a'], buffer.AsSpan(0, written).ToArray());
        written = HpackEncoder.EncodeHeader("accept-encoding"u8, "br"u8, buffer); // 16: prefix 15 + 1
        Assert.Equal([0x0f, 0x01, 0x02, (byte)'b', (byte)'r'], buffer.AsSpan(0, written).ToArray());
    }

    [Fact]
    public void EncodeHeader_UnknownName_IsLiteralName()
    {
        var buffer = new byte[64];
        int written = HpackEncoder.EncodeHeader("x-request-id"u8, "abc"u8, buffer);
        byte[] expected = [0x00, 0x0c, .. "x-request-id"u8, 0x03, .. "abc"u8];
        Assert.Equal(expected, buffer.AsSpan(0, written).ToArray());
        Assert.Equal([("x-request-id", "abc")], DecodeAll(buffer.AsSpan(0, written)));
        // Case matters: "Content-Type" is not the static name.
        written = HpackEncoder.EncodeHeader("Content-Type"u8, "x"u8, buffer);
        Assert.Equal(0x00, buffer[0]);
    }

    [Fact]
    public void EncodeHeader_LongValue_UsesMultiByteLength()
    {
        var buffer = new byte[1024];
        string value = new('v', 300);
        int written = HpackEncoder.EncodeHeader("x-long", value, buffer);
        Assert.Equal(1 + 1 + 6 + 3 + 300, written);
        Assert.Equal([("x-long", value)], DecodeAll(buffer.AsSpan(0, written)));
    }

    [Fact]
    public void EncodeHeader_String_NarrowsCharsAboveLatin1()
    {
        var buffer = new byte[64];
        int written = HpackEncoder.EncodeHeader("x-name", "caf\u00e9 \u20ac", buffer);
        Assert.Equal([("x-name", "caf\u00e9 ?")], DecodeAll(buffer.AsSpan(0, written)));
    }

    [Fact]
    public void EncodeHeader_DestinationTooSmall_ReturnsMinusOne()
    {
        var buffer = new byte[64];
        int written = HpackEncoder.EncodeHeader("x-request-id"u8, "abc"u8, buffer);
        for (int size = 0; size < written; size++)
        {
            Assert.Equal(-1, HpackEncoder.EncodeHeader("x-request-id"u8, "abc"u8, buffer.AsSpan(0, size)));
            Assert.Equal(-1, HpackEncoder.EncodeHeader("x-request-id", "abc", buffer.AsSpan(0, size)));
        }
        Assert.Equal(written, HpackEncoder.EncodeHeader("x-request-id"u8, "abc"u8, buffer.AsSpan(0, written)));
    }

    [Fact]
    public void StaticTable_FindName_GivesLowestIndexForEveryName()
    {
        for (int index = 1; index <= HpackStaticTable.Count; index++)
        {
            byte[] name = HpackStaticTable.Name(index).ToArray();
            int lowest = 1;
            while (!HpackStaticTable.Name(lowest).SequenceEqual(name))
                lowest++;
            Assert.Equal(lowest, HpackStaticTable.FindName(name));
            Assert.Equal(lowest, HpackStaticTable.FindName(Encoding.ASCII.GetString(name).AsSpan()));
        }
        Assert.Equal(2, HpackStaticTable.FindName(":method"u8));
        Assert.Equal(61, HpackStaticTable.FindName("www-authenticate"u8));
        Assert.Equal(0, HpackStaticTable.FindName("x-unknown"u8));
        Assert.Equal(0, HpackStaticTable.FindName(""u8));
        Assert.Equal(0, HpackStaticTable.FindName(new string('a', 300).AsSpan()));
        Assert.Equal(0, HpackStaticTable.FindName("cont\u0100nt-type".AsSpan()));
    }

    [Fact]
    public void EncodeHeaders_EveryStaticName_RoundTripsInOneBlock()
    {
        var buffer = new byte[8192];
        int position = HpackEncoder.EncodeStatus(418, buffer);
        var expected = new List<(string, string)> { (":status", "418") };
        for (int index = 1; index <= HpackStaticTable.Count; index++)
        {
            string name = Encoding.ASCII.GetString(HpackStaticTable.Name(index));
            string value = "v" + index;
            position += HpackEncoder.EncodeHeader(name, value, buffer.AsSpan(position));
            expected.Add((name, value));
        }
        position += HpackEncoder.EncodeHeader("x-custom"u8, ""u8, buffer.AsSpan(position));
        expected.Add(("x-custom", ""));
        Assert.Equal(expected, DecodeAll(buffer.AsSpan(0, position)));
    }
}
