using System.Net;
using System.Net.Sockets;

namespace SharpProxy.Core.Upstream;

/// <summary>Opens upstream TCP connections the way a cluster asks: bound to its upstream_bind_config source when set.</summary>
internal static class UpstreamConnector
{
    public static async ValueTask<Socket> ConnectAsync(ClusterState cluster, EndPoint target, CancellationToken cancellationToken)
    {
        target = CreateSocket(cluster, target, out var socket);
        try
        {
            await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return socket;
    }

    /// <summary>
    /// A TCP socket for <paramref name="target"/>, bound to the cluster's source address when it has one; returns the
    /// address to connect to (IPv4 rather than IPv4-mapped when bound).
    /// </summary>
    public static EndPoint CreateSocket(ClusterState cluster, EndPoint target, out Socket socket)
    {
        var bind = cluster.UpstreamBindEndPoint;
        if (bind is not null && target is IPEndPoint ip)
        {
            var destination = ip.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ip.Address.MapToIPv4(), ip.Port) : ip;
            socket = new Socket(destination.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

            // A source address of the other family cannot be used; Envoy then needs extra_source_addresses,
            // which SharpProxy does not honour, so such connections leave from the kernel's choice.
            if (bind.AddressFamily == destination.AddressFamily)
            {
                try
                {
                    socket.Bind(bind);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }

            return destination;
        }

        socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        return target;
    }
}
