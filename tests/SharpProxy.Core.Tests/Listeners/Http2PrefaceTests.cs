using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using SharpProxy.Core.Listeners;

namespace SharpProxy.Core.Tests.Listeners;

public sealed class Http2PrefaceTests
{
    [Theory]
    [InlineData("", "NeedMoreData")]
    [InlineData("P", "NeedMoreData")]
    [InlineData("PRI * HTTP/2.0\r\n", "NeedMoreData")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "Http2")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04", "Http2")]
    [InlineData("GET / HTTP/1.1\r\n", "Http1")]
    [InlineData("POST", "Http1")]
    [InlineData("PRI * HTTP/1.1\r\n", "Http1")]
    public void Classify_Prefix_Verdict(string bytes, string expected)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(bytes));

        Assert.Equal(expected, Http2Preface.Classify(buffer).ToString());
    }

    [Fact]
    public async Task SniffAsync_PrefaceInTwoWrites_Http2AndNothingConsumed()
    {
        var pipe = new Pipe();
        var preface = Http2Preface.Bytes.ToArray();
        await pipe.Writer.WriteAsync(preface.AsMemory(0, 10));
        var sniff = ListenerManager.SniffAsync(pipe.Reader).AsTask();
        await Task.Delay(20);
        Assert.False(sniff.IsCompleted);

        await pipe.Writer.WriteAsync(preface.AsMemory(10));
        var protocol = await sniff.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpProtocols.Http2, protocol);
        // The next reader (Kestrel) sees every byte, without waiting for more.
        var read = await pipe.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(preface, read.Buffer.ToArray());
    }

    [Fact]
    public async Task SniffAsync_Http1Request_Http1AndBytesIntact()
    {
        var pipe = new Pipe();
        var request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await pipe.Writer.WriteAsync(request);

        var protocol = await ListenerManager.SniffAsync(pipe.Reader).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpProtocols.Http1, protocol);
        var read = await pipe.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(request, read.Buffer.ToArray());
    }

    [Fact]
    public async Task SniffAsync_PeerClosesMidPreface_Null()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Http2Preface.Bytes.ToArray().AsMemory(0, 5));
        await pipe.Writer.CompleteAsync();

        var protocol = await ListenerManager.SniffAsync(pipe.Reader).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Null(protocol);
    }
}
