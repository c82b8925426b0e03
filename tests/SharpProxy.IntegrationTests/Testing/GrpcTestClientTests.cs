using System.Net;
using SharpProxy.Testing;

namespace SharpProxy.IntegrationTests.Testing;

/// <summary>The hand-rolled gRPC client against the echo upstream directly (no proxy).</summary>
public sealed class GrpcTestClientTests : IAsyncLifetime
{
    private EchoUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await EchoUpstream.StartAsync("v1");

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    [Fact]
    public async Task BidiEcho_TenMessages_EchoedInOrderWithStatusOkInTrailers()
    {
        using var client = new GrpcTestClient(_upstream.Http2Uri);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var messages = GrpcMessages.Create(10);

        var result = await client.BidiEchoAsync(messages, cts.Token);

        Assert.Equal(HttpStatusCode.OK, result.HttpStatus);
        Assert.Equal(0, result.GrpcStatus);
        Assert.True(result.StatusInTrailers, result.ToString());
        Assert.Equal(messages.Count, result.Messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            Assert.Equal(messages[i], result.Messages[i]);
        }
    }

    [Fact]
    public async Task ServerStream_Count_ThatManyCopies()
    {
        using var client = new GrpcTestClient(_upstream.Http2Uri);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var result = await client.ServerStreamAsync([9, 8, 7], 7, cts.Token);

        Assert.Equal(0, result.GrpcStatus);
        Assert.Equal(7, result.Messages.Count);
        Assert.All(result.Messages, m => Assert.Equal(new byte[] { 9, 8, 7 }, m));
    }

    [Fact]
    public async Task Fail_Always_TrailersOnlyStatus13WithMessage()
    {
        using var client = new GrpcTestClient(_upstream.Http2Uri);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var result = await client.FailAsync(cts.Token);

        Assert.Equal(HttpStatusCode.OK, result.HttpStatus);
        Assert.Equal(EchoUpstream.FailStatus, result.GrpcStatus);
        Assert.Equal(EchoUpstream.FailMessage, result.GrpcMessage);
        Assert.False(result.StatusInTrailers, result.ToString());
        Assert.Empty(result.Messages);
    }

    [Fact]
    public async Task Grpc_OverHttp1_RejectedWith415()
    {
        using var client = TestHttp.Http1(_upstream.Http1Uri);
        using var content = new ByteArrayContent(GrpcFrame.Encode([1]));
        content.Headers.ContentType = new(GrpcFrame.ContentType);

        using var response = await client.PostAsync(EchoUpstream.BidiEchoPath, content);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public void GrpcFrame_Encode_BigEndianLengthPrefix()
    {
        var frame = GrpcFrame.Encode(new byte[300]);

        Assert.Equal(new byte[] { 0, 0, 0, 1, 44 }, frame[..5]);
        Assert.Equal(305, frame.Length);
    }

    [Fact]
    public async Task GrpcFrame_TruncatedMessage_Throws()
    {
        using var stream = new MemoryStream(GrpcFrame.Encode(new byte[10])[..8]);

        await Assert.ThrowsAsync<InvalidDataException>(async () => await GrpcFrame.ReadAsync(stream, CancellationToken.None));
    }
}
