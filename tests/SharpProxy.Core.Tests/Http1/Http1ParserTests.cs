using System.Text;
using SharpProxy.Core.Http1;

namespace SharpProxy.Core.Tests.Http1;

public sealed class Http1ParserTests
{
    [Fact]
    public void FindHeadEnd_CompleteHead_IndexAfterEmptyLine()
    {
        var bytes = Bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY");

        Assert.Equal(bytes.Length - 4, Http1Parser.FindHeadEnd(bytes));
    }

    [Fact]
    public void FindHeadEnd_IncompleteHead_MinusOne() =>
        Assert.Equal(-1, Http1Parser.FindHeadEnd(Bytes("GET / HTTP/1.1\r\nHost: a\r\n")));

    [Fact]
    public void TryParseRequestLine_Valid_MethodTargetVersion()
    {
        var head = Bytes("PATCH /a/b?c=d HTTP/1.1\r\n");

        Assert.True(Http1Parser.TryParseRequestLine(head, out var method, out var target, out var minor, out var lineEnd));
        Assert.Equal("PATCH", Encoding.ASCII.GetString(head.AsSpan()[method]));
        Assert.Equal("/a/b?c=d", Encoding.ASCII.GetString(head.AsSpan()[target]));
        Assert.Equal(1, minor);
        Assert.Equal(head.Length, lineEnd);
    }

    [Theory]
    [InlineData("GET /a HTTP/1.1 x\r\n")]
    [InlineData("GET  /a HTTP/1.1\r\n")]
    [InlineData("GET /a HTTP/2.0\r\n")]
    [InlineData("GET /a HTTP/1.1\n")]
    [InlineData("G(T /a HTTP/1.1\r\n")]
    [InlineData("GET /a\u0001b HTTP/1.1\r\n")]
    [InlineData("GET /a\u007Fb HTTP/1.1\r\n")]
    [InlineData("GET /a HTTP/1.1")]
    public void TryParseRequestLine_Malformed_False(string line) =>
        Assert.False(Http1Parser.TryParseRequestLine(Bytes(line), out _, out _, out _, out _));

    [Fact]
    public void TryParseRequestLine_Http10_MinorZero()
    {
        Assert.True(Http1Parser.TryParseRequestLine(Bytes("GET / HTTP/1.0\r\n"), out _, out _, out var minor, out _));
        Assert.Equal(0, minor);
    }

    [Fact]
    public void ParseHeaders_TrimsOptionalWhitespace_KeepsOrder()
    {
        var head = Bytes("GET / HTTP/1.1\r\nHost:  a.test \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n");
        Assert.True(Http1Parser.TryParseRequestLine(head, out _, out _, out _, out var lineEnd));
        var spans = new HeaderSpan[8];

        var count = Http1Parser.ParseHeaders(head, lineEnd, spans);

        Assert.Equal(3, count);
        Assert.Equal(("Host", "a.test"), Header(head, spans[0]));
        Assert.Equal(("X-Empty", ""), Header(head, spans[1]));
        Assert.Equal(("X-Tab", "v"), Header(head, spans[2]));
    }

    [Theory]
    [InlineData("Host : a\r\n\r\n")] // whitespace before the colon (RFC 9112 5.1: must be rejected)
    [InlineData(" folded\r\n\r\n")] // obs-fold
    [InlineData("NoColon\r\n\r\n")]
    [InlineData("Bad\u0000Name: a\r\n\r\n")]
    [InlineData("X: a\u0000b\r\n\r\n")]
    [InlineData("X: a\rb\r\n\r\n")]
    public void ParseHeaders_Malformed_MinusOne(string headers)
    {
        var head = Bytes("GET / HTTP/1.1\r\n" + headers);

        Assert.Equal(-1, Http1Parser.ParseHeaders(head, 16, new HeaderSpan[8]));
    }

    [Theory]
    [InlineData("x-nm-ab", 5, "short v", 3)] // scalar checks
    [InlineData("x-a-rather-long-name-ab", 20, "a value long enough for vector checks", 30)] // vector checks, byte after the first vector
    public void ParseHeaders_EveryByteInNameAndValue_AcceptedExactlyAsRfc9110Allows(string nameTemplate, int nameAt, string valueTemplate, int valueAt)
    {
        for (var b = 0; b < 256; b++)
        {
            if (b is (byte)':' or (byte)'\r' or (byte)'\n')
            {
                continue; // they end the name or the line: not a byte inside one
            }

            var name = Encoding.ASCII.GetBytes(nameTemplate);
            name[nameAt] = (byte)b;
            var nameValid = IsRfcTokenChar((byte)b);
            var head = Concat("GET / HTTP/1.1\r\n"u8, name, ": v\r\n\r\n"u8);
            Assert.True((Http1Parser.ParseHeaders(head, 16, new HeaderSpan[4]) == 1) == nameValid, $"name byte 0x{b:x2}");
            Assert.Equal(nameValid, Http1Parser.IsToken(name));

            var value = Encoding.ASCII.GetBytes(valueTemplate);
            value[valueAt] = (byte)b;
            var valueValid = b == '\t' || (b >= 0x20 && b != 0x7F);
            head = Concat("GET / HTTP/1.1\r\nx: "u8, value, "\r\n\r\n"u8);
            Assert.True((Http1Parser.ParseHeaders(head, 16, new HeaderSpan[4]) == 1) == valueValid, $"value byte 0x{b:x2}");
        }
    }

    [Theory]
    [InlineData("/a/b?c=d", 3)]
    [InlineData("/a/path/that/is/long/enough/for/vectors", 33)]
    public void TryParseRequestLine_EveryByteInTarget_OnlyVisibleAsciiAccepted(string template, int at)
    {
        for (var b = 0; b < 256; b++)
        {
            if (b is (byte)' ' or (byte)'\r' or (byte)'\n')
            {
                continue; // they end the target or the line
            }

            var target = Encoding.ASCII.GetBytes(template);
            target[at] = (byte)b;
            var line = Concat("GET "u8, target, " HTTP/1.1\r\n"u8);
            Assert.True(Http1Parser.TryParseRequestLine(line, out _, out _, out _, out _) == (b > 0x20 && b < 0x7F), $"target byte 0x{b:x2}");
        }
    }

    [Theory]
    [InlineData("X: a\rb\r\n\r\n")] // a CR inside a value
    [InlineData("X: a\r\r\n\r\n")] // a CR before the line's CRLF
    [InlineData("X\r: a\r\n\r\n")] // a CR inside a name
    [InlineData("X: a\nb\r\n\r\n")] // a bare LF inside a value
    public void ParseHeaders_StrayCrOrLf_MinusOne(string headers) =>
        Assert.Equal(-1, Http1Parser.ParseHeaders(Bytes("GET / HTTP/1.1\r\n" + headers), 16, new HeaderSpan[8]));

    [Fact]
    public void IsToken_Empty_False() => Assert.False(Http1Parser.IsToken([]));

    private static bool IsRfcTokenChar(byte b) =>
        (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || "!#$%&'*+-.^_`|~".Contains((char)b);

    private static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c) => [.. a, .. b, .. c];

    [Fact]
    public void ParseHeaders_MoreThanTheArrayHolds_MinusOne()
    {
        var head = Bytes("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");

        Assert.Equal(-1, Http1Parser.ParseHeaders(head, 16, new HeaderSpan[2]));
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("12", 12L)]
    [InlineData("1048576", 1048576L)]
    [InlineData("", -1L)]
    [InlineData("+5", -1L)]
    [InlineData("5 ", -1L)]
    [InlineData("1,1", -1L)]
    [InlineData("0x10", -1L)]
    [InlineData("9999999999999999999", -1L)]
    public void ParseContentLength_DigitsOnly(string value, long expected) =>
        Assert.Equal(expected, Http1Parser.ParseContentLength(Bytes(value)));

    [Theory]
    [InlineData("close", "close", true)]
    [InlineData("keep-alive, Close", "close", true)]
    [InlineData("keep-alive,x-hop", "x-hop", true)]
    [InlineData("closed", "close", false)]
    [InlineData("", "close", false)]
    public void HasToken_CommaSeparatedCaseInsensitive(string value, string token, bool expected) =>
        Assert.Equal(expected, Http1Parser.HasToken(Bytes(value), Bytes(token)));

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\n", 200, 1)]
    [InlineData("HTTP/1.0 404 Not Found\r\n", 404, 0)]
    [InlineData("HTTP/1.1 204\r\n", 204, 1)]
    public void TryParseStatusLine_Valid(string line, int status, int minor)
    {
        Assert.True(Http1Parser.TryParseStatusLine(Bytes(line), out var parsedStatus, out var parsedMinor, out _));
        Assert.Equal(status, parsedStatus);
        Assert.Equal(minor, parsedMinor);
    }

    [Theory]
    [InlineData("HTTP/1.1 2000 OK\r\n")]
    [InlineData("HTTP/1.1 20 OK\r\n")]
    [InlineData("HTTP/2 200 OK\r\n")]
    [InlineData("HTTP/1.1 099 X\r\n")]
    [InlineData("ICY 200 OK\r\n")]
    public void TryParseStatusLine_Malformed_False(string line) =>
        Assert.False(Http1Parser.TryParseStatusLine(Bytes(line), out _, out _, out _));

    [Fact]
    public void ChunkedScanner_WholeBodyWithExtensionAndTrailer_EndsExactlyAtTheEnd()
    {
        var body = Bytes("5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\ngrpc-status: 0\r\n\r\nNEXT");
        var scanner = default(ChunkedScanner);

        var consumed = scanner.Scan(body);

        Assert.True(scanner.IsDone);
        Assert.Equal(body.Length - 4, consumed);
    }

    [Fact]
    public void ChunkedScanner_OneByteAtATime_SameEnd()
    {
        var body = Bytes("3\r\nabc\r\n0\r\n\r\n");
        var scanner = default(ChunkedScanner);
        var total = 0;
        for (var i = 0; i < body.Length && !scanner.IsDone; i++)
        {
            total += scanner.Scan(body.AsSpan(i, 1));
        }

        Assert.True(scanner.IsDone);
        Assert.Equal(body.Length, total);
    }

    [Fact]
    public void ChunkedScanner_Incomplete_NotDoneAndAllConsumed()
    {
        var body = Bytes("10\r\n0123456789");
        var scanner = default(ChunkedScanner);

        Assert.Equal(body.Length, scanner.Scan(body));
        Assert.False(scanner.IsDone);
    }

    [Theory]
    [InlineData("g\r\n")]
    [InlineData("\r\n")]
    [InlineData("3\r\nabcX")]
    [InlineData("3\nabc\r\n")]
    [InlineData("1000000000000000\r\n")]
    public void ChunkedScanner_Malformed_MinusOne(string body)
    {
        var scanner = default(ChunkedScanner);

        Assert.Equal(-1, scanner.Scan(Bytes(body)));
    }

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    private static (string Name, string Value) Header(byte[] head, HeaderSpan span) =>
        (Encoding.ASCII.GetString(head, span.NameStart, span.NameLength), Encoding.ASCII.GetString(head, span.ValueStart, span.ValueLength));
}
