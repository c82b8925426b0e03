using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SharpProxy.Core.Transport;

namespace SharpProxy.Core.Tests.Transport;

/// <summary>
/// LoopDeadline: connection timeouts kept by the worker's event loop (armed on its thread) or by the token source's
/// own timer (anywhere else), on real loopback sockets.
/// </summary>
public sealed class LoopDeadlineTests : LoopSocketTestBase
{
    [Fact]
    public async Task ArmedOnTheLoop_CancelsAParkedRead_NotBeforeItsTime_OnTheLoopsThread()
    {
        var (socket, peer) = await PairAsync();
        using var deadline = new LoopDeadline(Loop);

        var outcome = await OnLoopThenAsync(socket, peer, async () =>
        {
            deadline.CancelAfter(TimeSpan.FromMilliseconds(150));
            var armedOnLoop = deadline.Due != long.MaxValue;
            var started = Stopwatch.GetTimestamp();
            try
            {
                await socket.ReceiveAsync(new byte[8], deadline.Token).ConfigureAwait(false);
                return (armedOnLoop, Cancelled: false, OnLoop: false, Elapsed: TimeSpan.Zero);
            }
            catch (OperationCanceledException)
            {
                return (armedOnLoop, Cancelled: true, OnLoop: Loop.IsCurrentThread, Elapsed: Stopwatch.GetElapsedTime(started));
            }
        });

        Assert.True(outcome.armedOnLoop, "armed on the loop's thread: the loop keeps the deadline, not a runtime timer");
        Assert.True(outcome.Cancelled, "the parked read was cancelled by the deadline");
        Assert.True(outcome.OnLoop, "the cancellation resumed the read on the loop's thread");
        Assert.True(outcome.Elapsed >= TimeSpan.FromMilliseconds(140), $"fired after {outcome.Elapsed.TotalMilliseconds} ms, before its 150 ms");
        Assert.True(deadline.IsCancellationRequested);
        Assert.Equal(long.MaxValue, deadline.Due);
    }

    [Fact]
    public async Task Reset_Disarms_AndAfterAFiring_GivesAFreshToken()
    {
        var (socket, peer) = await PairAsync();
        using var deadline = new LoopDeadline(Loop);

        // Armed then reset: a read waiting well past the first deadline is not cancelled; bytes complete it.
        var pending = await OnLoopThenAsync(socket, peer, () =>
        {
            deadline.CancelAfter(TimeSpan.FromMilliseconds(50));
            deadline.Reset();
            return Task.FromResult(socket.ReceiveAsync(new byte[8], deadline.Token).AsTask());
        });
        await Task.Delay(300);
        Assert.False(pending.IsCompleted, "a reset deadline does not fire");
        peer.Send("y"u8);
        Assert.Equal(1, await pending.WaitAsync(Timeout));

        // Armed and let fire; Reset then hands out a token that is not cancelled.
        var fired = await OnLoopThenAsync(socket, peer, async () =>
        {
            deadline.CancelAfter(TimeSpan.FromMilliseconds(20));
            try
            {
                await socket.ReceiveAsync(new byte[8], deadline.Token).ConfigureAwait(false);
                return false;
            }
            catch (OperationCanceledException)
            {
                return true;
            }
        });
        Assert.True(fired);
        var cancelledToken = deadline.Token;
        deadline.Reset();
        Assert.True(cancelledToken.IsCancellationRequested);
        Assert.False(deadline.Token.IsCancellationRequested, "a fresh token after the firing");
        Assert.False(deadline.IsCancellationRequested);
    }

    [Fact]
    public async Task RearmedLater_DoesNotFireAtTheEarlierTime()
    {
        var (socket, peer) = await PairAsync();
        using var deadline = new LoopDeadline(Loop);

        var pending = await OnLoopThenAsync(socket, peer, () =>
        {
            deadline.CancelAfter(TimeSpan.FromMilliseconds(30));
            deadline.CancelAfter(TimeSpan.FromSeconds(30));
            return Task.FromResult(socket.ReceiveAsync(new byte[8], deadline.Token).AsTask());
        });
        await Task.Delay(300);

        Assert.False(pending.IsCompleted, "the later arming replaced the earlier one");
        peer.Send("z"u8);
        Assert.Equal(1, await pending.WaitAsync(Timeout));
    }

    [Fact]
    public async Task ArmedOffTheLoop_UsesTheTokenSourcesTimer()
    {
        using var deadline = new LoopDeadline(Loop);

        deadline.CancelAfter(TimeSpan.FromMilliseconds(20));

        Assert.Equal(long.MaxValue, deadline.Due);
        await Task.Delay(TimeSpan.FromMilliseconds(20));
        await WaitCancelledAsync(deadline.Token);
        deadline.Reset();
        Assert.False(deadline.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task WithoutALoop_BehavesAsATokenSource()
    {
        using var deadline = new LoopDeadline(loop: null);

        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        deadline.Reset();
        Assert.False(deadline.IsCancellationRequested);

        deadline.CancelAfter(TimeSpan.FromMilliseconds(10));
        await WaitCancelledAsync(deadline.Token);
        deadline.Reset();
        Assert.False(deadline.IsCancellationRequested);
    }

    [Fact]
    public void Dispose_LeavesTheLoopsList_WhicheverWasCreatedFirst()
    {
        var first = new LoopDeadline(Loop);
        var second = new LoopDeadline(Loop);
        var third = new LoopDeadline(Loop);
        Assert.Equal(3, Loop.TrackedDeadlines);

        first.Dispose();
        Assert.Equal(2, Loop.TrackedDeadlines);
        first.Dispose();
        Assert.Equal(2, Loop.TrackedDeadlines);
        third.Dispose();
        second.Dispose();
        Assert.Equal(0, Loop.TrackedDeadlines);
    }

    [Fact]
    public void Cancel_FromAnyThread_CancelsTheToken()
    {
        using var deadline = new LoopDeadline(Loop);
        var token = deadline.Token;

        deadline.Cancel();

        Assert.True(token.IsCancellationRequested);
    }

    private static async Task WaitCancelledAsync(CancellationToken token)
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var registration = token.Register(() => cancelled.TrySetResult());
        await cancelled.Task.WaitAsync(Timeout);
    }

    /// <summary>Gets onto the loop's thread (a parked read the peer completes), then runs <paramref name="onLoop"/> there.</summary>
    private static async Task<T> OnLoopThenAsync<T>(LoopSocket socket, Socket peer, Func<Task<T>> onLoop)
    {
        var running = RunAsync(socket, onLoop);
        await Task.Delay(20);
        peer.Send("x"u8);
        return await running.WaitAsync(Timeout);

        static async Task<T> RunAsync(LoopSocket socket, Func<Task<T>> onLoop)
        {
            await socket.ReceiveAsync(new byte[1], CancellationToken.None).ConfigureAwait(false);
            Assert.True(socket.Loop!.IsCurrentThread, "resumed on the loop's thread");
            return await onLoop().ConfigureAwait(false);
        }
    }
}
