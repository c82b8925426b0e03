using System.Net;
using System.Net.Sockets;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Tests.Transport;

/// <summary>
/// LoopSocket on real loopback connections, on a worker's epoll loop and (the fallback) on .NET's own socket engine.
/// </summary>
public sealed class LoopSocketTests : LoopSocketTestBase
{
    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Receive_WaitsForBytes_ThenReturnsThem(bool onLoop)
    {
        var (socket, peer) = await PairAsync(onLoop);
        var buffer = new byte[64];

        var pending = socket.ReceiveAsync(buffer, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(pending.IsCompleted, "nothing was sent yet");

        peer.Send("hello"u8);
        var read = await pending.WaitAsync(Timeout);

        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Fact]
    public async Task ParkedRead_ResumesOnTheLoopsThread()
    {
        var (socket, peer) = await PairAsync(onLoop: true);
        var resumedOnLoop = ResumeThreadAsync(socket);
        await Task.Delay(50);

        peer.Send("x"u8);

        Assert.True(await resumedOnLoop.WaitAsync(Timeout), "the continuation of a parked read runs on the loop's thread");
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task PingPong_ShortReadsThenNewBytes_EveryByteArrives(bool onLoop)
    {
        // A read that drains the socket marks it not ready; bytes that come later must still wake the next read (the
        // epoll edge), whatever their size relative to the buffer.
        var (socket, peer) = await PairAsync(onLoop);
        var buffer = new byte[1024];
        var reply = new byte[1024];
        for (var round = 1; round <= 200; round++)
        {
            var size = (round * 37 % 1000) + 1;
            var message = new byte[size];
            Array.Fill(message, (byte)round);
            peer.Send(message);

            var received = 0;
            while (received < size)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(received, size - received), CancellationToken.None).AsTask().WaitAsync(Timeout);
                Assert.True(read > 0, "the peer is still open");
                received += read;
            }

            Assert.All(buffer.AsSpan(0, size).ToArray(), b => Assert.Equal((byte)round, b));

            await socket.SendAsync(buffer.AsMemory(0, size)).AsTask().WaitAsync(Timeout);
            var echoed = 0;
            while (echoed < size)
            {
                echoed += peer.Receive(reply, echoed, size - echoed, SocketFlags.None);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task LargeWrite_WaitsForThePeerToRead_ThenEveryByteArrivesInOrder(bool onLoop)
    {
        var (socket, peer) = await PairAsync(onLoop);
        var data = new byte[8 * 1024 * 1024];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i * 31 >> 8);
        }

        var sending = socket.SendAsync(data).AsTask();
        await Task.Delay(100);
        Assert.False(sending.IsCompleted, "8 MiB do not fit the socket buffers while the peer reads nothing");

        var received = new byte[data.Length];
        var total = 0;
        var reader = Task.Run(() =>
        {
            while (total < received.Length)
            {
                var read = peer.Receive(received, total, received.Length - total, SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }
        });

        await sending.WaitAsync(Timeout);
        await reader.WaitAsync(Timeout);
        Assert.Equal(data.Length, total);
        Assert.True(data.AsSpan().SequenceEqual(received), "the bytes arrive as sent");
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Cancellation_FailsTheParkedRead_AndTheSocketStaysUsable(bool onLoop)
    {
        var (socket, peer) = await PairAsync(onLoop);
        var buffer = new byte[16];
        using var cancel = new CancellationTokenSource();

        var pending = socket.ReceiveAsync(buffer, cancel.Token).AsTask();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Timeout));

        peer.Send("after"u8);
        var read = await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.Equal("after", System.Text.Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Fact]
    public async Task Dispose_FailsTheParkedRead_AndLeavesTheLoop()
    {
        var (socket, _) = await PairAsync(onLoop: true);
        Assert.Equal(1, Loop.Registered);
        var pending = socket.ReceiveAsync(new byte[16], CancellationToken.None).AsTask();

        socket.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(Timeout));
        Assert.Equal(0, Loop.Registered);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task PeerCloses_ParkedReadReturnsZero(bool onLoop)
    {
        var (socket, peer) = await PairAsync(onLoop);
        var pending = socket.ReceiveAsync(new byte[16], CancellationToken.None).AsTask();
        await Task.Delay(50);

        peer.Shutdown(SocketShutdown.Send);

        Assert.Equal(0, await pending.WaitAsync(Timeout));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task PeerResets_ParkedReadFailsWithConnectionReset_AndSendsFail(bool onLoop)
    {
        // recv/send go to the descriptor directly on the loop: their errno must come back as .NET's own SocketError.
        var (socket, peer) = await PairAsync(onLoop);
        var pending = socket.ReceiveAsync(new byte[16], CancellationToken.None).AsTask();
        await Task.Delay(50);

        peer.LingerState = new LingerOption(true, 0);
        peer.Close();

        var failure = await Assert.ThrowsAsync<SocketException>(() => pending.WaitAsync(Timeout));
        Assert.Equal(SocketError.ConnectionReset, failure.SocketErrorCode);
        var sendFailure = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                await socket.SendAsync(new byte[1024]).AsTask().WaitAsync(Timeout);
            }
        });
        Assert.True(
            sendFailure.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown,
            "a send to a reset connection fails with ECONNRESET or EPIPE, got " + sendFailure.SocketErrorCode);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task BytesThenEnd_BothSeenByTheLoopBeforeAnyRead_TheReadAfterTheBytesReturnsZero(bool onLoop)
    {
        // The loop handles the edge for "bytes and end of stream" before anyone reads: the read that takes the bytes is
        // short, but the end is still pending and the next read must see it, not wait for an edge that never comes.
        var (socket, peer) = await PairAsync(onLoop);
        var buffer = new byte[64];
        peer.Send("last words"u8);
        peer.Shutdown(SocketShutdown.Send);
        await Task.Delay(100);

        Assert.Equal(10, await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Timeout));
        Assert.Equal(0, await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Peek_LeavesTheBytes_AShortPeekWaitsForMore_AReadTakesThemAll()
    {
        var (socket, peer) = await PairAsync(onLoop: true);
        var buffer = new byte[16];
        peer.Send("abc"u8);
        await Task.Delay(50);

        Assert.Equal(3, await socket.ReceiveAsync(buffer, SocketFlags.Peek, CancellationToken.None).AsTask().WaitAsync(Timeout));

        var secondPeek = socket.ReceiveAsync(buffer, SocketFlags.Peek, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(secondPeek.IsCompleted, "a peek after a short one waits for new bytes");

        peer.Send("defg"u8);
        Assert.Equal(7, await secondPeek.WaitAsync(Timeout));

        // The peeked bytes are still in the socket; a real read after a short peek does not wait for another edge.
        var read = await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.Equal("abcdefg", System.Text.Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Connect_ToAListener_Connects_AndEchoes(bool onLoop)
    {
        using var listener = Listen();
        var target = (IPEndPoint)listener.LocalEndPoint!;
        var accepting = listener.AcceptAsync();

        var socket = await LoopSocket.ConnectAsync(new Socket(SocketType.Stream, ProtocolType.Tcp), target, onLoop ? Loop : null, CancellationToken.None).AsTask().WaitAsync(Timeout);
        Owned.Add(socket);
        using var peer = await accepting.WaitAsync(Timeout);

        await socket.SendAsync("ping"u8.ToArray()).AsTask().WaitAsync(Timeout);
        var buffer = new byte[4];
        Assert.Equal(4, peer.Receive(buffer));
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(buffer));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Connect_ToAClosedPort_FailsWithConnectionRefused(bool onLoop)
    {
        int port;
        using (var closed = Listen())
        {
            port = ((IPEndPoint)closed.LocalEndPoint!).Port;
        }

        var error = await Assert.ThrowsAsync<SocketException>(() =>
            LoopSocket.ConnectAsync(new Socket(SocketType.Stream, ProtocolType.Tcp), new IPEndPoint(IPAddress.Loopback, port), onLoop ? Loop : null, CancellationToken.None).AsTask().WaitAsync(Timeout));

        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(0, Loop.Registered);
    }

    [Fact]
    public async Task Detach_LeavesTheLoop_AndDotNetsEngineServesTheSocketFromThen()
    {
        var (socket, peer) = await PairAsync(onLoop: true);
        peer.Send("one"u8);
        var buffer = new byte[16];
        Assert.Equal(3, await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Timeout));

        var detached = socket.Detach();

        Assert.Equal(0, Loop.Registered);
        Assert.True(detached.Blocking, "blocking mode restored for Kestrel");
        var pending = detached.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask();
        peer.Send("two"u8);
        var read = await pending.WaitAsync(Timeout);
        Assert.Equal("two", System.Text.Encoding.ASCII.GetString(buffer, 0, read));
    }

    private static async Task<bool> ResumeThreadAsync(LoopSocket socket)
    {
        await socket.ReceiveAsync(new byte[8], CancellationToken.None).ConfigureAwait(false);
        return socket.Loop!.IsCurrentThread;
    }
}
