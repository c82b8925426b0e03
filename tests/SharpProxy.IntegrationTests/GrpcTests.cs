using System.Net;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>gRPC through the proxy: h2c downstream, HTTP/2 upstream cluster, hand-framed messages, status from trailers.</summary>
public sealed class GrpcTests(ForwardingProxyFixture fixture, ITestOutputHelper output) : IClassFixture<ForwardingProxyFixture>, IDisposable
{
    private ProxyTestBed Bed => fixture.Bed;

    public void Dispose()
    {
        try
        {
            output.WriteLine(fixture.Bed.Proxy.Describe(8 * 1024));
        }
        catch (InvalidOperationException)
        {
        }
    }

    [Fact]
    public async Task BidiEcho_TenMessagesInLockStep_AllEchoedAndStatusOkFromTrailers()
    {
        using var client = new GrpcTestClient(Bed.ListenerUri);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var messages = GrpcMessages.Create(10);
        var before = Bed.V1.RequestCount;

        var result = await client.BidiEchoAsync(messages, cts.Token);

        Assert.True(result.HttpStatus == HttpStatusCode.OK, $"{result}\n{Bed.Proxy.Describe(8 * 1024)}");
        Assert.Equal(HttpVersion.Version20, result.HttpVersion);
        Assert.Equal(GrpcFrame.ContentType, result.ContentType);
        Assert.Equal(messages.Count, result.Messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            Assert.Equal(messages[i], result.Messages[i]);
        }

        Assert.Equal(0, result.GrpcStatus);
        Assert.True(result.StatusInTrailers, $"grpc-status must arrive in trailers after the messages: {result}");
        Assert.Equal(before + 1, Bed.V1.RequestCount);
    }

    [Fact]
    public async Task BidiEcho_ThreeConcurrentStreamsOnOneConnection_EachGetsItsOwnEchoes()
    {
        using var client = new GrpcTestClient(Bed.ListenerUri);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var streams = Enumerable.Range(0, 3)
            .Select(s => (IReadOnlyList<byte[]>)Enumerable.Range(0, 5).Select(i => new[] { (byte)s, (byte)i, (byte)(s * i) }).ToList())
            .ToList();

        var results = await Task.WhenAll(streams.Select(messages => client.BidiEchoAsync(messages, cts.Token)));

        for (var s = 0; s < streams.Count; s++)
        {
            Assert.Equal(0, results[s].GrpcStatus);
            Assert.Equal(streams[s], results[s].Messages);
        }
    }

    [Fact]
    public async Task ServerStream_FiftyCopies_AllArriveThenStatusOk()
    {
        using var client = new GrpcTestClient(Bed.ListenerUri);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        byte[] payload = [1, 2, 3, 4, 5, 6, 7];

        var result = await client.ServerStreamAsync(payload, 50, cts.Token);

        Assert.True(result.HttpStatus == HttpStatusCode.OK, $"{result}\n{Bed.Proxy.Describe(8 * 1024)}");
        Assert.Equal(50, result.Messages.Count);
        Assert.All(result.Messages, m => Assert.Equal(payload, m));
        Assert.Equal(0, result.GrpcStatus);
        Assert.True(result.StatusInTrailers, result.ToString());
    }

    [Fact]
    public async Task Fail_TrailersOnlyResponse_Status13AndMessageReachClient()
    {
        using var client = new GrpcTestClient(Bed.ListenerUri);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var result = await client.FailAsync(cts.Token);

        Assert.True(result.HttpStatus == HttpStatusCode.OK, $"{result}\n{Bed.Proxy.Describe(8 * 1024)}");
        Assert.Equal(EchoUpstream.FailStatus, result.GrpcStatus);
        Assert.Equal(EchoUpstream.FailMessage, result.GrpcMessage);
        Assert.Empty(result.Messages);
    }
}
