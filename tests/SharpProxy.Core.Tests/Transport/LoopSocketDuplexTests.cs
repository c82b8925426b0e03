using System.Net;
using System.Net.Sockets;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Tests.Transport;

/// <summary>
/// One parked read and one parked write on the same LoopSocket at once, as the HTTP/1.1 fast path's full-duplex body
/// forwarding uses them (the body pump sends on the upstream socket while the response relay reads from it): each
/// completes on its own readiness, and cancelling or failing one leaves the other as it was.
/// </summary>
public sealed class LoopSocketDuplexTests : LoopSocketTestBase
{
    private const int LargeWrite = 8 * 1024 * 1024;

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task ParkedReadAndParkedWrite_AtOnce_EachCompletesOnItsOwnReadiness(bool onLoop)
    {
        var (socket, peer) = await PairAsync(onLoop);
        var data = Pattern(LargeWrite);
        var buffer = new byte[64];

        var reading = socket.ReceiveAsync(buffer, CancellationToken.None).AsTask();
        var sending = socket.SendAsync(data).AsTask();
        await Task.Delay(100);
        Assert.False(reading.IsCompleted, "the peer sent nothing yet");
        Assert.False(sending.IsCompleted, "8 MiB do not fit the socket buffers while the peer reads nothing");

        // Bytes from the peer complete the read while the write stays parked.
        peer.Send("ping"u8);
        var read = await reading.WaitAsync(Timeout);
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(buffer, 0, read));
        Assert.False(sending.IsCompleted, "the peer still reads nothing");

        // A second read parks again beside the write; the peer reading completes the write, then its bytes the read.
        var readingAgain = socket.ReceiveAsync(buffer, CancellationToken.None).AsTask();
        var received = await ReadAllAsync(peer, data.Length);
        await sending.WaitAsync(Timeout);
        Assert.True(data.AsSpan().SequenceEqual(received), "the bytes arrive as sent");
        Assert.False(readingAgain.IsCompleted, "the peer sent nothing more");
        peer.Send("pong"u8);
        read = await readingAgain.WaitAsync(Timeout);
        Assert.Equal("pong", System.Text.Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task CancellingTheParkedRead_LeavesTheParkedWriteToComplete(bool onLoop)
    {
        var (socket, peer) = await PairAsync(onLoop);
        var data = Pattern(LargeWrite);
        using var cancel = new CancellationTokenSource();

        var reading = socket.ReceiveAsync(new byte[64], cancel.Token).AsTask();
        var sending = socket.SendAsync(data).AsTask();
        await Task.Delay(100);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(Timeout));
        Assert.False(sending.IsCompleted, "cancelling the read does not touch the write");
        var received = await ReadAllAsync(peer, data.Length);
        await sending.WaitAsync(Timeout);
        Assert.True(data.AsSpan().SequenceEqual(received), "the bytes arrive as sent");
    }

    [Fact]
    public async Task Dispose_FailsBothParkedOperations()
    {
        var (socket, _) = await PairAsync(onLoop: true);
        var reading = socket.ReceiveAsync(new byte[64], CancellationToken.None).AsTask();
        var sending = socket.SendAsync(Pattern(LargeWrite)).AsTask();
        await Task.Delay(100);
        Assert.False(reading.IsCompleted || sending.IsCompleted, "both wait for the peer");

        socket.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => reading.WaitAsync(Timeout));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => sending.WaitAsync(Timeout));
    }

    private static byte[] Pattern(int length)
    {
        var data = new byte[length];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i * 31 >> 8);
        }

        return data;
    }

    private static Task<byte[]> ReadAllAsync(Socket peer, int length) => Task.Run(() =>
    {
        var received = new byte[length];
        var total = 0;
        while (total < length)
        {
            var read = peer.Receive(received, total, length - total, SocketFlags.None);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return received;
    }).WaitAsync(Timeout);
}
