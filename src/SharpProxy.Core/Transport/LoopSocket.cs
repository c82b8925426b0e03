using System.Net;
using System.Net.Sockets;

namespace SharpProxy.Core.Transport;

/// <summary>
/// A non-blocking socket driven by a worker's <see cref="SocketEventLoop"/>: reads and writes are tried at once only
/// when the socket is known to be ready, and otherwise parked until epoll says it is; the continuation then runs on the
/// loop's thread. Without a loop (SHARPPROXY_EVENT_LOOP=0, or not Linux) it is a thin wrapper over .NET's own async
/// socket calls, so the HTTP/1.1 fast path is written once for both.
/// </summary>
/// <remarks>
/// One read and one write may be outstanding at a time (the fast path never issues more). Each direction has its own
/// lock, held across the syscall, so an epoll event and a caller on another thread (a timer's cancellation, a hand-off
/// pump) cannot both act on the same parked operation. Readiness is tracked per direction: a read that returned fewer
/// bytes than asked leaves the socket "drained", and the next read waits for epoll's edge instead of calling recv(2) to
/// learn EAGAIN; with edge-triggered epoll any byte arriving after that read raises a new event.
/// </remarks>
internal sealed class LoopSocket : IByteTransport
{
    private const int Open = 0;
    private const int Closed = 1;
    private const int Detached = 2;

    private static readonly Action<object?, CancellationToken> s_cancelRead = static (state, token) => ((LoopSocket)state!).CancelRead(token);
    private static readonly Action<object?, CancellationToken> s_cancelWrite = static (state, token) => ((LoopSocket)state!).CancelWrite(token);

    private readonly SocketEventLoop? _loop;
    private readonly Lock _readLock = new();
    private readonly Lock _writeLock = new();
    private readonly ReusableValueTaskSource _read = new();
    private readonly ReusableValueTaskSource _write = new();
    private int _state;

    private bool _readReady;
    private bool _readHangup;
    private bool _readParked;
    private bool _peekedShort;
    private Memory<byte> _readBuffer;
    private SocketFlags _readFlags;
    private CancellationToken _readToken;
    private CancellationTokenRegistration _readRegistration;

    private bool _writeReady;
    private bool _writeParked;
    private bool _writeProbe;
    private ReadOnlyMemory<byte> _writeData;
    private CancellationToken _writeToken;
    private CancellationTokenRegistration _writeRegistration;

    /// <summary>Wraps an accepted or connected socket; with a loop, it is made non-blocking and joins the loop's epoll set.</summary>
    public LoopSocket(Socket socket, SocketEventLoop? loop)
        : this(socket, loop, connecting: false)
    {
    }

    private LoopSocket(Socket socket, SocketEventLoop? loop, bool connecting)
    {
        Socket = socket;
        _loop = loop;
        if (loop is null)
        {
            return;
        }

        socket.Blocking = false;
        Fd = (int)socket.SafeHandle.DangerousGetHandle();

        // Unknown until tried, except for a connect in progress: nothing can be read or written before it completes.
        _readReady = !connecting;
        _writeReady = !connecting;
        loop.Register(this);
    }

    public Socket Socket { get; }

    public EndPoint? LocalEndPoint => Socket.LocalEndPoint;

    public EndPoint? RemoteEndPoint => Socket.RemoteEndPoint;

    public string Protocol => "HTTP/1.1";

    public bool IsTls => false;

    public IByteTransport ForKestrel() => _loop is null ? this : new LoopSocket(Detach(), null);

    /// <summary>The loop whose thread runs this socket's continuations; null on .NET's engine.</summary>
    public SocketEventLoop? Loop => _loop;

    internal int Fd { get; }

    internal int Slot { get; set; } = -1;

    internal uint Generation { get; set; }

    /// <summary>
    /// Connects a new socket (already bound if the cluster asks) to <paramref name="target"/> without blocking the
    /// loop: connect(2) returns EINPROGRESS and the loop reports when it is writable.
    /// </summary>
    public static async ValueTask<LoopSocket> ConnectAsync(Socket socket, EndPoint target, SocketEventLoop? loop, CancellationToken cancellationToken)
    {
        LoopSocket connected;
        var inProgress = false;
        try
        {
            if (loop is null)
            {
                await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
                return new LoopSocket(socket, null);
            }

            socket.Blocking = false;
            try
            {
                socket.Connect(target);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                inProgress = true;
            }

            connected = new LoopSocket(socket, loop, connecting: inProgress);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        if (inProgress)
        {
            try
            {
                await connected.WaitWritableAsync(cancellationToken).ConfigureAwait(false);
                var error = socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) is int code ? code : 0;
                if (error != 0)
                {
                    throw new SocketException(error);
                }
            }
            catch
            {
                connected.Dispose();
                throw;
            }
        }

        connected.MarkReady();
        return connected;
    }

    private void MarkReady()
    {
        lock (_readLock)
        {
            _readReady = true;
        }

        lock (_writeLock)
        {
            _writeReady = true;
        }
    }

    /// <summary>
    /// Starts a new series of peeks: bytes an earlier peek saw (and left) are there to be seen again without waiting
    /// for new ones. A peek loop that needs more than it saw keeps waiting for new bytes within its own series.
    /// </summary>
    public void BeginPeeks()
    {
        if (_loop is null)
        {
            return;
        }

        lock (_readLock)
        {
            if (_peekedShort)
            {
                _readReady = true;
            }
        }
    }

    /// <summary>Reads what is there (at least one byte, or 0 at end of stream) into <paramref name="buffer"/>.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    /// <summary>
    /// As <see cref="ReceiveAsync(Memory{byte}, CancellationToken)"/>; with <see cref="SocketFlags.Peek"/> the bytes stay
    /// in the socket, and a peek that saw fewer bytes than asked makes the next peek wait for new ones.
    /// </summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, SocketFlags flags, CancellationToken cancellationToken)
    {
        if (_loop is null)
        {
            return Socket.ReceiveAsync(buffer, flags, cancellationToken);
        }

        var peek = (flags & SocketFlags.Peek) != 0;
        short version;
        lock (_readLock)
        {
            if (_state != Open)
            {
                return ValueTask.FromException<int>(new ObjectDisposedException(nameof(LoopSocket)));
            }

            if (!peek && _peekedShort)
            {
                // The bytes a short peek saw are still there: a real read takes them without waiting.
                _peekedShort = false;
                _readReady = true;
            }

            if (_readReady)
            {
                var error = TryReceive(buffer.Span, flags, out var read);
                if (error == SocketError.Success)
                {
                    if (read > 0 && read < buffer.Length && !_readHangup)
                    {
                        _readReady = false;
                        _peekedShort = peek;
                    }

                    return new ValueTask<int>(read);
                }

                if (error != SocketError.WouldBlock)
                {
                    return ValueTask.FromException<int>(Failure(error));
                }

                _readReady = false;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<int>(cancellationToken);
            }

            _read.Reset();
            version = _read.Version;
            _readBuffer = buffer;
            _readFlags = flags;
            _readToken = cancellationToken;
            _readParked = true;

            // Registered under the lock: a cancellation racing in runs CancelRead on this thread (the lock is re-entrant),
            // which finds the operation parked and completes it before anyone awaits it.
            if (cancellationToken.CanBeCanceled)
            {
                _readRegistration = cancellationToken.UnsafeRegister(s_cancelRead, this);
            }
        }

        return new ValueTask<int>(_read, version);
    }

    /// <summary>Writes all of <paramref name="data"/>.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (_loop is null)
        {
            var sending = Socket.SendAsync(data, SocketFlags.None, cancellationToken);
            return sending.IsCompletedSuccessfully ? default : AwaitSend(sending);
        }

        return Send(data, probe: false, cancellationToken);
    }

    private static async ValueTask AwaitSend(ValueTask<int> sending) => await sending.ConfigureAwait(false);

    private ValueTask WaitWritableAsync(CancellationToken cancellationToken) => Send(default, probe: true, cancellationToken);

    private ValueTask Send(ReadOnlyMemory<byte> data, bool probe, CancellationToken cancellationToken)
    {
        short version;
        lock (_writeLock)
        {
            if (_state != Open)
            {
                return ValueTask.FromException(new ObjectDisposedException(nameof(LoopSocket)));
            }

            if (_writeReady && probe)
            {
                // The connect completed (its EPOLLOUT came) before this wait began.
                return default;
            }

            if (_writeReady)
            {
                while (data.Length > 0)
                {
                    var error = TrySend(data.Span, out var sent);
                    if (error == SocketError.Success)
                    {
                        data = data[sent..];
                        continue;
                    }

                    if (error != SocketError.WouldBlock)
                    {
                        return ValueTask.FromException(Failure(error));
                    }

                    _writeReady = false;
                    break;
                }

                if (data.Length == 0)
                {
                    return default;
                }
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled(cancellationToken);
            }

            _write.Reset();
            version = _write.Version;
            _writeData = data;
            _writeProbe = probe;
            _writeToken = cancellationToken;
            _writeParked = true;
            if (cancellationToken.CanBeCanceled)
            {
                _writeRegistration = cancellationToken.UnsafeRegister(s_cancelWrite, this);
            }
        }

        return new ValueTask(_write, version);
    }

    /// <summary>Called on the loop's thread with the epoll flags of this socket.</summary>
    internal void OnEvents(uint events)
    {
        if ((events & (Epoll.In | Epoll.RdHup | Epoll.Hup | Epoll.Err)) != 0)
        {
            OnReadable((events & (Epoll.RdHup | Epoll.Hup | Epoll.Err)) != 0);
        }

        if ((events & (Epoll.Out | Epoll.Hup | Epoll.Err)) != 0)
        {
            OnWritable();
        }
    }

    private void OnReadable(bool hangup)
    {
        int read;
        SocketError error;
        CancellationTokenRegistration registration;
        lock (_readLock)
        {
            _readReady = true;

            // The end of the stream (or an error) stays readable, and an edge-triggered set reports it once: a short
            // read after it must not mark the socket drained, or the next read would wait for an edge that never comes.
            _readHangup |= hangup;
            if (!_readParked || _state != Open)
            {
                return;
            }

            error = TryReceive(_readBuffer.Span, _readFlags, out read);
            if (error == SocketError.WouldBlock)
            {
                _readReady = false;
                return;
            }

            if (error == SocketError.Success && read > 0 && read < _readBuffer.Length && !_readHangup)
            {
                _readReady = false;
                _peekedShort = (_readFlags & SocketFlags.Peek) != 0;
            }

            registration = UnparkRead();
        }

        registration.Unregister();
        if (error == SocketError.Success)
        {
            _read.SetResult(read);
        }
        else
        {
            _read.SetException(Failure(error));
        }
    }

    private void OnWritable()
    {
        SocketError error = SocketError.Success;
        CancellationTokenRegistration registration;
        lock (_writeLock)
        {
            _writeReady = true;
            if (!_writeParked || _state != Open)
            {
                return;
            }

            while (_writeData.Length > 0)
            {
                error = TrySend(_writeData.Span, out var sent);
                if (error == SocketError.Success)
                {
                    _writeData = _writeData[sent..];
                    continue;
                }

                if (error == SocketError.WouldBlock)
                {
                    _writeReady = false;
                    return;
                }

                break;
            }

            registration = UnparkWrite();
        }

        registration.Unregister();
        if (error == SocketError.Success)
        {
            _write.SetResult(0);
        }
        else
        {
            _write.SetException(Failure(error));
        }
    }

    private CancellationTokenRegistration UnparkRead()
    {
        _readParked = false;
        _readBuffer = default;
        _readToken = default;
        var registration = _readRegistration;
        _readRegistration = default;
        return registration;
    }

    private CancellationTokenRegistration UnparkWrite()
    {
        _writeParked = false;
        _writeProbe = false;
        _writeData = default;
        _writeToken = default;
        var registration = _writeRegistration;
        _writeRegistration = default;
        return registration;
    }

    private void CancelRead(CancellationToken token)
    {
        lock (_readLock)
        {
            // A registration that outlived its operation (it ran while the operation completed) finds another token.
            if (!_readParked || _readToken != token)
            {
                return;
            }

            UnparkRead();
        }

        _read.SetException(new OperationCanceledException(token));
    }

    private void CancelWrite(CancellationToken token)
    {
        lock (_writeLock)
        {
            if (!_writeParked || _writeToken != token)
            {
                return;
            }

            UnparkWrite();
        }

        _write.SetException(new OperationCanceledException(token));
    }

    // On the descriptor itself, under the direction's lock with the socket open: Dispose and Detach change the state,
    // then take both locks before the descriptor is closed or handed on, so no call here can reach a reused number.
    // (Socket.Receive/Send would add a safe-handle reference, blocking-mode checks and error translation per call.)
    private SocketError TryReceive(Span<byte> buffer, SocketFlags flags, out int read)
    {
        read = Epoll.Receive(Fd, buffer, (flags & SocketFlags.Peek) != 0 ? Epoll.MsgPeek : 0, out var errno);
        if (read >= 0)
        {
            return SocketError.Success;
        }

        read = 0;
        return Epoll.ToSocketError(errno);
    }

    private SocketError TrySend(ReadOnlySpan<byte> data, out int sent)
    {
        sent = Epoll.Send(Fd, data, out var errno);
        if (sent >= 0)
        {
            return SocketError.Success;
        }

        sent = 0;
        return Epoll.ToSocketError(errno);
    }

    /// <summary>Waits out a receive or send running on another thread; after the state left Open no new one starts.</summary>
    private void FenceSyscalls()
    {
        lock (_readLock)
        {
        }

        lock (_writeLock)
        {
        }
    }

    private static Exception Failure(SocketError error) =>
        error == SocketError.OperationAborted ? new ObjectDisposedException(nameof(LoopSocket)) : new SocketException((int)error);

    /// <summary>shutdown(2) of both directions, ignoring a socket that is already gone.</summary>
    public void Shutdown()
    {
        try
        {
            Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed or reset.
        }
    }

    /// <summary>
    /// Leaves the loop and returns the socket, blocking mode restored, for Kestrel or a relay that uses .NET's engine.
    /// Only between operations: nothing may be parked.
    /// </summary>
    public Socket Detach()
    {
        if (Interlocked.CompareExchange(ref _state, Detached, Open) == Open && _loop is not null)
        {
            FenceSyscalls();
            _loop.Unregister(this, removeFromEpoll: true);
            FailParked(new InvalidOperationException("the socket left its event loop with an operation pending"));
            Socket.Blocking = true;
        }

        return Socket;
    }

    /// <summary>Closes the socket; a parked read or write fails with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        var previous = Interlocked.Exchange(ref _state, Closed);
        if (previous == Closed)
        {
            return;
        }

        if (previous == Open && _loop is not null)
        {
            // Out of the epoll set before the descriptor number can be reused by another socket.
            FenceSyscalls();
            _loop.Unregister(this, removeFromEpoll: true);
            FailParked(new ObjectDisposedException(nameof(LoopSocket)));
        }

        // Detached: the socket went to Kestrel, but closing it still ends the connection (listener drain, failed hand-off).
        Socket.Dispose();
    }

    private void FailParked(Exception error)
    {
        bool readWasParked;
        CancellationTokenRegistration registration = default;
        lock (_readLock)
        {
            readWasParked = _readParked;
            if (readWasParked)
            {
                registration = UnparkRead();
            }
        }

        if (readWasParked)
        {
            registration.Unregister();
            _read.SetException(error);
        }

        bool writeWasParked;
        lock (_writeLock)
        {
            writeWasParked = _writeParked;
            if (writeWasParked)
            {
                registration = UnparkWrite();
            }
        }

        if (writeWasParked)
        {
            registration.Unregister();
            _write.SetException(error);
        }
    }
}
