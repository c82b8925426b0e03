using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace SharpProxy.Interception;

/// <summary>
/// Recovers the destination a connection had before iptables/nftables REDIRECT (or DNAT) rewrote it, using
/// <c>getsockopt(SO_ORIGINAL_DST)</c> as Envoy's original_dst listener filter does.
/// </summary>
/// <remarks>
/// IPv4 uses level <c>SOL_IP</c> (0), option <c>SO_ORIGINAL_DST</c> (80), returning a <c>struct sockaddr_in</c>;
/// IPv6 uses level <c>SOL_IPV6</c> (41), option <c>IP6T_SO_ORIGINAL_DST</c> (80), returning a <c>struct sockaddr_in6</c>.
/// The kernel fails with ENOENT when the connection has no conntrack entry, and (on the 6.x kernels tested) also when
/// it was not NATed; some kernels instead return the socket's own local address for a tracked but un-NATed
/// connection, so callers compare the result with <see cref="Socket.LocalEndPoint"/> to know whether the connection
/// was redirected. TPROXY does not NAT at all: the
/// accepted socket's local address already is the original destination.
/// Public because the data plane (SharpProxy.Core's listeners) reads it on every redirected accept, and the capture
/// validator here reads it too: one reader, owned by the project that owns capture.
/// </remarks>
public static class OriginalDestination
{
    private const int SolIp = 0;
    private const int SolIpv6 = 41;
    private const int SoOriginalDst = 80;
    private const int Ip6tSoOriginalDst = 80;

    private const int SockaddrInSize = 16;
    private const int SockaddrIn6Size = 28;
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    /// <summary>Reads the pre-NAT destination of an accepted TCP connection.</summary>
    /// <returns>False when the socket is not an IP socket, is closed, or the kernel has no original destination.</returns>
    public static bool TryGet(Socket socket, out IPEndPoint? endpoint)
    {
        ArgumentNullException.ThrowIfNull(socket);
        endpoint = null;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            if (socket.AddressFamily == AddressFamily.InterNetwork)
            {
                return TryGetV4(socket, out endpoint);
            }

            if (socket.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }

            // A dual-mode socket carrying an IPv4 connection (::ffff:a.b.c.d) has an IPv4 conntrack entry.
            if (socket.LocalEndPoint is IPEndPoint { Address.IsIPv4MappedToIPv6: true })
            {
                return TryGetV4(socket, out endpoint);
            }

            return TryGetV6(socket, out endpoint);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private static bool TryGetV4(Socket socket, out IPEndPoint? endpoint)
    {
        endpoint = null;
        Span<byte> buffer = stackalloc byte[SockaddrInSize];
        int length = socket.GetRawSocketOption(SolIp, SoOriginalDst, buffer);
        return TryParse(buffer[..length], out endpoint);
    }

    private static bool TryGetV6(Socket socket, out IPEndPoint? endpoint)
    {
        endpoint = null;
        Span<byte> buffer = stackalloc byte[SockaddrIn6Size];
        int length = socket.GetRawSocketOption(SolIpv6, Ip6tSoOriginalDst, buffer);
        return TryParse(buffer[..length], out endpoint);
    }

    /// <summary>Parses a Linux <c>sockaddr_in</c> or <c>sockaddr_in6</c> (family in host order, port in network order).</summary>
    internal static bool TryParse(ReadOnlySpan<byte> sockaddr, out IPEndPoint? endpoint)
    {
        endpoint = null;
        if (sockaddr.Length < 2)
        {
            return false;
        }

        ushort family = BitConverter.ToUInt16(sockaddr[..2]);
        if (family == AfInet && sockaddr.Length >= 8)
        {
            int port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..4]);
            endpoint = new IPEndPoint(new IPAddress(sockaddr[4..8]), port);
            return true;
        }

        if (family == AfInet6 && sockaddr.Length >= 24)
        {
            int port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..4]);
            long scope = sockaddr.Length >= SockaddrIn6Size ? BitConverter.ToUInt32(sockaddr[24..28]) : 0;
            endpoint = new IPEndPoint(new IPAddress(sockaddr[8..24], scope), port);
            return true;
        }

        return false;
    }
}
