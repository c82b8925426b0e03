using SharpProxy.Xds.Ads;
using SharpProxy.Xds.Api.Config.Cluster.V3;
using SharpProxy.Xds.Api.Config.Route.V3;

namespace SharpProxy.Xds.Tests.Ads;

/// <summary>
/// Unknown fields are read from the message's wire form: a number our descriptors lack, or a known number sent with a
/// wire type its declared type cannot have (the parser keeps both as unknown); each number once, in arrival order.
/// </summary>
public sealed class UnknownFieldsWireTests
{
    [Fact]
    public void UnknownNumbers_ReportedOnceEach_AfterTheKnownFields()
    {
        // name = "c" (#1), then #999 twice and #998 (varints): fields our Cluster does not describe.
        byte[] wire = [0x0A, 0x01, (byte)'c', 0xB8, 0x3E, 0x01, 0xB8, 0x3E, 0x02, 0xB0, 0x3E, 0x03];
        var cluster = Cluster.Parser.ParseFrom(wire);

        var found = UnknownFields.Find(cluster, "cluster 'c'", []);

        Assert.Equal("c", cluster.Name);
        Assert.Equal(["cluster 'c'.#999", "cluster 'c'.#998"], found);
    }

    [Fact]
    public void KnownNumberWithTheWrongWireType_Reported()
    {
        // #1 (name, a string) sent as a varint: not a name, so the parser keeps it as an unknown field.
        byte[] wire = [0x08, 0x05];
        var cluster = Cluster.Parser.ParseFrom(wire);

        var found = UnknownFields.Find(cluster, "cluster", []);

        Assert.Equal("", cluster.Name);
        Assert.Equal(["cluster.#1"], found);
    }

    [Fact]
    public void RepeatedNumbers_PackedOrOnePerTag_AreKnown()
    {
        // retriable_status_codes (#7, repeated uint32): 503 packed, then 504 as its own varint.
        byte[] wire = [0x3A, 0x02, 0xF7, 0x03, 0x38, 0xF8, 0x03];
        var policy = RetryPolicy.Parser.ParseFrom(wire);

        var found = UnknownFields.Find(policy, "retry_policy", []);

        Assert.Equal([503u, 504u], policy.RetriableStatusCodes);
        Assert.Empty(found);
    }

    [Fact]
    public void UnknownFieldInANestedMessage_NamedByItsPath()
    {
        // Cluster.circuit_breakers (#10) holding an unknown #99 (varint 1).
        byte[] wire = [0x52, 0x03, 0x98, 0x06, 0x01];
        var cluster = Cluster.Parser.ParseFrom(wire);

        var found = UnknownFields.Find(cluster, "cluster", []);

        Assert.Equal(["cluster.circuit_breakers.#99"], found);
    }
}
