using System.Net;
using System.Net.Sockets;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Tests.Transport;

/// <summary>What the event-loop socket tests share: one worker loop, connected loopback pairs, and their disposal.</summary>
public abstract class LoopSocketTestBase : IDisposable
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>true = the socket on the worker's loop, false = on .NET's own engine (the fallback).</summary>
    public static TheoryData<bool> Modes => new() { true, false };

    private protected SocketEventLoop Loop { get; } = new(0);

    /// <summary>Disposed with the test, in order.</summary>
    protected List<IDisposable> Owned { get; } = [];

    public void Dispose()
    {
        foreach (var owned in Owned)
        {
            owned.Dispose();
        }

        Loop.Dispose();
        GC.SuppressFinalize(this);
    }

    protected static Socket Listen()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8);
        return listener;
    }

    /// <summary>A connected pair on 127.0.0.1: the accepted side wrapped in a LoopSocket, the client side plain.</summary>
    private protected async Task<(LoopSocket Socket, Socket Peer)> PairAsync(bool onLoop = true)
    {
        using var listener = Listen();
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Owned.Add(peer);
        var accepting = listener.AcceptAsync();
        await peer.ConnectAsync(listener.LocalEndPoint!);
        var accepted = await accepting.WaitAsync(Timeout);
        var socket = new LoopSocket(accepted, onLoop ? Loop : null);
        Owned.Add(socket);
        return (socket, peer);
    }
}
