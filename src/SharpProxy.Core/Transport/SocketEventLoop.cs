using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace SharpProxy.Core.Transport;

/// <summary>
/// One worker's event loop (Envoy's worker thread): an edge-triggered epoll set and the thread that waits on it and
/// runs, inline, whatever a ready socket's parked read or write resumes. The HTTP/1.1 fast path's connections of that
/// worker (downstream and upstream) live here, so a request is parsed, routed, forwarded and answered on this thread
/// with no thread-pool hop.
/// </summary>
/// <remarks>
/// Why not .NET's own socket engine: its async receive always tries recv(2) first and only then waits, so every read
/// that has to wait costs a failed recvfrom (EAGAIN) — about 1.4 per proxied request, measured with strace. Here a
/// socket remembers whether the last read drained it and waits for epoll without trying, as HAProxy and Envoy do.
/// </remarks>
internal sealed unsafe partial class SocketEventLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const ulong WakeToken = 0;

    private readonly int _epoll;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private readonly Lock _slotsLock = new();
    private readonly Stack<int> _freeSlots = new();
    private readonly ILogger? _logger;
    private readonly List<IDeferredFlush> _deferred = [];
    private readonly Lock _deadlinesLock = new();
    private readonly List<LoopDeadline> _due = [];
    private LoopDeadline[] _deadlines = new LoopDeadline[64];
    private int _deadlineCount;
    private long _nextDeadlineCheck = long.MaxValue;
    private LoopSocket?[] _slots = new LoopSocket?[64];
    private int _usedSlots;
    private uint _generation;
    private volatile bool _stopping;

    public SocketEventLoop(int index, ILogger? logger = null)
    {
        _logger = logger;
        _epoll = Epoll.Create();
        try
        {
            _wakeFd = Epoll.CreateWakeFd();
        }
        catch
        {
            Epoll.Close(_epoll);
            throw;
        }

        var error = Epoll.Add(_epoll, _wakeFd, Epoll.In | Epoll.EdgeTriggered, WakeToken);
        if (error != 0)
        {
            Epoll.Close(_wakeFd);
            Epoll.Close(_epoll);
            throw new InvalidOperationException("epoll_ctl(eventfd) failed: errno " + error);
        }

        Index = index;
        _thread = new Thread(Run) { IsBackground = true, Name = "sharpproxy-worker-" + index };
        _thread.UnsafeStart();
    }

    public int Index { get; }

    /// <summary>Sockets registered now (tests and /stats).</summary>
    public int Registered
    {
        get
        {
            lock (_slotsLock)
            {
                return _usedSlots - _freeSlots.Count;
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="flush"/> once the loop has handled every event of the current epoll batch, so what several
    /// events wrote to one connection leaves in one send. Only on the loop's thread.
    /// </summary>
    internal void DeferFlush(IDeferredFlush flush) => _deferred.Add(flush);

    /// <summary>
    /// The time (<see cref="System.Diagnostics.Stopwatch"/> ticks) when the current epoll batch began: what deadlines
    /// armed on this thread count from (one clock read per batch, not per arming).
    /// </summary>
    internal long Now { get; private set; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Deadlines tracked now (/stats http1_fast_path.event_loop_timers, and tests).</summary>
    internal int TrackedDeadlines
    {
        get
        {
            lock (_deadlinesLock)
            {
                return _deadlineCount;
            }
        }
    }

    /// <summary>Makes sure the loop looks at its deadlines by <paramref name="due"/>. Only on the loop's thread.</summary>
    internal void CheckDeadlineBy(long due)
    {
        if (due < _nextDeadlineCheck)
        {
            _nextDeadlineCheck = due;
        }
    }

    internal void Track(LoopDeadline deadline)
    {
        lock (_deadlinesLock)
        {
            if (_deadlineCount == _deadlines.Length)
            {
                Array.Resize(ref _deadlines, _deadlines.Length * 2);
            }

            deadline.Index = _deadlineCount;
            _deadlines[_deadlineCount++] = deadline;
        }
    }

    internal void Untrack(LoopDeadline deadline)
    {
        lock (_deadlinesLock)
        {
            var index = deadline.Index;
            if ((uint)index >= (uint)_deadlineCount || !ReferenceEquals(_deadlines[index], deadline))
            {
                return;
            }

            // Swap-remove: the last one takes this place.
            var last = _deadlines[--_deadlineCount];
            _deadlines[index] = last;
            last.Index = index;
            _deadlines[_deadlineCount] = null!;
            deadline.Index = -1;
        }
    }

    /// <summary>Fires the deadlines that are due and sets when to look next (the earliest one left).</summary>
    private void FireDueDeadlines()
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        var next = long.MaxValue;
        lock (_deadlinesLock)
        {
            for (var i = 0; i < _deadlineCount; i++)
            {
                var deadline = _deadlines[i];
                var due = deadline.Due;
                if (due <= now)
                {
                    deadline.Due = long.MaxValue;
                    _due.Add(deadline);
                }
                else if (due < next)
                {
                    next = due;
                }
            }
        }

        _nextDeadlineCheck = next;

        // Outside the lock: a cancellation resumes its connection here, which may re-arm or dispose deadlines.
        for (var i = 0; i < _due.Count; i++)
        {
            try
            {
                _due[i].Fire();
            }
            catch (Exception ex)
            {
                Log.HandlerFailed(_logger, Index, ex);
            }
        }

        _due.Clear();
    }

    /// <summary>epoll_wait's timeout: until the next deadline check, in whole milliseconds rounded up; -1 = none.</summary>
    private int WaitTimeoutMilliseconds()
    {
        var next = _nextDeadlineCheck;
        if (next == long.MaxValue)
        {
            return -1;
        }

        var ticks = next - System.Diagnostics.Stopwatch.GetTimestamp();
        if (ticks <= 0)
        {
            return 0;
        }

        var milliseconds = ((ticks * 1000) + System.Diagnostics.Stopwatch.Frequency - 1) / System.Diagnostics.Stopwatch.Frequency;
        return milliseconds >= int.MaxValue ? int.MaxValue : (int)milliseconds;
    }

    /// <summary>True on this loop's own thread.</summary>
    public bool IsCurrentThread => Thread.CurrentThread == _thread;

    /// <summary>Adds the socket to the epoll set; its token (slot and generation) comes back in its events.</summary>
    internal void Register(LoopSocket socket)
    {
        int slot;
        uint generation;
        lock (_slotsLock)
        {
            if (!_freeSlots.TryPop(out slot))
            {
                slot = _usedSlots++;
                if (slot == _slots.Length)
                {
                    var larger = new LoopSocket?[_slots.Length * 2];
                    Array.Copy(_slots, larger, _slots.Length);
                    _slots = larger;
                }
            }

            generation = ++_generation;
            if (generation == 0)
            {
                generation = ++_generation;
            }

            _slots[slot] = socket;
        }

        socket.Slot = slot;
        socket.Generation = generation;

        // Slot + 1: token 0 is the wake-up eventfd.
        var token = ((ulong)generation << 32) | (uint)(slot + 1);
        var error = Epoll.Add(_epoll, socket.Fd, Epoll.In | Epoll.Out | Epoll.RdHup | Epoll.EdgeTriggered, token);
        if (error != 0)
        {
            Unregister(socket, removeFromEpoll: false);
            throw new System.Net.Sockets.SocketException(error);
        }
    }

    /// <summary>
    /// Takes the socket out of the set (before its descriptor is closed or handed to .NET's own engine). An event
    /// already returned for it is ignored by the generation check.
    /// </summary>
    internal void Unregister(LoopSocket socket, bool removeFromEpoll)
    {
        if (removeFromEpoll)
        {
            Epoll.Remove(_epoll, socket.Fd);
        }

        lock (_slotsLock)
        {
            var slot = socket.Slot;
            if (slot >= 0 && slot < _slots.Length && ReferenceEquals(_slots[slot], socket))
            {
                _slots[slot] = null;
                _freeSlots.Push(slot);
            }
        }

        socket.Slot = -1;
    }

    private void Run()
    {
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * Epoll.EventSize));
        try
        {
            while (!_stopping)
            {
                var count = Epoll.Wait(_epoll, events, MaxEvents, WaitTimeoutMilliseconds(), out var errno);
                Now = System.Diagnostics.Stopwatch.GetTimestamp();
                if (count < 0)
                {
                    if (errno == Epoll.EINTR)
                    {
                        continue;
                    }

                    Log.WaitFailed(_logger, Index, errno);
                    return;
                }

                for (var i = 0; i < count; i++)
                {
                    var entry = events + (i * Epoll.EventSize);
                    var flags = *(uint*)entry;
                    var token = *(ulong*)(entry + Epoll.DataOffset);
                    if (token == WakeToken)
                    {
                        Epoll.Drain(_wakeFd);
                        continue;
                    }

                    var slot = (int)(uint)token - 1;
                    var generation = (uint)(token >> 32);
                    var slots = Volatile.Read(ref _slots);
                    if ((uint)slot < (uint)slots.Length && slots[slot] is { } socket && socket.Generation == generation)
                    {
                        try
                        {
                            socket.OnEvents(flags);
                        }
                        catch (Exception ex)
                        {
                            // A continuation's failure belongs to its connection's task; nothing may stop the loop.
                            Log.HandlerFailed(_logger, Index, ex);
                        }
                    }
                }

                // A flush may defer another one (more was written meanwhile): the list is read by index as it grows.
                for (var i = 0; i < _deferred.Count; i++)
                {
                    try
                    {
                        _deferred[i].FlushDeferred();
                    }
                    catch (Exception ex)
                    {
                        Log.HandlerFailed(_logger, Index, ex);
                    }
                }

                _deferred.Clear();
                if (Now >= _nextDeadlineCheck)
                {
                    FireDueDeadlines();
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
        }
    }

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        Epoll.Signal(_wakeFd);
        if (!IsCurrentThread)
        {
            _thread.Join(TimeSpan.FromSeconds(2));
        }

        Epoll.Close(_wakeFd);
        Epoll.Close(_epoll);
    }

    private static partial class Log
    {
        public static void WaitFailed(ILogger? logger, int index, int errno)
        {
            if (logger is not null)
            {
                WaitFailedMessage(logger, index, errno);
            }
        }

        public static void HandlerFailed(ILogger? logger, int index, Exception ex)
        {
            if (logger is not null)
            {
                HandlerFailedMessage(logger, index, ex);
            }
        }

        [LoggerMessage(EventId = 1, Level = LogLevel.Critical, Message = "worker {Index}: epoll_wait failed (errno {Errno}); its event loop stopped")]
        private static partial void WaitFailedMessage(ILogger logger, int index, int errno);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "worker {Index}: a socket event handler failed")]
        private static partial void HandlerFailedMessage(ILogger logger, int index, Exception ex);
    }
}

/// <summary>Something that writes at the end of an event batch (<see cref="SocketEventLoop.DeferFlush"/>).</summary>
internal interface IDeferredFlush
{
    void FlushDeferred();
}

/// <summary>One event loop per worker (--concurrency), made when the HTTP/1.1 fast path runs on Linux.</summary>
internal sealed class SocketEventLoops : IDisposable
{
    private readonly SocketEventLoop[] _loops;

    public SocketEventLoops(int workers, ILogger? logger = null)
    {
        _loops = new SocketEventLoop[Math.Max(1, workers)];
        for (var i = 0; i < _loops.Length; i++)
        {
            _loops[i] = new SocketEventLoop(i, logger);
        }
    }

    /// <summary>On with Linux, off with SHARPPROXY_EVENT_LOOP=0 (the fast path then uses .NET's socket engine).</summary>
    public static bool EnabledByEnvironment =>
        Epoll.IsSupported
        && !string.Equals(Environment.GetEnvironmentVariable("SHARPPROXY_EVENT_LOOP"), "0", StringComparison.Ordinal);

    public int Count => _loops.Length;

    public SocketEventLoop For(int worker) => _loops[(uint)worker % (uint)_loops.Length];

    /// <summary>Sockets in all loops' epoll sets now (downstream connections and pooled upstream ones).</summary>
    public int Registered
    {
        get
        {
            var total = 0;
            foreach (var loop in _loops)
            {
                total += loop.Registered;
            }

            return total;
        }
    }

    /// <summary>Connection timeouts the loops track now (one per fast-path connection object): /stats, leak checks.</summary>
    public int Deadlines
    {
        get
        {
            var total = 0;
            foreach (var loop in _loops)
            {
                total += loop.TrackedDeadlines;
            }

            return total;
        }
    }

    public void Dispose()
    {
        foreach (var loop in _loops)
        {
            loop.Dispose();
        }
    }
}
