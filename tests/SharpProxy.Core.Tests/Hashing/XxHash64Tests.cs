using System.Text;
using SharpProxy.Core.Hashing;

namespace SharpProxy.Core.Tests.Hashing;

public sealed class XxHash64Tests
{
    private const ulong Prime32 = 2654435761UL;

    // Envoy test/common/common/hash_test.cc (Hash.xxHash) plus the empty-input check value from the spec.
    [Theory]
    [InlineData("foo", 3728699739546630719UL)]
    [InlineData("bar", 5234164152756840025UL)]
    [InlineData("foo\nbar", 8917841378505826757UL)]
    [InlineData("lyft", 4400747396090729504UL)]
    [InlineData("", 17241709254077376921UL)]
    [InlineData("foobar", 11721187498075204345UL)]
    public void HashUtf8_EnvoyVectors_Match(string input, ulong expected)
    {
        Assert.Equal(expected, XxHash64.HashUtf8(input));
        Assert.Equal(expected, XxHash64.Hash(Encoding.UTF8.GetBytes(input)));
    }

    [Fact]
    public void Hash_Empty_IsReferenceCheckValue()
    {
        Assert.Equal(0xEF46DB3751D8E999UL, XxHash64.Hash(ReadOnlySpan<byte>.Empty));
    }

    // Cyan4973/xxHash cli/xsum_sanity_check.c (XSUM_XXH64_testdata): covers the 32-byte stripe loop, the
    // 8/4/1-byte tails and non-zero seeds, none of which Envoy's short vectors reach.
    [Theory]
    [InlineData(0, 0UL, 0xEF46DB3751D8E999UL)]
    [InlineData(0, Prime32, 0xAC75FDA2929B17EFUL)]
    [InlineData(1, 0UL, 0xE934A84ADB052768UL)]
    [InlineData(1, Prime32, 0x5014607643A9B4C3UL)]
    [InlineData(4, 0UL, 0x9136A0DCA57457EEUL)]
    [InlineData(14, 0UL, 0x8282DCC4994E35C8UL)]
    [InlineData(14, Prime32, 0xC3BD6BF63DEB6DF0UL)]
    [InlineData(222, 0UL, 0xB641AE8CB691C174UL)]
    [InlineData(222, Prime32, 0x20CB8AB7AE10C14AUL)]
    public void Hash_XxHashSanityBuffer_MatchesReference(int length, ulong seed, ulong expected)
    {
        Assert.Equal(expected, XxHash64.Hash(SanityBuffer(length), seed));
    }

    [Fact]
    public void Hash_UnalignedSlice_SameAsAligned()
    {
        byte[] buffer = SanityBuffer(223);
        byte[] copy = buffer.AsSpan(1).ToArray();
        Assert.Equal(XxHash64.Hash(copy), XxHash64.Hash(buffer.AsSpan(1)));
    }

    [Fact]
    public void HashUtf8_LongAndNonAsciiText_EqualsHashOfUtf8Bytes()
    {
        string shortText = "höst-ключ-🙂";
        string longText = string.Concat(Enumerable.Repeat("backend.example.svc.cluster.local:8080/é", 40));
        Assert.True(longText.Length > 256, "exercise the pooled-buffer path");

        Assert.Equal(XxHash64.Hash(Encoding.UTF8.GetBytes(shortText)), XxHash64.HashUtf8(shortText));
        Assert.Equal(XxHash64.Hash(Encoding.UTF8.GetBytes(longText), 7), XxHash64.HashUtf8(longText, 7));
    }

    [Fact]
    public void HashUtf8_ShortAndLongText_DoesNotAllocate()
    {
        string shortText = "10.0.0.1:12345" + "10.0.0.2:443";
        string longText = new('x', 1000);
        XxHash64.HashUtf8(shortText);
        XxHash64.HashUtf8(longText);

        long before = GC.GetAllocatedBytesForCurrentThread();
        ulong sink = 0;
        for (int i = 0; i < 1000; i++)
        {
            sink ^= XxHash64.HashUtf8(shortText);
            sink ^= XxHash64.HashUtf8(longText);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.NotEqual(0UL, sink | 1);
    }

    // Envoy Hash.xxHashWithVector: the Span overload chains seeds rather than hashing the concatenation.
    [Fact]
    public void HashList_FooBar_MatchesEnvoyChainedHash()
    {
        Assert.Equal(17745830980996999794UL, XxHash64.HashList(["foo", "bar"]));
        Assert.Equal(XxHash64.HashUtf8("bar", XxHash64.HashUtf8("foo")), XxHash64.HashList(["foo", "bar"]));
        Assert.NotEqual(XxHash64.HashUtf8("foobar"), XxHash64.HashList(["foo", "bar"]));
    }

    [Fact]
    public void HashList_SingleValue_EqualsPlainHash()
    {
        Assert.Equal(3728699739546630719UL, XxHash64.HashList(["foo"]));
    }

    [Fact]
    public void HashList_Empty_ReturnsSeed()
    {
        Assert.Equal(0UL, XxHash64.HashList([]));
        Assert.Equal(42UL, XxHash64.HashList([], 42));
    }

    // Envoy Hex::uint64ToHex: 16 lowercase digits, most significant first, zero padded.
    [Theory]
    [InlineData(0UL, "0000000000000000")]
    [InlineData(0x0123456789ABCDEFUL, "0123456789abcdef")]
    [InlineData(0xFUL, "000000000000000f")]
    [InlineData(ulong.MaxValue, "ffffffffffffffff")]
    [InlineData(17241709254077376921UL, "ef46db3751d8e999")]
    public void FormatHex_Value_WritesSixteenLowercaseDigits(ulong value, string expected)
    {
        Span<char> buffer = stackalloc char[16];
        XxHash64.FormatHex(value, buffer);
        Assert.Equal(expected, buffer.ToString());
        Assert.Equal(expected, XxHash64.ToHex(value));
    }

    [Fact]
    public void FormatHex_ShortDestination_Throws()
    {
        char[] buffer = new char[15];
        Assert.Throws<ArgumentException>(() => XxHash64.FormatHex(1, buffer));
    }

    // The generated-cookie value Envoy derives for a hash-policy cookie with a ttl:
    // uint64ToHex(xxh64(remote.asString() + local.asString())), then the request hash is xxh64 of that text.
    [Fact]
    public void ToHex_GeneratedCookieValue_RoundTripsThroughHash()
    {
        string cookie = XxHash64.ToHex(XxHash64.HashUtf8("10.0.0.1:12345" + "10.0.0.2:443"));
        Assert.Equal(16, cookie.Length);
        Assert.Matches("^[0-9a-f]{16}$", cookie);
        Assert.Equal(XxHash64.Hash(Encoding.ASCII.GetBytes(cookie)), XxHash64.HashUtf8(cookie));
    }

    // xsum_sanity_check.c XSUM_fillTestBuffer.
    private static byte[] SanityBuffer(int length)
    {
        const ulong Prime64 = 11400714785074694797UL;
        var buffer = new byte[length];
        ulong generator = Prime32;
        for (int i = 0; i < length; i++)
        {
            buffer[i] = (byte)(generator >> 56);
            generator *= Prime64;
        }

        return buffer;
    }
}
