using System.Net;
using System.Net.Sockets;

namespace SharpProxy.Testing;

public enum ConnectOutcome
{
    Connected,
    Refused,
    TimedOut,

    /// <summary>The connect was reset: typically the listener closed while the handshake was in its queue.</summary>
    Reset,
}

/// <summary>Raw TCP helpers for loopback: connection probes and ports known to be closed.</summary>
public static class TcpProbe
{
    /// <summary>Tries one TCP connect to 127.0.0.1:<paramref name="port"/>; closes the socket at once if it connects.</summary>
    public static async Task<ConnectOutcome> TryConnectAsync(int port, TimeSpan timeout)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token).ConfigureAwait(false);
            socket.LingerState = new LingerOption(true, 0);
            return ConnectOutcome.Connected;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return ConnectOutcome.Refused;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return ConnectOutcome.Reset;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return ConnectOutcome.TimedOut;
        }
    }

    /// <summary>
    /// A loopback port on which nothing listens: bound by the OS (port 0), then released.
    /// Checked to refuse connections before it is returned.
    /// </summary>
    public static async Task<int> GetClosedPortAsync()
    {
        for (var attempt = 0; attempt < 10; attempt++)
        {
            int port;
            using (var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                port = ((IPEndPoint)listener.LocalEndPoint!).Port;
            }

            if (await TryConnectAsync(port, TimeSpan.FromSeconds(2)).ConfigureAwait(false) == ConnectOutcome.Refused)
            {
                return port;
            }
        }

        throw new InvalidOperationException("Could not find a closed loopback port in 10 attempts.");
    }
}
