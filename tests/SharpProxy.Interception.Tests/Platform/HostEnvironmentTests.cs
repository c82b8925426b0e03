using System.Net;
using SharpProxy.Interception.Platform;

namespace SharpProxy.Interception.Tests.Platform;

public sealed class HostEnvironmentTests
{
    private static IPAddress[] Ips(params string[] s) => s.Select(IPAddress.Parse).ToArray();

    [Fact]
    public void DetectHostIP_FirstUsableIsIPv4_IPv6Disabled()
    {
        var r = HostEnvironment.DetectHostIP(Ips("127.0.0.1", "::1", "169.254.1.1", "fe80::1", "10.1.0.5", "fd00::5"), dualStack: false);

        Assert.Equal((IPAddress.Parse("10.1.0.5"), false), r);
    }

    [Fact]
    public void DetectHostIP_DualStack_KeepsFirstAddressButEnablesIPv6()
    {
        var r = HostEnvironment.DetectHostIP(Ips("10.1.0.5", "fd00::5"), dualStack: true);

        Assert.Equal((IPAddress.Parse("10.1.0.5"), true), r);
    }

    [Fact]
    public void DetectHostIP_OnlyIPv6_IPv6Enabled()
    {
        Assert.Equal((IPAddress.Parse("fd00::5"), true), HostEnvironment.DetectHostIP(Ips("fe80::2", "fd00::5"), dualStack: false));
    }

    [Fact]
    public void DetectHostIP_OnlyLoopbackAndLinkLocal_Null()
    {
        Assert.Null(HostEnvironment.DetectHostIP(Ips("127.0.0.1", "::1", "fe80::1", "169.254.0.9"), dualStack: true));
    }

    [Fact]
    public void ReadDnsServers_ResolvConf_SplitsByFamily()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "# comment\nsearch svc.cluster.local\nnameserver 10.96.0.10\nnameserver\tfd00::a\noptions ndots:5\nnameserver bogus\n");
            var env = new HostEnvironment { Variables = new Dictionary<string, string>(), LocalAddresses = _ => [], ResolvConfPath = path };

            var (v4, v6) = env.ReadDnsServers();

            Assert.Equal(["10.96.0.10"], v4);
            Assert.Equal(["fd00::a"], v6);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ReadLocalAddresses_CurrentNamespace_IncludesLoopback()
    {
        Assert.Contains(HostEnvironment.ReadLocalAddresses(null), IPAddress.IsLoopback);
    }
}
