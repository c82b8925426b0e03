using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Snapshot;

namespace SharpProxy.Core.Tests.Snapshot;

/// <summary>Envoy's hand-off lookup for a restored destination: exact ip:port, then the wildcard listener of that port.</summary>
public sealed class HandOffLookupTests
{
    private static readonly ProxySnapshot Snapshot = new SnapshotCompiler(1).Compile(
        new ProxyConfig
        {
            Listeners =
            [
                Listener("virtualOutbound", "0.0.0.0", 15001),
                Listener("10.96.0.10_80", "10.96.0.10", 80),
                Listener("0.0.0.0_80", "0.0.0.0", 80),
                Listener("[::]_9090", "::", 9090),
                Listener("fd00::1_443", "fd00::1", 443),
            ],
        },
        previous: null);

    [Theory]
    [InlineData("10.96.0.10", 80, "10.96.0.10_80")]
    [InlineData("10.96.0.11", 80, "0.0.0.0_80")]
    [InlineData("::ffff:10.96.0.10", 80, "10.96.0.10_80")]
    [InlineData("10.1.2.3", 9090, "[::]_9090")]
    [InlineData("fd00::1", 443, "fd00::1_443")]
    public void FindListenerForDestination_ExactThenWildcard(string address, int port, string expected)
    {
        var listener = Snapshot.FindListenerForDestination(new IPEndPoint(IPAddress.Parse(address), port));

        Assert.Equal(expected, listener?.Config.Name);
    }

    [Theory]
    [InlineData("10.96.0.10", 81)]
    [InlineData("fd00::2", 443)]
    [InlineData("fd00::2", 80)]
    public void FindListenerForDestination_NoListener_Null(string address, int port)
    {
        Assert.Null(Snapshot.FindListenerForDestination(new IPEndPoint(IPAddress.Parse(address), port)));
    }

    private static ListenerConfig Listener(string name, string address, int port) =>
        new() { Name = name, Address = address, Port = port, BindToPort = name == "virtualOutbound" };
}
