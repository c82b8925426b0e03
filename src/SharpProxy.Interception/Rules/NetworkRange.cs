using System.Net;
using System.Net.Sockets;
using SharpProxy.Interception.Options;

namespace SharpProxy.Interception.Rules;

/// <summary>One family's half of a <c>-i</c>/<c>-x</c> value (Istio's <c>config.NetworkRange</c>).</summary>
internal sealed record NetworkRange(bool IsWildcard, IReadOnlyList<string> Cidrs, bool HasLoopbackIP)
{
    /// <summary>
    /// Istio's <c>SeparateV4V6</c>: <c>*</c> is a wildcard for both families, otherwise the (already validated and
    /// normalised) CIDRs are split by family; a loopback CIDR sets <see cref="HasLoopbackIP"/>.
    /// </summary>
    public static (NetworkRange V4, NetworkRange V6) Separate(string cidrList)
    {
        if (cidrList == "*")
        {
            return (new NetworkRange(true, [], false), new NetworkRange(true, [], false));
        }

        var v4 = new List<string>();
        var v6 = new List<string>();
        bool v4Loopback = false, v6Loopback = false;
        foreach (var cidr in IptablesOptions.Split(cidrList))
        {
            var address = IPAddress.Parse(cidr[..cidr.IndexOf('/', StringComparison.Ordinal)]);
            if (address.AddressFamily == AddressFamily.InterNetwork)
            {
                v4.Add(cidr);
                v4Loopback |= IPAddress.IsLoopback(address);
            }
            else
            {
                v6.Add(cidr);
                v6Loopback |= IPAddress.IsLoopback(address);
            }
        }

        return (new NetworkRange(false, v4, v4Loopback), new NetworkRange(false, v6, v6Loopback));
    }
}
