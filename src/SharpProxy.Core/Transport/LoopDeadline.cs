using System.Diagnostics;

namespace SharpProxy.Core.Transport;

/// <summary>
/// A connection's timeout (idle, route, per-try) as a cancellation token, armed and disarmed per request. On its
/// worker's event loop thread, arming is a field write that the loop checks when the earliest deadline is due, as
/// Envoy's dispatcher timers are; elsewhere (no loop, or another thread) it is the token source's own timer.
/// </summary>
/// <remarks>
/// Why: a <see cref="CancellationTokenSource"/> timer re-armed and reset per request goes through the runtime's shared
/// timer queue (a lock and a clock read each time, twice or three times per request). A fired deadline cancels the
/// token, so waits observe it exactly as they would the token source's timer: the cancellation callbacks run on the
/// loop thread.
/// </remarks>
internal sealed class LoopDeadline : IDisposable
{
    private readonly SocketEventLoop? _loop;
    private CancellationTokenSource _source = new();
    private bool _sourceTimerArmed;
    private bool _disposed;

    public LoopDeadline(SocketEventLoop? loop)
    {
        _loop = loop;
        loop?.Track(this);
    }

    /// <summary>When the loop cancels, in <see cref="Stopwatch"/> ticks; <see cref="long.MaxValue"/> = not armed. Loop thread only.</summary>
    internal long Due { get; set; } = long.MaxValue;

    /// <summary>This deadline's place in its loop's list (the loop's bookkeeping).</summary>
    internal int Index { get; set; } = -1;

    public CancellationToken Token => _source.Token;

    public bool IsCancellationRequested => _source.IsCancellationRequested;

    /// <summary>Cancels the token after <paramref name="delay"/> unless re-armed or reset first (as <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/>).</summary>
    public void CancelAfter(TimeSpan delay)
    {
        if (_loop is not null && _loop.IsCurrentThread && !_sourceTimerArmed)
        {
            var due = delay == Timeout.InfiniteTimeSpan ? long.MaxValue : _loop.Now + (long)(delay.TotalSeconds * Stopwatch.Frequency);
            Due = due;
            _loop.CheckDeadlineBy(due);
            return;
        }

        Due = long.MaxValue;
        _sourceTimerArmed = true;
        _source.CancelAfter(delay);
    }

    /// <summary>Disarms; after a cancellation, a fresh token for what follows.</summary>
    public void Reset()
    {
        Due = long.MaxValue;
        if (_sourceTimerArmed)
        {
            _sourceTimerArmed = false;
            if (_source.TryReset())
            {
                return;
            }
        }
        else if (!_source.IsCancellationRequested)
        {
            return;
        }

        _source.Dispose();
        _source = new CancellationTokenSource();
    }

    /// <summary>Cancels now (drain), from any thread.</summary>
    public void Cancel() => _source.Cancel();

    /// <summary>The loop found this deadline due.</summary>
    internal void Fire()
    {
        try
        {
            _source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed with its connection while the loop collected it: nothing waits any more.
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _loop?.Untrack(this);
        _source.Dispose();
    }
}
