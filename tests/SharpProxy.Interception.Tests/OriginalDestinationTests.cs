using System.Net;
using System.Net.Sockets;
using SharpProxy.Interception.Tests.TestSupport;

namespace SharpProxy.Interception.Tests;

public sealed class OriginalDestinationTests
{
    private const int ListenerPort = 15001;

    [Fact]
    public void TryParse_SockaddrIn_PortInNetworkOrder()
    {
        // AF_INET=2 (host order), port 8080 = 0x1F90 (network order), 10.96.0.10, zero padding.
        byte[] raw = [2, 0, 0x1F, 0x90, 10, 96, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0];

        Assert.True(OriginalDestination.TryParse(raw, out var endpoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.96.0.10"), 8080), endpoint);
    }

    [Fact]
    public void TryParse_SockaddrIn6_PortInNetworkOrder()
    {
        var address = IPAddress.Parse("fd00::1234").GetAddressBytes();
        byte[] raw = [10, 0, 0x01, 0xBB, 0, 0, 0, 0, .. address, 0, 0, 0, 0];

        Assert.True(OriginalDestination.TryParse(raw, out var endpoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("fd00::1234"), 443), endpoint);
    }

    [Fact]
    public void TryParse_UnknownFamilyOrShort_ReturnsFalse()
    {
        Assert.False(OriginalDestination.TryParse([1, 0, 0, 0], out _));
        Assert.False(OriginalDestination.TryParse([2, 0, 1], out _));
    }

    [Fact]
    public void TryGet_UnconnectedSocket_ReturnsFalse()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        Assert.False(OriginalDestination.TryGet(socket, out var endpoint));
        Assert.Null(endpoint);
    }

    [Fact]
    public void TryGet_LoopbackRedirectInNamespace_ReturnsPreRedirectAddress()
    {
        using var ns = TestNetworkNamespace.Create("iptables");
        ns.Must("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", "8080",
            "-j", "REDIRECT", "--to-ports", ListenerPort.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var original = AcceptOneAndRead(ns, IPAddress.Loopback, new IPEndPoint(IPAddress.Loopback, 8080));

        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 8080), original);
    }

    [Fact]
    public void TryGet_IPv6LoopbackRedirectInNamespace_ReturnsPreRedirectAddress()
    {
        using var ns = TestNetworkNamespace.Create("ip6tables");
        ns.Must("ip6tables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "::1", "--dport", "8080",
            "-j", "REDIRECT", "--to-ports", ListenerPort.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var original = AcceptOneAndRead(ns, IPAddress.IPv6Loopback, new IPEndPoint(IPAddress.IPv6Loopback, 8080));

        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 8080), original);
    }

    [Theory]
    [InlineData("10.99.0.1", false)]
    [InlineData("10.99.0.1", true)]
    [InlineData("fd00:99::1", false)]
    public void TryGet_IstioOutboundCapture_ReturnsServiceAddress(string service, bool dualModeListener)
    {
        using var ns = TestNetworkNamespace.Create("iptables", "ip6tables");
        ns.AddPodInterface();
        var apply = CommandHarness.Run(
            ["-p", ListenerPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-u", "1337", "-i", "*", "-b", "*", "-6", "--network-namespace", ns.Path],
            new Dictionary<string, string>());
        Assert.True(apply.ExitCode == 0, apply.ToString());

        var target = new IPEndPoint(IPAddress.Parse(service), 8080);
        var listenOn = dualModeListener || target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;

        var original = AcceptOneAndRead(ns, listenOn, target);

        Assert.Equal(target, original);
    }

    [Fact]
    public void TryGet_ConnectionNotRedirected_ReturnsFalseOrItsOwnLocalAddress()
    {
        using var ns = TestNetworkNamespace.Create("iptables");
        ns.Must("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9", "-j", "RETURN");

        var (original, local) = ns.Run(() =>
        {
            using var listener = Listen(IPAddress.Loopback);
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            client.Connect(new IPEndPoint(IPAddress.Loopback, ListenerPort));
            using var accepted = listener.Accept();
            bool ok = OriginalDestination.TryGet(accepted, out var ep);
            return (ok ? ep : null, (IPEndPoint)accepted.LocalEndPoint!);
        });

        // Without a NAT binding the kernel either fails (ENOENT, as kernel 6.x does here) or reports the unchanged local
        // address (seen on other kernels): never another address. Callers compare with LocalEndPoint either way.
        Assert.True(original is null || original.Equals(local), $"unexpected original destination {original}");
    }

    /// <summary>Listens on <paramref name="listenOn"/>:15001 inside the namespace, connects to <paramref name="target"/>,
    /// and returns SO_ORIGINAL_DST of the accepted connection.</summary>
    private static IPEndPoint AcceptOneAndRead(TestNetworkNamespace ns, IPAddress listenOn, IPEndPoint target) =>
        ns.Run(() =>
        {
            using var listener = Listen(listenOn);
            using var client = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            client.Connect(target);
            using var accepted = listener.Accept();
            Assert.True(OriginalDestination.TryGet(accepted, out var original), $"SO_ORIGINAL_DST failed on {accepted.LocalEndPoint}");
            var ep = original!;
            return ep.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ep.Address.MapToIPv4(), ep.Port) : ep;
        });

    private static Socket Listen(IPAddress address)
    {
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            listener.DualMode = address.Equals(IPAddress.IPv6Any);
        }

        listener.Bind(new IPEndPoint(address, ListenerPort));
        listener.Listen(8);
        return listener;
    }
}
