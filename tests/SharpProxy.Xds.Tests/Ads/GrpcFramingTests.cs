using Google.Protobuf;
using SharpProxy.Xds.Api.Config.Core.V3;
using SharpProxy.Xds.Api.Service.Discovery.V3;
using SharpProxy.Xds.Grpc;

namespace SharpProxy.Xds.Tests.Ads;

public sealed class GrpcFramingTests
{
    /// <summary>The hand-encoded first CDS request from the xDS notes (gRPC prefix, node id, type URL), byte for byte.</summary>
    [Fact]
    public void FirstCdsRequest_MatchesTheReferenceBytes()
    {
        var request = new DiscoveryRequest
        {
            Node = new Node { Id = "sidecar~10.1.2.3~demo-7d4b9.default~default.svc.cluster.local" },
            TypeUrl = "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        };

        Assert.Equal(
            "0000000076123f0a3d736964656361727e31302e312e322e337e64656d6f2d37643462392e64656661756c747e64656661756c742e7376632e636c75737465722e6c6f63616c2233747970652e676f6f676c65617069732e636f6d2f656e766f792e636f6e6669672e636c75737465722e76332e436c7573746572",
            Convert.ToHexStringLower(GrpcFraming.Encode(request)));
    }

    [Fact]
    public void NackErrorDetail_MatchesTheReferenceBytes()
    {
        var request = new DiscoveryRequest { ErrorDetail = new Api.Rpc.Status { Code = 13, Message = "bad" } };
        Assert.Equal("3207080d1203626164", Convert.ToHexStringLower(request.ToByteArray()));
    }

    [Fact]
    public async Task Read_ReassemblesMessagesSplitAcrossReads()
    {
        var first = new DiscoveryResponse { VersionInfo = "1", Nonce = "a", TypeUrl = "t" };
        var second = new DiscoveryResponse { VersionInfo = "2", Nonce = "b", TypeUrl = "t" };
        var bytes = GrpcFraming.Encode(first).Concat(GrpcFraming.Encode(second)).ToArray();
        using var stream = new TrickleStream(bytes);

        var one = await GrpcFraming.ReadAsync(stream, DiscoveryResponse.Parser, CancellationToken.None);
        var two = await GrpcFraming.ReadAsync(stream, DiscoveryResponse.Parser, CancellationToken.None);
        var end = await GrpcFraming.ReadAsync(stream, DiscoveryResponse.Parser, CancellationToken.None);

        Assert.Equal(first, one);
        Assert.Equal(second, two);
        Assert.Null(end);
    }

    [Theory]
    [InlineData("000000", "prefix")]
    [InlineData("0000000005aabb", "inside a message")]
    [InlineData("0100000000", "compressed")]
    [InlineData("00ffffffff", "limit")]
    public async Task Read_RejectsBrokenFrames(string hex, string reason)
    {
        using var stream = new MemoryStream(Convert.FromHexString(hex));
        var ex = await Assert.ThrowsAsync<GrpcException>(() => GrpcFraming.ReadAsync(stream, DiscoveryResponse.Parser, CancellationToken.None));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Hands out one byte per read, the worst split a transport can produce.</summary>
    private sealed class TrickleStream(byte[] data) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(1, buffer.Length)], cancellationToken);
    }
}
